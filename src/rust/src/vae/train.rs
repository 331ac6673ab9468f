//! The training loop: warm-up without the dp term, scale initialisation, full batch or
//! minibatches, early stopping on the monitor stress of validation (or training) cells, best-state
//! restore, NaN detection. Its pieces live beside it: the dp term (`dp_term`), the stress monitor
//! (`monitor`), early stopping and snapshots (`early_stop`).
use std::sync::{Mutex, MutexGuard};

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use super::config::{Config, DpLatent, DpLoss, Likelihood};
use super::dp_term::{Batch, DpContext};
use super::dpkernel;
use super::early_stop::{snapshot, EarlyStopping, Snapshot};
use super::fit_rows::FitRows;
use super::gaussian_fused::{self, TargetStats};
use super::likelihood::{reconstruction, Target};
use super::loss;
use super::model::{Dpvae, SCALE_MAX, SCALE_MIN};
use super::monitor::Monitor;
use super::pairs::{batch_distances, PairSet};
use super::precision;
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
    /// Monitor stress: the normalised stress sqrt(Σ(d_z/c − d_s)² / Σ d_s²) of the monitored cells
    /// (NaN during warm-up; R's `history$stress`): validation cells when
    /// there are any, else (a subset of) the training cells, after the epoch's step. On the
    /// fused full-batch path (all pairs, squared loss, dp on the mean, no validation cells) it is
    /// the stress of all training pairs at the start of the epoch, read off the training
    /// forward pass for free; the state it belongs to is the one kept when it is the best.
    pub monitor_stress: f64,
    /// Wall-clock seconds from the start of the first epoch to the end of this one (its monitor
    /// pass included): the time per epoch at any size, without the fit's one-off costs.
    pub seconds: f64,
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
    pub history: Vec<EpochStats>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub interrupted: bool,
    /// Cells held out for model selection (indices into the training data).
    pub validation: Vec<usize>,
}

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

/// A random order of `0..n` from libtorch's (seeded) generator.
fn permutation(n: usize) -> Vec<i64> {
    Vec::<i64>::try_from(Tensor::randperm(n as i64, (Kind::Int64, Device::Cpu)))
        .unwrap_or_else(|_| (0..n as i64).collect())
}

