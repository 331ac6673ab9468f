//! dp-VAE shims: fit and predict. Settings travel as JSON (serde on the Rust side).
use extendr_api::prelude::*;
use ndarray::ArrayView2;
use tch::{Device, Kind, Tensor};

use super::conditions::guarded;
use super::convert::{matrix_view, one_based, raw_bytes, settings, to_rmatrix};
use super::interrupt::interrupted;
use crate::error::{DpvaeError, Result};
use crate::vae::config::Config;
use crate::vae::encoder::Encoder;
use crate::vae::fit::{fill_rows, finetune, fit, parse_device, FitOutput, Inputs, Prediction};
use crate::vae::frame::Frame;
use crate::vae::model::{SCALE_MAX, SCALE_MIN};
use crate::vae::pairs::PairSet;
use crate::vae::train::{self, Control, EpochStats};

fn prediction_list(p: &Prediction) -> Robj {
    let uncertainty: Robj = match &p.uncertainty {
        Some(u) => u.clone().into(),
        None => ().into(),
    };
    list!(
        uncertainty = uncertainty,
        latent = to_rmatrix(&p.latent),
        coords = to_rmatrix(&p.coords)
    )
    .into()
}

fn history_list(h: &[EpochStats]) -> Robj {
    let col = |f: fn(&EpochStats) -> f64| h.iter().map(f).collect::<Vec<f64>>();
    list!(
        epoch = h.iter().map(|s| s.epoch as i32).collect::<Vec<i32>>(),
        loss = col(|s| s.loss),
        recon = col(|s| s.recon),
        kl = col(|s| s.kl),
        dp = col(|s| s.dp),
        scale = col(|s| s.scale),
        stress = col(|s| s.monitor_stress),
        seconds = col(|s| s.seconds)
    )
    .into()
}

/// A mask R sends as settings (JSON) rather than pairs: `{"knn": k}`.
#[derive(serde::Deserialize)]
struct MaskSettings {
    knn: usize,
}

/// The pair mask from R: NULL (all pairs), kNN settings as JSON (built here on `coords`), an
/// integer vector of group labels, or a two-column integer matrix of 1-based pairs.
fn pair_set(mask: &Robj, coords: ArrayView2<f64>, cfg: &Config) -> Result<PairSet> {
    if mask.is_null() {
        return Ok(PairSet::All);
    }
    if let Some(json) = mask.as_str() {
        let m: MaskSettings = settings(json, "mask")?;
        return PairSet::knn(coords, m.knn, cfg.num_threads);
    }
    let ints = mask.as_integer_slice().ok_or_else(|| {
        DpvaeError::Input(
            "the mask must be NULL, kNN settings, group labels or a matrix of pairs".into(),
        )
    })?;
    if mask.is_matrix() {
        let half = ints.len() / 2;
        let (a, b) = ints.split_at(half);
        let (i, j) = a
            .iter()
            .zip(b)
            .map(|(&p, &q)| ((p.min(q) - 1) as i64, (p.max(q) - 1) as i64))
            .unzip();
        Ok(PairSet::Explicit { i, j })
    } else {
        Ok(PairSet::Groups(ints.iter().map(|&g| g as i64).collect()))
    }
}

/// The training expression as a tensor of `kind` (f32, or f16 above R's memory budget), from R's block
/// source (a list with `n` cells, `genes`, `blocks` and `fetch(b)`, block b's cells × genes matrix), so
/// that only one block of it is ever held in f64 (R/preprocess.R, `expression_source()`).
fn expression_tensor(x: &Robj, kind: Kind) -> Result<Tensor> {
    let bad = || {
        DpvaeError::Input("the expression source must be a list(n, genes, blocks, fetch)".into())
    };
    let field = |name: &str| x.dollar(name).ok().filter(|v| !v.is_null()).ok_or_else(bad);
    let count = |name: &str| -> Result<usize> {
        let v = field(name)?;
        let v = v.as_real().or_else(|| v.as_integer().map(f64::from));
        v.filter(|v| *v >= 0.0).map(|v| v as usize).ok_or_else(bad)
    };
    let (n, genes, blocks) = (count("n")?, count("genes")?, count("blocks")?);
    let fetch = Function::try_from(field("fetch")?).map_err(|_| bad())?;
    let out = Tensor::empty([n as i64, genes as i64], (kind, Device::Cpu));
    let mut row = 0;
    for b in 1..=blocks {
        let block = fetch
            .call(pairlist!(b as i32))
            .map_err(|e| DpvaeError::Input(format!("reading block {b} of the expression: {e}")))?;
        let m = RMatrix::<f64>::try_from(block).map_err(|_| bad())?;
        if m.ncols() != genes || row + m.nrows() > n {
            return Err(bad());
        }
        fill_rows(&out, row, matrix_view(&m)?);
        row += m.nrows();
    }
    if row != n {
        return Err(bad());
    }
    Ok(out)
}

fn optional_matrix(m: &Robj) -> Result<Option<RMatrix<f64>>> {
    if m.is_null() {
        return Ok(None);
    }
    RMatrix::<f64>::try_from(m.clone())
        .map(Some)
        .map_err(|_| DpvaeError::Input("counts must be a numeric matrix".into()))
}

