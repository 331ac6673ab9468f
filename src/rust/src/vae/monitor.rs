//! The stress monitor: the monitor stress (normalised, at the model's scale) of a set of cells (validation cells, or a subset of
//! the training cells) that chooses the epoch to keep, and the median latent/spatial distance
//! ratio that starts the learned scale.
use tch::{Device, Kind, Tensor};

use super::config::DpLoss;
use super::dpkernel;
use super::fit_rows::{expression_rows, FitRows};
use super::model::Dpvae;
use super::pairs::{group_members, pair_tensors, PairSet};

/// Cells whose stress is tracked, with the spatial distances of the pairs that count: all
/// pairs, pairs within each group, or the mask's own pairs among these cells (a kNN mask only
/// constrains local distances, so global stress would not reflect what it trains).
pub struct Monitor {
    idx: Tensor,
    /// Rows of the expression the monitor reads (`idx`, unless the cells are read through a map).
    x_idx: Tensor,
    pairs: MonitorPairs,
    ds: Tensor,
    /// Coordinates of the monitored cells (row-major) when the fused CPU kernel computes the
    /// all-pairs stress; empty otherwise.
    s_vec: Vec<f32>,
    /// Spatial dimensions of `s_vec`.
    sdims: usize,
}

enum MonitorPairs {
    All,
    Groups(Vec<Tensor>),
    Edges(Tensor, Tensor),
}

impl Monitor {
    /// `rows` index cells of `s`, which has `n_rows` rows; `pairs` is the mask on those rows.
    pub fn new(
        rows: Vec<i64>,
        s: &Tensor,
        pairs: &PairSet,
        n_rows: usize,
        device: Device,
    ) -> Monitor {
        let idx = Tensor::from_slice(&rows).to_device(device);
        let sm = s.index_select(0, &idx);
        let kept: Vec<usize> = rows.iter().map(|&r| r as usize).collect();
        let mp = match pairs {
            PairSet::Groups(labels) => MonitorPairs::Groups(
                group_members(labels, &rows)
                    .into_iter()
                    .map(|m| Tensor::from_slice(&m).to_device(device))
                    .collect(),
            ),
            PairSet::Explicit { .. } => match pairs.subset(&kept, n_rows) {
                PairSet::Explicit { i, j } if i.len() >= 3 => {
                    let (ti, tj) = pair_tensors(&i, &j, device);
                    MonitorPairs::Edges(ti, tj)
                }
                _ => MonitorPairs::All,
            },
            PairSet::All => MonitorPairs::All,
        };
        let dims = sm.size()[1] as usize;
        let s_vec = if device == Device::Cpu
            && matches!(mp, MonitorPairs::All)
            && dpkernel::supported(dims, dims)
        {
            // the latent width is checked per call
            Vec::try_from(sm.to_kind(Kind::Float).contiguous().flatten(0, -1)).unwrap_or_default()
        } else {
            Vec::new()
        };
        let mut m = Monitor {
            x_idx: idx.shallow_clone(),
            idx,
            pairs: mp,
            ds: Tensor::zeros([1], (Kind::Float, device)),
            s_vec,
            sdims: dims,
        };
        m.ds = m.distances(&sm);
        m
    }

    /// The monitored cells index training rows: read their expression from the whole input.
    pub fn reading(mut self, fit: &FitRows) -> Monitor {
        self.x_idx = fit.input_rows(&self.idx);
        self
    }

    fn distances(&self, x: &Tensor) -> Tensor {
        match &self.pairs {
            MonitorPairs::All => x.pdist(2.0),
            MonitorPairs::Groups(g) => Tensor::cat(
                &g.iter()
                    .map(|i| x.index_select(0, i).pdist(2.0))
                    .collect::<Vec<_>>(),
                0,
            ),
            MonitorPairs::Edges(i, j) => {
                (x.index_select(0, i) - x.index_select(0, j)).norm_scalaropt_dim(2.0, [-1], false)
            }
        }
    }

    fn latent_distances(&self, mu: &Tensor) -> Tensor {
        self.distances(mu)
    }

    /// sqrt(Σ(d_z/c − d_s)² / Σ d_s²) over the monitored pairs: the training history's stress.
    pub fn monitor_stress(&self, model: &Dpvae, x: &Tensor, c: f64) -> f64 {
        tch::no_grad(|| {
            let (mu, _) = model.encode(&expression_rows(x, &self.x_idx));
            let zdims = mu.size()[1] as usize;
            let sdims = self.sdims;
            if !self.s_vec.is_empty() && dpkernel::supported(zdims, sdims) {
                if let Ok(zv) = Vec::<f32>::try_from(mu.contiguous().flatten(0, -1)) {
                    // Σ(d − c s)² = c² Σ(d/c − s)²
                    let threads = tch::get_num_threads().max(1) as usize;
                    let ps = dpkernel::all_pairs(
                        &zv,
                        &self.s_vec,
                        zdims,
                        sdims,
                        c,
                        DpLoss::Squared,
                        false,
                        threads,
                    );
                    return (ps.sum_f / (c * c) / (ps.sum_s2 + 1e-12)).sqrt();
                }
            }
            let dz = self.latent_distances(&mu) / c;
            let num = (dz - &self.ds).square().sum(Kind::Double);
            let den = self.ds.square().sum(Kind::Double) + 1e-12;
            (num / den).sqrt().double_value(&[])
        })
    }

    /// c = median(‖mu_i − mu_j‖ / ‖s_i − s_j‖) over the monitored pairs.
    pub fn median_ratio(&self, model: &Dpvae, x: &Tensor) -> f64 {
        tch::no_grad(|| {
            let (mu, _) = model.encode(&expression_rows(x, &self.x_idx));
            let dz = self.latent_distances(&mu);
            let ok = self.ds.gt(0.0);
            let r = dz.masked_select(&ok) / self.ds.masked_select(&ok);
            if r.numel() == 0 {
                1.0
            } else {
                r.to_kind(Kind::Double).median().double_value(&[])
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vae::config::Config;
    use tch::nn;

    fn grid(n: i64) -> Tensor {
        Tensor::randn([n, 2], (Kind::Float, Device::Cpu))
    }

    #[test]
    fn stress_is_zero_when_latent_distances_are_scaled_spatial_ones_and_the_ratio_finds_the_scale()
    {
        tch::manual_seed(1);
        let cfg = Config {
            n_genes: 2,
            hidden: 4,
            latent_dim: 2,
            ..Config::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Dpvae::new(&vs.root(), &cfg);
        let x = grid(40);
        let (mu, _) = tch::no_grad(|| model.encode(&x));
        // coordinates = the latent means / 2: latent distance = 2 x spatial distance
        let s = mu.detach() / 2.0;
        let rows: Vec<i64> = (0..40).collect();
        for pairs in [
            PairSet::All,
            PairSet::Groups((0..40).map(|i| i % 2).collect()),
        ] {
            let m = Monitor::new(rows.clone(), &s, &pairs, 40, Device::Cpu);
            assert!((m.median_ratio(&model, &x) - 2.0).abs() < 1e-4);
            assert!(m.monitor_stress(&model, &x, 2.0) < 1e-4);
            // a wrong scale shows as stress: |d/c - s| / |s| = |2/4 - 1| = 0.5
            assert!((m.monitor_stress(&model, &x, 4.0) - 0.5).abs() < 1e-3);
        }
    }
}
