//! The training loop: warm-up without the dp term, scale initialisation, full batch or
//! minibatches, early stopping on the stress of validation (or training) cells, best-state
//! restore, NaN detection.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use super::config::{Config, DpLatent, DpLoss, Likelihood};
use super::dpkernel;
use super::gaussian_fused::{self, TargetStats};
use super::likelihood::{reconstruction, Target};
use super::loss::{self, distance_preserving as penalty};
use super::model::{Dpvae, SCALE_MAX, SCALE_MIN};
use super::pairs::{batch_distances, group_members, pair_tensors, PairSet};
use crate::error::{DpvaeError, Result};

static RNG_LOCK: Mutex<()> = Mutex::new(());

/// Losses of one epoch, as reported to the caller and kept in the history.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub recon: f64,
    pub kl: f64,
    pub dp: f64,
    pub scale: f64,
    /// Normalised stress of the monitored cells (NaN during warm-up): validation cells when
    /// there are any, else (a subset of) the training cells, after the epoch's step. On the
    /// fused full-batch path (all pairs, squared loss, dp on the mean, no validation cells) it is
    /// the stress of all training pairs at the start of the epoch, read off the training
    /// forward pass for free; the state it belongs to is the one kept when it is the best.
    pub stress: f64,
}

/// What the caller wants after an epoch report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop now (user interrupt); the best state so far is kept.
    Interrupt,
}

/// A trained network with its history.
pub struct Trained {
    pub vs: nn::VarStore,
    pub model: Dpvae,
    pub history: Vec<EpochStats>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub interrupted: bool,
    /// Cells held out for model selection (indices into the training data).
    pub validation: Vec<usize>,
}

/// Cells whose stress is tracked, with the spatial distances of the pairs that count: all
/// pairs, pairs within each group, or the mask's own pairs among these cells (a kNN mask only
/// constrains local distances, so global stress would not reflect what it trains).
struct Monitor {
    idx: Tensor,
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
    fn new(rows: Vec<i64>, s: &Tensor, pairs: &PairSet, n_rows: usize, device: Device) -> Monitor {
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
            idx,
            pairs: mp,
            ds: Tensor::zeros([1], (Kind::Float, device)),
            s_vec,
            sdims: dims,
        };
        m.ds = m.distances(&sm);
        m
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