fn progress_callback(progress: &Function) -> impl FnMut(&EpochStats) -> Control + '_ {
    // Progress goes to R every `report_every` epochs; R answers FALSE to stop.
    move |s: &EpochStats| {
        if interrupted() {
            return Control::Interrupt;
        }
        let args = pairlist!(
            s.epoch as i32,
            s.loss,
            s.recon,
            s.kl,
            s.dp,
            s.scale,
            s.monitor_stress
        );
        match progress.call(args) {
            Ok(v) if v.as_bool() == Some(false) => Control::Interrupt,
            Ok(_) => Control::Continue,
            Err(_) => Control::Interrupt,
        }
    }
}

fn fit_list(cfg: &Config, out: &FitOutput) -> Result<Robj> {
    let frame = serde_json::to_string(&out.frame).map_err(|e| DpvaeError::Model(e.to_string()))?;
    Ok(list!(
        weights = Raw::from_bytes(&out.weights),
        config = cfg.to_json(),
        frame = frame,
        history = history_list(&out.history),
        epochs_run = out.epochs_run as i32,
        best_epoch = out.best_epoch as i32,
        interrupted = out.interrupted,
        scale = out.scale,
        validation = one_based(&out.validation),
        prediction = prediction_list(&out.prediction)
    )
    .into())
}

/// Train a new model (`init` NULL) or fine-tune stored weights (`init` raw, `frame_json` its frame).
/// @noRd
#[extendr]
#[allow(clippy::too_many_arguments)]
fn fit_impl(
    x: Robj,
    counts: Robj,
    library: Robj,
    coords: RMatrix<f64>,
    mask: Robj,
    config_json: &str,
    device: &str,
    init: Robj,
    frame_json: &str,
    progress: Function,
) -> Robj {
    guarded(|| -> Result<Robj> {
        let cfg = Config::from_json(config_json)?;
        let device = parse_device(device)?;
        let counts = optional_matrix(&counts)?;
        let counts_view = match &counts {
            Some(c) => Some(matrix_view(c)?),
            None => None,
        };
        // R's freed preprocessing temporaries go back first: the tensor is the fit's largest allocation
        crate::memory::release_free_memory();
        let inputs = Inputs {
            x: expression_tensor(&x, cfg.input_kind())?,
            counts: counts_view,
            library: library.as_real_slice(),
        };
        // the blocks' temporaries are free now: hand them back before training allocates its own
        crate::memory::release_free_memory();
        let coords = matrix_view(&coords)?;
        let pairs = pair_set(&mask, coords, &cfg)?;
        let mut on_epoch = progress_callback(&progress);
        let out = match init.as_raw_slice() {
            None => fit(&inputs, coords, &pairs, &cfg, device, &mut on_epoch)?,
            Some(weights) => {
                let frame = Frame::from_json(frame_json)?;
                finetune(
                    &cfg,
                    weights,
                    &frame,
                    &inputs,
                    coords,
                    &pairs,
                    device,
                    &mut on_epoch,
                )?
            }
        };
        drop(inputs);
        crate::memory::release_free_memory();
        fit_list(&cfg, &out)
    })
}

/// How to encode new cells (from R as JSON).
#[derive(serde::Deserialize)]
struct PredictOptions {
    /// Latent samples per cell for the spread (0 = none).
    n_samples: usize,
    seed: u64,
    /// libtorch threads (0 = leave as set).
    num_threads: usize,
}

/// A stored model loaded for encoding, as an external pointer: R loads it once per call and encodes
/// every block of cells with it. It does not survive `saveRDS()` or a trip to another process;
/// BiocParallel workers load their own.
/// @noRd
#[extendr]
fn encoder_impl(weights: Raw, config_json: &str, frame_json: &str, device: &str) -> Robj {
    guarded(|| -> Result<Robj> {
        let cfg = Config::from_json(config_json)
            .map_err(|e| DpvaeError::Model(format!("stored settings: {e}")))?;
        let frame = Frame::from_json(frame_json)?;
        let device = parse_device(device)?;
        let _exclusive = train::exclusive(0);
        let encoder = Encoder::load(cfg, raw_bytes(&weights), frame, device)?;
        Ok(ExternalPtr::new(encoder).into())
    })
}

/// @noRd
#[extendr]
fn predict_impl(encoder: Robj, x: RMatrix<f64>, options_json: &str) -> Robj {
    guarded(|| -> Result<Robj> {
        let opts: PredictOptions = settings(options_json, "prediction")?;
        let encoder: &ExternalPtr<Encoder> = (&encoder).try_into().map_err(|_| {
            DpvaeError::Model(
                "the loaded encoder is not valid in this R process (it was saved or sent to another one)"
                    .into(),
            )
        })?;
        let p = encoder.predict(
            matrix_view(&x)?,
            opts.n_samples,
            opts.seed,
            opts.num_threads,
        )?;
        Ok(prediction_list(&p))
    })
}

/// The bounds of the learned scale c (vae/model.rs), so that R's checks use the same numbers.
/// @noRd
#[extendr]
fn scale_bounds_impl() -> Vec<f64> {
    vec![SCALE_MIN, SCALE_MAX]
}

extendr_module! {
    mod vae_bindings;
    fn scale_bounds_impl;
    fn fit_impl;
    fn encoder_impl;
    fn predict_impl;
}
