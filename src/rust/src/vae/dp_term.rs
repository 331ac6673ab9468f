//! The distance-preserving term of one batch, by pair set and device: explicit pairs (a kNN mask or a
//! user's pairs, visited in chunks), all pairs through the fused CPU kernel (value and exact gradient
//! without pdist's n(n-1)/2 tensors), or pdist over all pairs / pairs within groups.
use tch::{Device, Kind, Tensor};

use super::config::{Config, DpLatent};
use super::dpkernel;
use super::fit_rows::FitRows;
use super::loss::distance_preserving as penalty;
use super::model::Dpvae;
use super::pairs::{batch_distances, pair_tensors, PairSet};
use crate::error::Result;

/// What the dp term of every batch of a fit shares.
pub struct DpContext<'a> {
    pub cfg: &'a Config,
    /// The pair mask on the training cells.
    pub pairs: &'a PairSet,
    /// Expression and standardised coordinates of the training cells.
    pub fit: &'a FitRows<'a>,
    pub s_fit: &'a Tensor,
    /// `s_fit` row-major for the fused kernel (empty when the kernel is not used).
    pub s_fit_vec: &'a [f32],
    pub sdim: usize,
    pub use_kernel: bool,
    pub kernel_threads: usize,
    /// One batch of all training cells.
    pub full: bool,
    /// Full-batch spatial distances, computed once (pdist path).
    pub full_ds: Option<&'a Tensor>,
    pub device: Device,
}

/// One batch's dp term.
pub struct DpTerm {
    /// Enters the loss times lambda (on the kernel path a surrogate with the exact gradient).
    pub term: Tensor,
    /// The term's value when `term` is a surrogate.
    pub value: Option<f64>,
    /// Sums of the all-pairs kernel (Σ(d − c s)², Σ s²) at the state before the step.
    pub kernel_sums: Option<(f64, f64)>,
}

/// One batch: its rows (indices into the training cells), their coordinates and encodings.
pub struct Batch<'a> {
    pub rows: &'a [i64],
    pub s: &'a Tensor,
    pub mu: &'a Tensor,
    pub z: &'a Tensor,
    /// Explicit pairs assigned to this batch (empty for other masks).
    pub edges: Option<&'a (Vec<i64>, Vec<i64>)>,
}