    fn stress(&self, model: &Dpvae, x: &Tensor, c: f64) -> f64 {
        tch::no_grad(|| {
            let (mu, _) = model.encode(&x.index_select(0, &self.idx));
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
    fn median_ratio(&self, model: &Dpvae, x: &Tensor) -> f64 {
        tch::no_grad(|| {
            let (mu, _) = model.encode(&x.index_select(0, &self.idx));
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

/// A random order of `0..n` from libtorch's (seeded) generator.
/// Exclusive use of libtorch's global state (generator, thread count) for one fit or
/// prediction, so that a seed reproduces its result whatever else runs in the process; with
/// `num_threads > 0` the thread count is set while the lock is held and restored when it is released
/// (`num.threads` applies to one call). In a forked child everything runs on one thread (see `threads`).
pub fn exclusive(num_threads: usize) -> Exclusive {
    let lock = RNG_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if crate::threads::single_thread_if_forked() || num_threads == 0 {
        return Exclusive {
            _lock: lock,
            restore: None,
        };
    }
    let previous = tch::get_num_threads();
    tch::set_num_threads(num_threads as i32);
    Exclusive {
        _lock: lock,
        restore: Some(previous),
    }
}

/// The lock of `exclusive()`; dropping it restores the thread count it changed.
pub struct Exclusive {
    _lock: MutexGuard<'static, ()>,
    restore: Option<i32>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Some(n) = self.restore {
            tch::set_num_threads(n);
        }
    }
}

fn permutation(n: usize) -> Vec<i64> {
    Vec::<i64>::try_from(Tensor::randperm(n as i64, (Kind::Int64, Device::Cpu)))
        .unwrap_or_else(|_| (0..n as i64).collect())
}

/// Train on `target` (cells × genes) against `s` (cells × d, standardised) with the pair mask.
pub fn train(
    target: &Target,
    s: &Tensor,
    pairs: &PairSet,
    cfg: &Config,
    device: Device,
    init: Option<&[u8]>,
    on_epoch: &mut dyn FnMut(&EpochStats) -> Control,
) -> Result<Trained> {
    let n_all = target.x.size()[0] as usize;
    if n_all < 3 {
        return Err(DpvaeError::Input(format!(
            "training needs at least 3 cells with coordinates, got {n_all}"
        )));
    }
    pairs.validate(n_all)?;
    // The caller holds `exclusive()`: libtorch's generator and thread count are global.
    tch::manual_seed(cfg.seed as i64);

    // Validation split: held-out cells choose the epoch; they never enter the gradient.
    let n_val = if cfg.validation > 0.0 {
        ((n_all as f64) * cfg.validation).round() as usize
    } else {
        0
    };
    let n_val = if n_val >= 3 && n_all - n_val >= 3 {
        n_val
    } else {
        0
    };
    let order = permutation(n_all);
    let (mut val, mut fit_rows): (Vec<usize>, Vec<usize>) = (
        order[..n_val].iter().map(|&v| v as usize).collect(),
        order[n_val..].iter().map(|&v| v as usize).collect(),
    );
    val.sort_unstable();
    fit_rows.sort_unstable();
    let fit_idx = Tensor::from_slice(&fit_rows.iter().map(|&v| v as i64).collect::<Vec<_>>());
    let tgt = target.rows(&fit_idx);
    let tgt = Target {
        x: tgt.x.to_device(device),
        counts: tgt.counts.map(|c| c.to_device(device)),
        log_lib: tgt.log_lib.map(|l| l.to_device(device)),
    };
    let s_fit = s.index_select(0, &fit_idx).to_device(device);
    let pairs_fit = pairs.subset(&fit_rows, n_all);
    pairs_fit.validate(fit_rows.len())?;
    let n = fit_rows.len();

    let vs = nn::VarStore::new(device);
    let model = Dpvae::new(&vs.root(), cfg);
    // Fine-tuning starts from stored weights and keeps their learned scale.
    if let Some(bytes) = init {
        super::checkpoint::load_into(&vs, bytes, device)?;
    }
    let mut opt = nn::Adam::default().build(&vs, cfg.lr)?;
    let use_dp = cfg.lambda > 0.0;
    let full = cfg.batch_size == 0 || cfg.batch_size >= n;

    // Scale initialisation always looks at training cells; the stopping rule at validation cells.
    let cap = cfg.monitor_cells;
    let sub = |rows: Vec<i64>| -> Vec<i64> {
        if rows.len() <= cap {
            rows
        } else {
            let mut r: Vec<i64> = permutation(rows.len())[..cap]
                .iter()
                .map(|&p| rows[p as usize])
                .collect();
            r.sort_unstable();
            r
        }
    };
    let init_monitor = Monitor::new(sub((0..n as i64).collect()), &s_fit, &pairs_fit, n, device);
    let x_all = target.x.to_device(device);
    let s_all = s.to_device(device);
    let stop_monitor = if val.is_empty() {
        None
    } else {
        Some(Monitor::new(
            sub(val.iter().map(|&v| v as i64).collect()),
            &s_all,
            pairs,
            n_all,
            device,
        ))
    };
    // The fused CPU kernel replaces pdist for the all-pairs term (and the all-pairs stress).
    let sdim = s.size()[1] as usize;
    let use_kernel = use_dp
        && device == Device::Cpu
        && matches!(pairs_fit, PairSet::All)
        && dpkernel::supported(cfg.latent_dim, sdim);
    let kernel_threads = (tch::get_num_threads().max(1)) as usize;
    let s_fit_vec: Vec<f32> = if use_kernel {
        Vec::try_from(s_fit.to_kind(Kind::Float).contiguous().flatten(0, -1))?
    } else {
        Vec::new()
    };
    // Full-batch spatial distances are fixed: compute them once.
    let full_rows: Vec<i64> = (0..n as i64).collect();
    let full_ds = if full && use_dp && !use_kernel {
        match &pairs_fit {
            PairSet::Explicit { .. } => None,
            p => batch_distances(&s_fit, &full_rows, p),
        }
    } else {
        None
    };

    // The Gaussian term never forms the n x genes decoder output (gaussian_fused.rs).
    let fused = cfg.likelihood == Likelihood::Gaussian;
    // The all-pairs kernel already sums what the training-cell stress needs (see EpochStats).
    let stress_from_kernel = full
        && use_kernel
        && stop_monitor.is_none()
        && cfg.dp_loss == DpLoss::Squared
        && cfg.dp_latent == DpLatent::Mean;
    let full_stats = (fused && full).then(|| TargetStats::of(&tgt.x));

    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best = f64::INFINITY;
    let mut best_epoch = 0;
    let mut best_state: Option<HashMap<String, Tensor>> = None;
    let mut bad = 0usize;
    let mut interrupted = false;
    let mut epochs_run = 0;
    let init_scale = |model: &Dpvae| {
        let c = cfg
            .scale
            .unwrap_or_else(|| init_monitor.median_ratio(model, &tgt.x));
        let c = if c.is_finite() {
            c.clamp(SCALE_MIN, SCALE_MAX)
        } else {
            1.0
        };
        tch::no_grad(|| {
            let mut ls = model.log_scale.shallow_clone();
            let _ = ls.fill_(c.ln());
        });
    };

    for epoch in 1..=cfg.epochs {
        if epoch == cfg.warmup + 1 && init.is_none() {
            init_scale(&model);
        }
        let dp_on = use_dp && epoch > cfg.warmup;
        let batches: Vec<Vec<i64>> = if full {
            vec![full_rows.clone()]
        } else {
            permutation(n)
                .chunks(cfg.batch_size)
                .map(|c| c.to_vec())
                .collect()
        };
        // Explicit pairs are visited once per epoch, split evenly over the batches.
        let edge_chunks: Vec<(Vec<i64>, Vec<i64>)> = match (&pairs_fit, dp_on) {
            (PairSet::Explicit { i, j }, true) => {
                let order = if full {
                    (0..i.len() as i64).collect()
                } else {
                    permutation(i.len())
                };
                let per = i.len().div_ceil(batches.len());
                order
                    .chunks(per.max(1))
                    .map(|c| {
                        (
                            c.iter().map(|&e| i[e as usize]).collect(),
                            c.iter().map(|&e| j[e as usize]).collect(),
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        let mut sums = [0.0f64; 4];
        // Fused full-batch path: the stress of the state this epoch starts from, and that
        // state itself when it is the best so far (taken before the step changes it).
        let mut pre_stress: Option<f64> = None;
        let mut pre_state: Option<HashMap<String, Tensor>> = None;
        for (b, rows) in batches.iter().enumerate() {
            let (tb, sb) = if full {
                (None, None)
            } else {
                let idx = Tensor::from_slice(rows).to_device(device);
                (Some(tgt.rows(&idx)), Some(s_fit.index_select(0, &idx)))
            };
            let tb = tb.as_ref().unwrap_or(&tgt);
            let sb = sb.as_ref().unwrap_or(&s_fit);
            let (mu, logvar, z, recon, recon_v) = if fused {
                let (mu, logvar, z) = model.encode_sample(&tb.x);
                let h = model.decode_hidden(&z);
                let (w, bias) = model.output_layer();
                let batch_stats;
                let st = match &full_stats {
                    Some(st) => st,
                    None => {
                        batch_stats = TargetStats::of(&tb.x);
                        &batch_stats
                    }
                };
                let r = gaussian_fused::mean_squared_error(&tb.x, st, &h, w, bias);
                (mu, logvar, z, r.surrogate, r.value)
            } else {
                let f = model.forward(&tb.x);
                let recon = reconstruction(&f.decoded, tb, cfg.likelihood);
                let v = recon.double_value(&[]);
                (f.mu, f.logvar, f.z, recon, v)
            };
            let kl = loss::kl_divergence(&mu, &logvar, cfg.n_genes);
            let kl_v = kl.double_value(&[]);
            let mut total = recon * cfg.alpha + &kl * cfg.beta;
            let mut total_v = cfg.alpha * recon_v + cfg.beta * kl_v;
            let mut dp_v = 0.0;
            let mut dp_value: Option<f64> = None;
            if dp_on {
                let c = model.scale();
                let term = match &pairs_fit {
                    PairSet::Explicit { .. } => {
                        edge_chunks
                            .get(b)
                            .filter(|e| !e.0.is_empty())
                            .map(|(ei, ej)| {
                                let (ti, tj) = pair_tensors(ei, ej, device);
                                let (mi, vi) = model.encode(&tgt.x.index_select(0, &ti));
                                let (mj, vj) = model.encode(&tgt.x.index_select(0, &tj));
                                let (mi, mj) = match cfg.dp_latent {
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
                                let ds = (s_fit.index_select(0, &ti) - s_fit.index_select(0, &tj))
                                    .norm_scalaropt_dim(2.0, [-1], false);
                                penalty(&dz, &ds, &c, cfg.dp_loss)
                            })
                    }
                    PairSet::All if use_kernel => {
                        // Fused CPU pass: value and gradient of the all-pairs term without
                        // pdist's n(n-1)/2 tensors; enters the graph through the surrogate
                        // <z, dL/dz> + c * dL/dc, whose gradient is the exact one.
                        let zl = match cfg.dp_latent {
                            DpLatent::Mean => &mu,
                            DpLatent::Sample => &z,
                        };
                        let nb = rows.len();
                        let zv: Vec<f32> = Vec::try_from(zl.detach().contiguous().flatten(0, -1))?;
                        // full batch: the training coordinates as they are, no per-epoch copy
                        let batch_s: Vec<f32>;
                        let sv: &[f32] = if full {
                            &s_fit_vec
                        } else {
                            batch_s = rows
                                .iter()
                                .flat_map(|&r| {
                                    s_fit_vec[r as usize * sdim..(r as usize + 1) * sdim].to_vec()
                                })
                                .collect();
                            &batch_s
                        };
                        let ps = dpkernel::all_pairs(
                            &zv,
                            sv,
                            cfg.latent_dim,
                            sdim,
                            c.double_value(&[]),
                            cfg.dp_loss,
                            true,
                            kernel_threads,
                        );
                        let np = (nb * (nb - 1) / 2).max(1) as f64;
                        let gz = Tensor::from_slice(&ps.grad_z)
                            .view([nb as i64, cfg.latent_dim as i64])
                            / np;
                        dp_value = Some(ps.sum_f / np);
                        if stress_from_kernel {
                            // Σ(d − c s)² = c² Σ(d/c − s)²: the normalised stress of all pairs
                            let cv = c.double_value(&[]);
                            let st = (ps.sum_f / (cv * cv) / (ps.sum_s2 + 1e-12)).sqrt();
                            if st < best - 1e-5 {
                                pre_state = Some(snapshot(&vs));
                            }
                            pre_stress = Some(st);
                        }
                        Some((zl * gz).sum(Kind::Float) + &c * (ps.grad_c / np))
                    }
                    p => {
                        let ds = match &full_ds {
                            Some(ds) => Some(ds.shallow_clone()),
                            None => batch_distances(sb, rows, p),
                        };
                        let zl = match cfg.dp_latent {
                            DpLatent::Mean => &mu,
                            DpLatent::Sample => &z,
                        };
                        match (batch_distances(zl, rows, p), ds) {
                            (Some(dz), Some(ds)) => Some(penalty(&dz, &ds, &c, cfg.dp_loss)),
                            _ => None,
                        }
                    }
                };
                if let Some(term) = term {
                    // the fused path's term is a surrogate: its value is not the loss
                    dp_v = dp_value.unwrap_or_else(|| term.double_value(&[]));
                    total += term * cfg.lambda;
                    total_v += cfg.lambda * dp_v;
                }
            }
            if !total_v.is_finite() {
                return Err(DpvaeError::Training(format!(
                    "the loss became {total_v} at epoch {epoch}; lower `lr` (now {}), check the expression \
                     for extreme values, or lower `lambda`",
                    cfg.lr
                )));
            }
            if cfg.grad_clip > 0.0 {
                opt.backward_step_clip_norm(&total, cfg.grad_clip);
            } else {
                opt.backward_step(&total);
            }
            let w = rows.len() as f64 / n as f64;
            for (acc, v) in sums.iter_mut().zip([total_v, recon_v, kl_v, dp_v]) {
                *acc += w * v;
            }
        }
        epochs_run = epoch;

        let mut stress = f64::NAN;
        if epoch > cfg.warmup {
            let c = model.scale().double_value(&[]);
            stress = match (pre_stress, &stop_monitor) {
                (Some(v), _) => v,
                (None, Some(m)) => m.stress(&model, &x_all, c),
                (None, None) => init_monitor.stress(&model, &tgt.x, c),
            };
            if stress < best - 1e-5 {
                best = stress;
                best_epoch = epoch;
                bad = 0;
                best_state = Some(pre_state.take().unwrap_or_else(|| snapshot(&vs)));
            } else {
                bad += 1;
            }
        }
        let stats = EpochStats {
            epoch,
            loss: sums[0],
            recon: sums[1],
            kl: sums[2],
            dp: sums[3],
            scale: model.scale().double_value(&[]),
            stress,
        };
        history.push(stats);
        let last = epoch == cfg.epochs || (cfg.patience > 0 && bad >= cfg.patience);
        let report = epoch % cfg.report_every.max(1) == 0 || epoch == 1 || last;
        if report && on_epoch(&stats) == Control::Interrupt {
            interrupted = true;
            break;
        }
        if last {
            break;
        }
    }
    if let Some(state) = best_state {
        restore(&vs, &state);
    } else if epochs_run <= cfg.warmup && init.is_none() {
        // Stopped during warm-up: the scale was never fitted, so fit it now.
        init_scale(&model);
    }
    Ok(Trained {
        vs,
        model,
        history,
        epochs_run,
        best_epoch,
        interrupted,
        validation: val,
    })
}

fn snapshot(vs: &nn::VarStore) -> HashMap<String, Tensor> {
    vs.variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect()
}

fn restore(vs: &nn::VarStore, state: &HashMap<String, Tensor>) {
    tch::no_grad(|| {
        for (k, mut v) in vs.variables() {
            if let Some(src) = state.get(&k) {
                v.copy_(src);
            }
        }
    });
}