/// Train on `target` (cells × genes) against `s` (cells × d, standardised) with the pair mask.
/// The steps of an epoch: batches (and their share of explicit pairs), per batch the reconstruction,
/// KL and dp terms and an Adam step, then the monitored stress for early stopping and the report.
/// The order of random draws (split, weights, monitor subsets, batch orders, samples) is fixed:
/// a seed reproduces a fit bit for bit.
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

    let on_device = target.to_device(device);
    let TrainingCells {
        val,
        fit,
        s_fit,
        pairs_fit,
    } = training_cells(&on_device, s, pairs, cfg.validation, device)?;
    let n = s_fit.size()[0] as usize;

    let vs = nn::VarStore::new(device);
    let model = Dpvae::new(&vs.root(), cfg);
    // Fine-tuning starts from stored weights and keeps their learned scale.
    if let Some(bytes) = init {
        super::checkpoint::load_into(&vs, bytes, device)?;
    }
    let mut opt = nn::Adam::default().build(&vs, cfg.lr)?;
    let use_dp = cfg.lambda > 0.0;
    let full = cfg.batch_size == 0 || cfg.batch_size >= n;

    let (init_monitor, stop_monitor) = monitors(cfg, &s_fit, &pairs_fit, s, pairs, &val, device);
    let init_monitor = init_monitor.reading(&fit);
    let x_all = &on_device.x;
    let sdim = s.size()[1] as usize;
    let (use_kernel, s_fit_vec) = kernel_inputs(cfg, use_dp, device, &pairs_fit, &s_fit)?;
    let full_rows: Vec<i64> = (0..n as i64).collect();
    // Full-batch spatial distances are fixed: computed once (pdist path).
    let full_ds = (full && use_dp && !use_kernel)
        .then(|| batch_distances(&s_fit, &full_rows, &pairs_fit))
        .flatten();
    let dp = DpContext {
        cfg,
        pairs: &pairs_fit,
        fit: &fit,
        s_fit: &s_fit,
        s_fit_vec: &s_fit_vec,
        sdim,
        use_kernel,
        kernel_threads: (tch::get_num_threads().max(1)) as usize,
        full,
        full_ds: full_ds.as_ref(),
        device,
    };

    // The Gaussian term never forms the n x genes decoder output (gaussian_fused.rs).
    let fused = cfg.likelihood == Likelihood::Gaussian;
    // The all-pairs kernel already sums what the training-cell stress needs (see EpochStats).
    let stress_from_kernel = full
        && use_kernel
        && stop_monitor.is_none()
        && cfg.dp_loss == DpLoss::Squared
        && cfg.dp_latent == DpLatent::Mean;
    // one full batch: the training rows gathered once
    let full_tgt = full.then(|| fit.whole());
    let full_stats = full_tgt
        .as_ref()
        .filter(|_| fused)
        .map(|t| TargetStats::of(&t.x));

    let run = Run {
        cfg,
        model: &model,
        vs: &vs,
        dp,
        fit: &fit,
        full_tgt: full_tgt.as_ref(),
        s_fit: &s_fit,
        full_stats: full_stats.as_ref(),
        full_rows: &full_rows,
        stress_from_kernel,
        n,
        device,
    };
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut stop = EarlyStopping::new();
    let mut interrupted = false;
    let mut epochs_run = 0;
    let init_scale = |model: &Dpvae| start_scale(model, cfg.scale, &init_monitor, x_all);

    let started = std::time::Instant::now();
    for epoch in 1..=cfg.epochs {
        if epoch == cfg.warmup + 1 && init.is_none() {
            init_scale(&model);
        }
        let dp_on = use_dp && epoch > cfg.warmup;
        let mut pass = run.epoch(&mut opt, &stop, epoch, dp_on)?;
        epochs_run = epoch;
        let monitor_stress = if epoch > cfg.warmup {
            // the fused pass measured the state it started from; else the monitor measures the new one
            let value = pass.start_stress.unwrap_or_else(|| {
                let c = model.scale().double_value(&[]);
                match &stop_monitor {
                    Some(m) => m.monitor_stress(&model, x_all, c),
                    None => init_monitor.monitor_stress(&model, x_all, c),
                }
            });
            stop.record(epoch, value, || {
                pass.start_state.take().unwrap_or_else(|| snapshot(&vs))
            });
            value
        } else {
            f64::NAN
        };
        let scale = model.scale().double_value(&[]);
        let seconds = started.elapsed().as_secs_f64();
        let stats = pass.stats(epoch, scale, monitor_stress, seconds);
        history.push(stats);
        let last = epoch == cfg.epochs || stop.exhausted(cfg.patience);
        let report = epoch % cfg.report_every.max(1) == 0 || epoch == 1 || last;
        if report && on_epoch(&stats) == Control::Interrupt {
            interrupted = true;
            break;
        }
        if last {
            break;
        }
    }
    if !stop.restore_best(&vs) && epochs_run <= cfg.warmup && init.is_none() {
        // Stopped during warm-up: the scale was never fitted, so fit it now.
        init_scale(&model);
    }
    Ok(Trained {
        vs,
        history,
        epochs_run,
        best_epoch: stop.best_epoch,
        interrupted,
        validation: val,
    })
}

/// What every epoch of one fit shares.
struct Run<'a> {
    cfg: &'a Config,
    model: &'a Dpvae,
    vs: &'a nn::VarStore,
    dp: DpContext<'a>,
    /// Target and standardised coordinates of the training cells (validation cells removed); the
    /// target gathered once when every batch is the full one.
    fit: &'a FitRows<'a>,
    full_tgt: Option<&'a Target>,
    s_fit: &'a Tensor,
    /// The full batch's target statistics, computed once (fused Gaussian term).
    full_stats: Option<&'a TargetStats>,
    full_rows: &'a [i64],
    /// The all-pairs kernel's sums give the monitor stress of the training cells (see EpochStats).
    stress_from_kernel: bool,
    n: usize,
    device: Device,
}

