//! dp-VAE shims: fit and predict. Settings travel as JSON (serde on the Rust side).
use extendr_api::prelude::*;

use super::conditions::to_robj;
use super::convert::{matrix_view, raw_bytes, to_rmatrix};
use super::interrupt::interrupted;
use crate::error::{DpvaeError, Result};
use crate::vae::config::Config;
use crate::vae::fit::{fit, parse_device, predict, Prediction};
use crate::vae::frame::Frame;
use crate::vae::train::{Control, EpochStats};

fn prediction_list(p: &Prediction) -> Robj {
    list!(
        latent = to_rmatrix(&p.latent),
        logvar = to_rmatrix(&p.logvar),
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
        stress = col(|s| s.stress)
    )
    .into()
}

/// @noRd
#[extendr]
fn fit_impl(
    x: RMatrix<f64>,
    coords: RMatrix<f64>,
    config_json: &str,
    device: &str,
    progress: Function,
) -> Robj {
    to_robj((|| -> Result<Robj> {
        let cfg = Config::from_json(config_json)?;
        let device = parse_device(device)?;
        // Progress goes to R every `report_every` epochs; R answers FALSE to stop.
        let mut on_epoch = |s: &EpochStats| {
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
                s.stress
            );
            match progress.call(args) {
                Ok(v) if v.as_bool() == Some(false) => Control::Interrupt,
                Ok(_) => Control::Continue,
                Err(_) => Control::Interrupt,
            }
        };
        let out = fit(
            matrix_view(&x)?,
            matrix_view(&coords)?,
            &cfg,
            device,
            &mut on_epoch,
        )?;
        let frame =
            serde_json::to_string(&out.frame).map_err(|e| DpvaeError::Model(e.to_string()))?;
        Ok(list!(
            weights = Raw::from_bytes(&out.weights),
            config = cfg.to_json(),
            frame = frame,
            history = history_list(&out.history),
            epochs_run = out.epochs_run as i32,
            best_epoch = out.best_epoch as i32,
            interrupted = out.interrupted,
            scale = out.scale,
            prediction = prediction_list(&out.prediction)
        )
        .into())
    })())
}

/// @noRd
#[extendr]
fn predict_impl(
    weights: Raw,
    config_json: &str,
    frame_json: &str,
    x: RMatrix<f64>,
    device: &str,
) -> Robj {
    to_robj((|| -> Result<Robj> {
        let cfg = Config::from_json(config_json)
            .map_err(|e| DpvaeError::Model(format!("stored settings: {e}")))?;
        let frame: Frame = serde_json::from_str(frame_json).map_err(|e| {
            DpvaeError::Model(format!("the stored coordinate frame is corrupt: {e}"))
        })?;
        let device = parse_device(device)?;
        let p = predict(&cfg, raw_bytes(&weights), &frame, matrix_view(&x)?, device)?;
        Ok(prediction_list(&p))
    })())
}

extendr_module! {
    mod vae_bindings;
    fn fit_impl;
    fn predict_impl;
}
