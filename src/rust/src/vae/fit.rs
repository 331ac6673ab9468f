//! Fit and predict on plain arrays: the entry points the R bindings call.
use ndarray::{Array2, ArrayView2};
use tch::{Device, Kind, Tensor};

use super::checkpoint;
use super::config::Config;
use super::frame::Frame;
use super::train::{self, Control, EpochStats};
use crate::error::{DpvaeError, Result};

/// A fitted model's parts plus the reconstruction of its training cells.
pub struct FitOutput {
    pub weights: Vec<u8>,
    pub frame: Frame,
    pub history: Vec<EpochStats>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub interrupted: bool,
    pub scale: f64,
    pub prediction: Prediction,
}

/// Encoder output for a set of cells.
pub struct Prediction {
    pub latent: Array2<f64>,
    pub logvar: Array2<f64>,
    /// In reference coordinates.
    pub coords: Array2<f64>,
}

/// "cpu", "cuda" or "auto" (CUDA when libtorch sees a GPU).
pub fn parse_device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        "cuda" => Err(DpvaeError::Libtorch(
            "device = \"cuda\" was requested but libtorch sees no CUDA GPU; use device = \"cpu\" or \"auto\"".into(),
        )),
        "auto" => Ok(Device::cuda_if_available()),
        other => Err(DpvaeError::Input(format!("`device` must be \"cpu\", \"cuda\" or \"auto\", not \"{other}\""))),
    }
}

fn to_tensor(a: ArrayView2<f64>) -> Tensor {
    let v: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    Tensor::from_slice(&v).reshape([a.nrows() as i64, a.ncols() as i64])
}

fn to_array(t: &Tensor) -> Result<Array2<f64>> {
    let size = t.size();
    let (r, c) = (size[0] as usize, size[1] as usize);
    let v = Vec::<f64>::try_from(
        t.to_device(Device::Cpu)
            .to_kind(Kind::Double)
            .contiguous()
            .flatten(0, -1),
    )?;
    Array2::from_shape_vec((r, c), v).map_err(|e| DpvaeError::Numeric(e.to_string()))
}

fn check_finite(a: &ArrayView2<f64>, what: &str) -> Result<()> {
    if let Some(pos) = a.iter().position(|v| !v.is_finite()) {
        return Err(DpvaeError::Input(format!(
            "{what} contains NA, NaN or Inf (first at row {}, column {}); remove or impute those values",
            pos / a.ncols().max(1) + 1,
            pos % a.ncols().max(1) + 1
        )));
    }
    Ok(())
}

/// Latent means → standardised coordinates (latent dim must equal the spatial dim for now).
fn latent_to_std(mu: &Array2<f64>, scale: f64, dims: usize) -> Result<Array2<f64>> {
    if mu.ncols() != dims {
        return Err(DpvaeError::Input(format!(
            "latent_dim ({}) must equal the number of spatial dimensions ({dims})",
            mu.ncols()
        )));
    }
    Ok(mu / scale)
}

/// Train on `x` (cells × genes, preprocessed) and `coords` (cells × 2 or 3).
pub fn fit(
    x: ArrayView2<f64>,
    coords: ArrayView2<f64>,
    cfg: &Config,
    device: Device,
    on_epoch: &mut dyn FnMut(&EpochStats) -> Control,
) -> Result<FitOutput> {
    cfg.validate()?;
    if x.ncols() != cfg.n_genes {
        return Err(DpvaeError::Input(format!(
            "expected {} genes, got {}",
            cfg.n_genes,
            x.ncols()
        )));
    }
    if x.nrows() != coords.nrows() {
        return Err(DpvaeError::Input(format!(
            "expression has {} cells but coordinates have {} rows",
            x.nrows(),
            coords.nrows()
        )));
    }
    if !(2..=3).contains(&coords.ncols()) {
        return Err(DpvaeError::Input(format!(
            "coordinates need 2 or 3 columns, got {}",
            coords.ncols()
        )));
    }
    if x.nrows() < 3 {
        return Err(DpvaeError::Input(format!(
            "training needs at least 3 cells, got {}",
            x.nrows()
        )));
    }
    check_finite(&x, "the expression matrix")?;
    check_finite(&coords, "the coordinates")?;
    if cfg.num_threads > 0 {
        tch::set_num_threads(cfg.num_threads as i32);
    }
    let mut frame = Frame::fit(coords)?;
    let s = to_tensor(frame.standardise(coords).view());
    let xt = to_tensor(x);
    let trained = train::train(&xt, &s, cfg, device, on_epoch)?;
    let scale = trained.model.scale().double_value(&[]);
    let (mu, logvar) = tch::no_grad(|| trained.model.encode(&xt.to_device(device)));
    let latent = to_array(&mu)?;
    let std_pred = latent_to_std(&latent, scale, coords.ncols())?;
    frame.fit_alignment(std_pred.view(), coords)?;
    let coords_out = frame.to_reference(std_pred.view())?;
    Ok(FitOutput {
        weights: checkpoint::save(&trained.vs)?,
        frame,
        history: trained.history,
        epochs_run: trained.epochs_run,
        best_epoch: trained.best_epoch,
        interrupted: trained.interrupted,
        scale,
        prediction: Prediction {
            latent,
            logvar: to_array(&logvar)?,
            coords: coords_out,
        },
    })
}