/// One epoch's training pass: the losses averaged over its batches, and on the fused full-batch
/// path the monitor stress of the state the epoch started from (with that state when it is the best
/// so far, taken before the step changed it).
struct EpochPass {
    /// Loss, reconstruction, KL and dp terms, weighted by batch size.
    sums: [f64; 4],
    start_stress: Option<f64>,
    start_state: Option<Snapshot>,
}

impl EpochPass {
    fn stats(&self, epoch: usize, scale: f64, monitor_stress: f64, seconds: f64) -> EpochStats {
        EpochStats {
            epoch,
            loss: self.sums[0],
            recon: self.sums[1],
            kl: self.sums[2],
            dp: self.sums[3],
            scale,
            monitor_stress,
            seconds,
        }
    }
}

/// One batch's loss values (total, reconstruction, KL, dp) and, on the fused full-batch path, the
/// monitor stress of the state before its step.
struct BatchValues {
    values: [f64; 4],
    start_stress: Option<f64>,
}

impl Run<'_> {
    /// The batches of one epoch (in a fresh random order with minibatches), each with one step.
    fn epoch(
        &self,
        opt: &mut nn::Optimizer,
        stop: &EarlyStopping,
        epoch: usize,
        dp_on: bool,
    ) -> Result<EpochPass> {
        let batches = epoch_batches(self.dp.full, self.full_rows, self.cfg.batch_size);
        let edges = if dp_on {
            edge_chunks(self.dp.pairs, self.dp.full, batches.len())
        } else {
            Vec::new()
        };
        let mut pass = EpochPass {
            sums: [0.0; 4],
            start_stress: None,
            start_state: None,
        };
        for (b, rows) in batches.iter().enumerate() {
            let batch = self.batch_step(opt, rows, edges.get(b), dp_on, epoch, |st| {
                if stop.improves(st) {
                    pass.start_state = Some(snapshot(self.vs));
                }
            })?;
            if batch.start_stress.is_some() {
                pass.start_stress = batch.start_stress;
            }
            let w = rows.len() as f64 / self.n as f64;
            for (acc, v) in pass.sums.iter_mut().zip(batch.values) {
                *acc += w * v;
            }
        }
        Ok(pass)
    }

    /// Reconstruction, KL and (after warm-up) dp terms of one batch, then one Adam step.
    /// `before_step` sees the kernel's monitor stress of the state before the step.
    fn batch_step(
        &self,
        opt: &mut nn::Optimizer,
        rows: &[i64],
        edges: Option<&(Vec<i64>, Vec<i64>)>,
        dp_on: bool,
        epoch: usize,
        mut before_step: impl FnMut(f64),
    ) -> Result<BatchValues> {
        let cfg = self.cfg;
        let gathered: (Target, Tensor);
        let (tb, sb) = match self.full_tgt {
            Some(full) => (full, self.s_fit),
            None => {
                let idx = Tensor::from_slice(rows).to_device(self.device);
                gathered = (self.fit.rows(&idx), self.s_fit.index_select(0, &idx));
                (&gathered.0, &gathered.1)
            }
        };
        let r = reconstruction_step(self.model, tb, self.full_stats, cfg);
        let kl = loss::kl_divergence(&r.mu, &r.logvar, cfg.n_genes);
        let kl_v = kl.double_value(&[]);
        let mut total = r.term * cfg.alpha + &kl * cfg.beta;
        let mut total_v = cfg.alpha * r.value + cfg.beta * kl_v;
        let mut dp_v = 0.0;
        let mut start_stress = None;
        if dp_on {
            let c = self.model.scale();
            let batch = Batch {
                rows,
                s: sb,
                mu: &r.mu,
                z: &r.z,
                edges,
            };
            if let Some(term) = self.dp.term(self.model, &batch, &c)? {
                if let (true, Some((sum_f, sum_s2))) = (self.stress_from_kernel, term.kernel_sums) {
                    // Σ(d − c s)² = c² Σ(d/c − s)²: the normalised stress of all pairs
                    let cv = c.double_value(&[]);
                    let st = (sum_f / (cv * cv) / (sum_s2 + 1e-12)).sqrt();
                    before_step(st);
                    start_stress = Some(st);
                }
                // the fused path's term is a surrogate: its value is not the loss
                dp_v = term.value.unwrap_or_else(|| term.term.double_value(&[]));
                total += term.term * cfg.lambda;
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
        Ok(BatchValues {
            values: [total_v, r.value, kl_v, dp_v],
            start_stress,
        })
    }
}

/// The cells training steps on: validation cells removed (read through their rows, not copied), the
/// coordinates moved to `device`, the mask renumbered.
struct TrainingCells<'a> {
    /// The held-out cells (indices into all cells).
    val: Vec<usize>,
    fit: FitRows<'a>,
    s_fit: Tensor,
    pairs_fit: PairSet,
}