impl DpContext<'_> {
    /// The term for `batch` at scale `c`, or None when the batch has no pair that counts.
    pub fn term(&self, model: &Dpvae, batch: &Batch, c: &Tensor) -> Result<Option<DpTerm>> {
        let plain = |t: Tensor| DpTerm {
            term: t,
            value: None,
            kernel_sums: None,
        };
        Ok(match self.pairs {
            PairSet::Explicit { .. } => batch
                .edges
                .filter(|e| !e.0.is_empty())
                .map(|(ei, ej)| plain(self.edge_term(model, ei, ej, c))),
            PairSet::All if self.use_kernel => Some(self.kernel_term(batch, c)?),
            p => self.pairwise_term(batch, p, c).map(plain),
        })
    }

    /// The latent the dp term compares: the encoder mean, or a sample (`dp_latent`).
    fn latent<'t>(&self, batch: &'t Batch) -> &'t Tensor {
        match self.cfg.dp_latent {
            DpLatent::Mean => batch.mu,
            DpLatent::Sample => batch.z,
        }
    }

    /// Explicit pairs (i, j): both ends encoded, whichever batch they fall in.
    fn edge_term(&self, model: &Dpvae, ei: &[i64], ej: &[i64], c: &Tensor) -> Tensor {
        let (ti, tj) = pair_tensors(ei, ej, self.device);
        let (mi, vi) = model.encode(&self.fit.x_rows(&ti));
        let (mj, vj) = model.encode(&self.fit.x_rows(&tj));
        let (mi, mj) = match self.cfg.dp_latent {
            DpLatent::Mean => (mi, mj),
            DpLatent::Sample => (
                &mi + Tensor::randn_like(&mi) * (vi * 0.5).exp(),
                &mj + Tensor::randn_like(&mj) * (vj * 0.5).exp(),
            ),
        };
        let dz = (mi - mj)
            .square()
            .sum_dim_intlist(-1, false, Kind::Float)
            .clamp_min(1e-12)
            .sqrt();
        let ds = (self.s_fit.index_select(0, &ti) - self.s_fit.index_select(0, &tj))
            .norm_scalaropt_dim(2.0, [-1], false);
        penalty(&dz, &ds, c, self.cfg.dp_loss)
    }

    /// All pairs through the fused CPU kernel; enters the graph through the surrogate
    /// <z, dL/dz> + c * dL/dc, whose gradient is the exact one.
    fn kernel_term(&self, batch: &Batch, c: &Tensor) -> Result<DpTerm> {
        let zl = self.latent(batch);
        let nb = batch.rows.len();
        let zv: Vec<f32> = Vec::try_from(zl.detach().contiguous().flatten(0, -1))?;
        let sdim = self.sdim;
        // full batch: the training coordinates as they are, no per-epoch copy
        let batch_s: Vec<f32>;
        let sv: &[f32] = if self.full {
            self.s_fit_vec
        } else {
            batch_s = batch
                .rows
                .iter()
                .flat_map(|&r| self.s_fit_vec[r as usize * sdim..(r as usize + 1) * sdim].to_vec())
                .collect();
            &batch_s
        };
        let ps = dpkernel::all_pairs(
            &zv,
            sv,
            self.cfg.latent_dim,
            sdim,
            c.double_value(&[]),
            self.cfg.dp_loss,
            true,
            self.kernel_threads,
        );
        let np = (nb * (nb - 1) / 2).max(1) as f64;
        let gz = Tensor::from_slice(&ps.grad_z).view([nb as i64, self.cfg.latent_dim as i64]) / np;
        Ok(DpTerm {
            term: (zl * gz).sum(Kind::Float) + c * (ps.grad_c / np),
            value: Some(ps.sum_f / np),
            kernel_sums: Some((ps.sum_f, ps.sum_s2)),
        })
    }

    /// pdist of latents against pdist of coordinates, over all pairs or within groups.
    fn pairwise_term(&self, batch: &Batch, pairs: &PairSet, c: &Tensor) -> Option<Tensor> {
        let ds = match self.full_ds {
            Some(ds) => Some(ds.shallow_clone()),
            None => batch_distances(batch.s, batch.rows, pairs),
        };
        match (batch_distances(self.latent(batch), batch.rows, pairs), ds) {
            (Some(dz), Some(ds)) => Some(penalty(&dz, &ds, c, self.cfg.dp_loss)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vae::config::DpLoss;
    use tch::nn;

    /// The kernel path, the pdist path and explicit all-pairs edges give the same value and gradient.
    #[test]
    fn the_three_paths_agree_on_all_pairs() {
        tch::manual_seed(3);
        let n = 12i64;
        let cfg = Config {
            n_genes: 5,
            hidden: 6,
            latent_dim: 2,
            dp_loss: DpLoss::Squared,
            ..Config::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Dpvae::new(&vs.root(), &cfg);
        let x = Tensor::randn([n, 5], (Kind::Float, Device::Cpu));
        let target = super::super::likelihood::Target {
            x: x.shallow_clone(),
            counts: None,
            log_lib: None,
        };
        let fit = FitRows::every(&target);
        let s = Tensor::randn([n, 2], (Kind::Float, Device::Cpu));
        let s_vec: Vec<f32> = Vec::try_from(s.contiguous().flatten(0, -1)).unwrap();
        let rows: Vec<i64> = (0..n).collect();
        let (mut ei, mut ej) = (Vec::new(), Vec::new());
        for i in 0..n {
            for j in (i + 1)..n {
                ei.push(i);
                ej.push(j);
            }
        }
        let edges = (ei.clone(), ej.clone());
        let explicit = PairSet::Explicit { i: ei, j: ej };
        let c = Tensor::from_slice(&[1.3f32])
            .squeeze()
            .set_requires_grad(true);
        let mut values = Vec::new();
        let mut grads = Vec::new();
        for (pairs, use_kernel) in [
            (&PairSet::All, true),
            (&PairSet::All, false),
            (&explicit, false),
        ] {
            let ctx = DpContext {
                cfg: &cfg,
                pairs,
                fit: &fit,
                s_fit: &s,
                s_fit_vec: &s_vec,
                sdim: 2,
                use_kernel,
                kernel_threads: 1,
                full: true,
                full_ds: None,
                device: Device::Cpu,
            };
            let (mu, _) = model.encode(&x);
            let batch = Batch {
                rows: &rows,
                s: &s,
                mu: &mu,
                z: &mu,
                edges: Some(&edges),
            };
            for mut v in vs.trainable_variables() {
                v.zero_grad();
            }
            let t = ctx.term(&model, &batch, &c).unwrap().unwrap();
            values.push(t.value.unwrap_or_else(|| t.term.double_value(&[])));
            t.term.backward();
            let g: f64 = vs
                .trainable_variables()
                .iter()
                .map(|v| v.grad())
                .filter(|g| g.defined())
                .map(|g| g.abs().sum(Kind::Double).double_value(&[]))
                .sum();
            grads.push(g);
        }
        for k in 1..3 {
            assert!(
                (values[k] - values[0]).abs() < 1e-4 * values[0].abs().max(1.0),
                "{values:?}"
            );
            assert!(
                (grads[k] - grads[0]).abs() < 1e-3 * grads[0].abs().max(1.0),
                "{grads:?}"
            );
        }
    }
}