/// Encode new cells with a stored model and place them in the reference frame.
pub fn predict(
    cfg: &Config,
    weights: &[u8],
    frame: &Frame,
    x: ArrayView2<f64>,
    device: Device,
) -> Result<Prediction> {
    if x.ncols() != cfg.n_genes {
        return Err(DpvaeError::Input(format!(
            "the model was trained on {} genes but the new data have {}",
            cfg.n_genes,
            x.ncols()
        )));
    }
    check_finite(&x, "the expression matrix")?;
    let (_vs, model) = checkpoint::load(cfg, weights, device)?;
    let scale = model.scale().double_value(&[]);
    let (mu, logvar) = tch::no_grad(|| model.encode(&to_tensor(x).to_device(device)));
    let latent = to_array(&mu)?;
    let std_pred = latent_to_std(&latent, scale, frame.centre.len())?;
    let coords = frame.to_reference(std_pred.view())?;
    Ok(Prediction {
        latent,
        logvar: to_array(&logvar)?,
        coords,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::procrustes::procrustes;
    use ndarray::Array2;

    /// Genes that are smooth functions of position: expression determines location.
    fn toy(n: usize) -> (Array2<f64>, Array2<f64>) {
        let coords = Array2::from_shape_fn((n, 2), |(i, j)| {
            let t = i as f64;
            if j == 0 {
                (t * 0.37).sin() * 10.0 + t * 0.05
            } else {
                (t * 0.61).cos() * 8.0
            }
        });
        let g = 12;
        let x = Array2::from_shape_fn((n, g), |(i, k)| {
            let (a, b) = (coords[[i, 0]], coords[[i, 1]]);
            let w = k as f64 * 0.3;
            (a * w.cos() * 0.2 + b * w.sin() * 0.2).tanh()
        });
        (x, coords)
    }

    fn cfg(lambda: f64) -> Config {
        Config {
            n_genes: 12,
            hidden: 32,
            lambda,
            epochs: 300,
            warmup: 20,
            patience: 0,
            seed: 7,
            ..Config::default()
        }
    }

    #[test]
    fn dp_vae_fits_training_cells_and_beats_plain_vae() {
        let (x, s) = toy(60);
        let dp = fit(x.view(), s.view(), &cfg(1.0), Device::Cpu, &mut |_| {
            Control::Continue
        })
        .unwrap();
        let vae = fit(x.view(), s.view(), &cfg(0.0), Device::Cpu, &mut |_| {
            Control::Continue
        })
        .unwrap();
        let e_dp = procrustes(s.view(), dp.prediction.coords.view())
            .unwrap()
            .disparity;
        let e_vae = procrustes(s.view(), vae.prediction.coords.view())
            .unwrap()
            .disparity;
        assert!(e_dp < 0.2, "dp-VAE training error {e_dp}");
        assert!(e_dp < e_vae, "dp {e_dp} vs vae {e_vae}");
    }

    #[test]
    fn same_seed_same_result_and_predict_matches_fit() {
        let (x, s) = toy(30);
        let c = Config {
            epochs: 40,
            ..cfg(1.0)
        };
        let a = fit(x.view(), s.view(), &c, Device::Cpu, &mut |_| {
            Control::Continue
        })
        .unwrap();
        let b = fit(x.view(), s.view(), &c, Device::Cpu, &mut |_| {
            Control::Continue
        })
        .unwrap();
        assert_eq!(a.prediction.coords, b.prediction.coords);
        let p = predict(&c, &a.weights, &a.frame, x.view(), Device::Cpu).unwrap();
        assert_eq!(p.coords, a.prediction.coords);
    }

    #[test]
    fn interrupt_stops_early_and_bad_input_is_refused() {
        let (x, s) = toy(30);
        let c = Config {
            report_every: 1,
            ..cfg(1.0)
        };
        let out = fit(x.view(), s.view(), &c, Device::Cpu, &mut |st| {
            if st.epoch >= 5 {
                Control::Interrupt
            } else {
                Control::Continue
            }
        })
        .unwrap();
        assert!(out.interrupted);
        assert_eq!(out.epochs_run, 5);
        let mut bad = x.clone();
        bad[[2, 3]] = f64::NAN;
        assert!(matches!(
            fit(bad.view(), s.view(), &c, Device::Cpu, &mut |_| {
                Control::Continue
            }),
            Err(DpvaeError::Input(_))
        ));
        let two = s.slice(ndarray::s![0..2, ..]).to_owned();
        let x2 = x.slice(ndarray::s![0..2, ..]).to_owned();
        assert!(matches!(
            fit(x2.view(), two.view(), &c, Device::Cpu, &mut |_| {
                Control::Continue
            }),
            Err(DpvaeError::Input(_))
        ));
    }

    #[test]
    fn nan_loss_is_a_training_error() {
        let (x, s) = toy(30);
        let c = Config {
            lr: 1e30,
            grad_clip: 0.0,
            epochs: 50,
            ..cfg(1.0)
        };
        let r = fit(x.view(), s.view(), &c, Device::Cpu, &mut |_| {
            Control::Continue
        });
        assert!(matches!(r, Err(DpvaeError::Training(_))), "{:?}", r.err());
    }
}