/// `target` is on `device` already.
fn training_cells<'a>(
    target: &'a Target,
    s: &Tensor,
    pairs: &PairSet,
    validation: f64,
    device: Device,
) -> Result<TrainingCells<'a>> {
    let n_all = target.x.size()[0] as usize;
    let (val, fit_rows) = split_validation(n_all, validation);
    let fit_idx = Tensor::from_slice(&fit_rows.iter().map(|&v| v as i64).collect::<Vec<_>>());
    let fit = FitRows::new(target, &fit_rows, device);
    let s_fit = s.index_select(0, &fit_idx).to_device(device);
    let pairs_fit = pairs.subset(&fit_rows, n_all);
    pairs_fit.validate(fit_rows.len())?;
    Ok(TrainingCells {
        val,
        fit,
        s_fit,
        pairs_fit,
    })
}

/// Set the scale c where the dp term starts: the fixed `scale`, else the median latent/spatial distance
/// ratio of the monitored training cells (within the bounds; 1 when it is not finite).
fn start_scale(model: &Dpvae, scale: Option<f64>, monitor: &Monitor, x: &Tensor) {
    let c = scale.unwrap_or_else(|| monitor.median_ratio(model, x));
    let c = if c.is_finite() {
        c.clamp(SCALE_MIN, SCALE_MAX)
    } else {
        1.0
    };
    tch::no_grad(|| {
        let mut ls = model.log_scale.shallow_clone();
        let _ = ls.fill_(c.ln());
    });
}

