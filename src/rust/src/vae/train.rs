//! Full-batch training loop: warm-up without the dp term, scale initialisation, early
//! stopping on the training stress, best-state restore, NaN detection.
use std::collections::HashMap;
use std::sync::Mutex;

use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

use super::config::Config;
use super::loss;
use super::model::{Dpvae, SCALE_MAX, SCALE_MIN};
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
    /// Normalised stress of the training cells (NaN during warm-up).
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
}

/// Train on `x` (cells × genes, preprocessed) against `s` (cells × d, standardised).
pub fn train(
    x: &Tensor,
    s: &Tensor,
    cfg: &Config,
    device: Device,
    on_epoch: &mut dyn FnMut(&EpochStats) -> Control,
) -> Result<Trained> {
    let n = x.size()[0];
    if n < 3 {
        return Err(DpvaeError::Input(format!(
            "training needs at least 3 cells with coordinates, got {n}"
        )));
    }
    // libtorch's generator is global: one fit at a time keeps a seed reproducible.
    let _guard = RNG_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(device);
    let model = Dpvae::new(&vs.root(), cfg);
    let mut opt = nn::Adam::default().build(&vs, cfg.lr)?;
    let x = x.to_device(device);
    let s = s.to_device(device);
    let ds = loss::pairwise_distances(&s);
    let use_dp = cfg.lambda > 0.0;

    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best = f64::INFINITY;
    let mut best_epoch = 0;
    let mut best_state: Option<HashMap<String, Tensor>> = None;
    let mut bad = 0usize;
    let mut interrupted = false;
    let mut epochs_run = 0;

    for epoch in 1..=cfg.epochs {
        if epoch == cfg.warmup + 1 {
            init_scale(&model, &x, &ds, cfg.scale);
        }
        let dp_on = use_dp && epoch > cfg.warmup;
        let f = model.forward(&x);
        let recon = loss::gaussian_recon(&f.x_hat, &x);
        let kl = loss::kl_divergence(&f.mu, &f.logvar, cfg.n_genes);
        let mut total = &recon * cfg.alpha + &kl * cfg.beta;
        let dp = if dp_on {
            let d = loss::distance_preserving(&f.mu, &ds, &model.scale(), cfg.dp_loss);
            total += &d * cfg.lambda;
            d.double_value(&[])
        } else {
            0.0
        };
        let total_v = total.double_value(&[]);
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
        epochs_run = epoch;

        let mut stress = f64::NAN;
        if epoch > cfg.warmup {
            let c = model.scale().double_value(&[]);
            stress = tch::no_grad(|| {
                let (mu, _) = model.encode(&x);
                loss::stress(&mu, &ds, c)
            });
            if stress < best - 1e-5 {
                best = stress;
                best_epoch = epoch;
                bad = 0;
                best_state = Some(snapshot(&vs));
            } else {
                bad += 1;
            }
        }
        let stats = EpochStats {
            epoch,
            loss: total_v,
            recon: recon.double_value(&[]),
            kl: kl.double_value(&[]),
            dp,
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
    } else if epochs_run <= cfg.warmup {
        // Stopped during warm-up: the scale was never fitted, so fit it now.
        init_scale(&model, &x, &ds, cfg.scale);
    }
    Ok(Trained {
        vs,
        model,
        history,
        epochs_run,
        best_epoch,
        interrupted,
    })
}

/// c = median(‖mu_i − mu_j‖ / ‖s_i − s_j‖), or the fixed value.
fn init_scale(model: &Dpvae, x: &Tensor, ds: &Tensor, fixed: Option<f64>) {
    let c = fixed.unwrap_or_else(|| {
        tch::no_grad(|| {
            let (mu, _) = model.encode(x);
            let dz = loss::pairwise_distances(&mu);
            let ok = ds.gt(0.0);
            let r = dz.masked_select(&ok) / ds.masked_select(&ok);
            if r.numel() == 0 {
                1.0
            } else {
                r.to_kind(Kind::Double).median().double_value(&[])
            }
        })
    });
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