/// Held-out cells that choose the epoch (a `validation` share, at least 3 on each side, else none) and
/// the training cells, both sorted. Draws one permutation from libtorch's generator.
fn split_validation(n_all: usize, validation: f64) -> (Vec<usize>, Vec<usize>) {
    let n_val = if validation > 0.0 {
        ((n_all as f64) * validation).round() as usize
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
    (val, fit_rows)
}

/// The stress monitors: of (a subset of) the training cells, which also sets the starting scale, and
/// of the validation cells if there are any, which then decides early stopping. The subsets are drawn
/// in this order (a seed reproduces a fit).
fn monitors(
    cfg: &Config,
    s_fit: &Tensor,
    pairs_fit: &PairSet,
    s: &Tensor,
    pairs: &PairSet,
    val: &[usize],
    device: Device,
) -> (Monitor, Option<Monitor>) {
    let n = s_fit.size()[0] as usize;
    let init = Monitor::new(
        monitored(cfg.monitor_cells, (0..n as i64).collect()),
        s_fit,
        pairs_fit,
        n,
        device,
    );
    let stop = (!val.is_empty()).then(|| {
        Monitor::new(
            monitored(cfg.monitor_cells, val.iter().map(|&v| v as i64).collect()),
            &s.to_device(device),
            pairs,
            s.size()[0] as usize,
            device,
        )
    });
    (init, stop)
}

/// Whether the fused CPU kernel replaces pdist for the all-pairs term (and the all-pairs stress), and
/// the training coordinates as the flat f32 vector it reads (empty when it is not used).
fn kernel_inputs(
    cfg: &Config,
    use_dp: bool,
    device: Device,
    pairs_fit: &PairSet,
    s_fit: &Tensor,
) -> Result<(bool, Vec<f32>)> {
    let use_kernel = use_dp
        && device == Device::Cpu
        && matches!(pairs_fit, PairSet::All)
        && dpkernel::supported(cfg.latent_dim, s_fit.size()[1] as usize);
    let s_fit_vec = if use_kernel {
        Vec::try_from(s_fit.to_kind(Kind::Float).contiguous().flatten(0, -1))?
    } else {
        Vec::new()
    };
    Ok((use_kernel, s_fit_vec))
}

/// At most `cap` of `rows` (a random subset, sorted) for a stress monitor.
fn monitored(cap: usize, rows: Vec<i64>) -> Vec<i64> {
    if rows.len() <= cap {
        return rows;
    }
    let mut r: Vec<i64> = permutation(rows.len())[..cap]
        .iter()
        .map(|&p| rows[p as usize])
        .collect();
    r.sort_unstable();
    r
}

/// The batches of one epoch: all rows at once, or a fresh random order cut into `batch_size` pieces.
fn epoch_batches(full: bool, all_rows: &[i64], batch_size: usize) -> Vec<Vec<i64>> {
    if full {
        vec![all_rows.to_vec()]
    } else {
        permutation(all_rows.len())
            .chunks(batch_size)
            .map(|c| c.to_vec())
            .collect()
    }
}

/// Explicit pairs are visited once per epoch, split evenly over the `n_batches` batches (in a random
/// order with minibatches). Empty for other pair sets.
fn edge_chunks(pairs: &PairSet, full: bool, n_batches: usize) -> Vec<(Vec<i64>, Vec<i64>)> {
    let PairSet::Explicit { i, j } = pairs else {
        return Vec::new();
    };
    let order = if full {
        (0..i.len() as i64).collect()
    } else {
        permutation(i.len())
    };
    let per = i.len().div_ceil(n_batches);
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

/// A batch's encoding and reconstruction term (`term` enters the graph; `value` is the loss).
struct Reconstruction {
    mu: Tensor,
    logvar: Tensor,
    z: Tensor,
    term: Tensor,
    value: f64,
}

/// Encode, sample and reconstruct a batch. The Gaussian likelihood goes through the fused term (no
/// n × genes decoder output; `full_stats`: the full batch's target statistics, computed once).
fn reconstruction_step(
    model: &Dpvae,
    tb: &Target,
    full_stats: Option<&TargetStats>,
    cfg: &Config,
) -> Reconstruction {
    // libtorch's CUDA path is left in single precision (untested on a GPU).
    let bf16 = cfg.bf16_products && tb.x.device() == Device::Cpu;
    let xp = precision::operand(&tb.x, bf16);
    if cfg.likelihood == Likelihood::Gaussian {
        let (mu, logvar, z) = model.encode_sample(&xp);
        let h = model.decode_hidden(&z);
        let (w, bias) = model.output_layer();
        let batch_stats;
        let st = match full_stats {
            Some(st) => st,
            None => {
                batch_stats = TargetStats::of(&tb.x);
                &batch_stats
            }
        };
        let r = gaussian_fused::mean_squared_error(&xp, st, &h, w, bias);
        Reconstruction {
            mu,
            logvar,
            z,
            term: r.surrogate,
            value: r.value,
        }
    } else {
        let f = model.forward(&xp);
        let term = reconstruction(&f.decoded, tb, cfg.likelihood);
        let value = term.double_value(&[]);
        Reconstruction {
            mu: f.mu,
            logvar: f.logvar,
            z: f.z,
            term,
            value,
        }
    }
}
