//! Fit and predict on plain arrays: the entry points the R bindings call.
use ndarray::{Array2, ArrayView2, Axis};
use tch::{Device, Kind, Tensor};

use super::checkpoint;
use super::config::{Config, Likelihood};
use super::encoder::Encoder;
use super::frame::Frame;
use super::likelihood::Target;
use super::pairs::PairSet;
use super::train::{self, Control, EpochStats, Trained};
use crate::error::{check_finite, DpvaeError, Result};

/// A fitted model's parts plus the reconstruction of its training cells.
pub struct FitOutput {
    pub weights: Vec<u8>,
    pub frame: Frame,
    pub history: Vec<EpochStats>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub interrupted: bool,
    pub scale: f64,
    /// Training cells held out to choose the epoch (0-based).
    pub validation: Vec<usize>,
    pub prediction: Prediction,
}

/// Encoder output for a set of cells.
pub struct Prediction {
    pub latent: Array2<f64>,
    /// In reference coordinates.
    pub coords: Array2<f64>,
    /// Root mean squared distance of sampled positions to their mean, in reference units
    /// (only when samples were drawn).
    pub uncertainty: Option<Vec<f64>>,
}

/// Expression of the training cells.
pub struct Inputs<'a> {
    /// Cells × genes, log-normalised and standardised, in f32 (encoder input, Gaussian target):
    /// built block by block by the caller (`expression_tensor`), so no f64 copy of all cells exists.
    pub x: Tensor,
    /// Cells × genes raw counts of the same genes (NB/ZINB target).
    pub counts: Option<ArrayView2<'a, f64>>,
    /// Library size of each cell over all its genes (NB/ZINB offset).
    pub library: Option<&'a [f64]>,
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

/// Rows converted per step when a matrix becomes an f32 tensor, or a tensor is encoded in f64:
/// bounds the temporary copies (an f64 chunk of 2,000 genes: 66 MB) whatever the number of cells.
pub const ROW_CHUNK: usize = 4_096;

/// An f64 matrix as an f32 tensor, converted `ROW_CHUNK` rows at a time.
pub fn to_tensor(a: ArrayView2<f64>) -> Tensor {
    let (n, g) = a.dim();
    let out = Tensor::empty([n as i64, g as i64], (Kind::Float, Device::Cpu));
    fill_rows(&out, 0, a);
    out
}

/// Writes the rows of `a` (converted to f32, then to `out`'s element type) into `out` from row `start`
/// on, a chunk at a time.
pub fn fill_rows(out: &Tensor, start: usize, a: ArrayView2<f64>) {
    for (k, rows) in a.axis_chunks_iter(Axis(0), ROW_CHUNK).enumerate() {
        let v: Vec<f32> = rows.iter().map(|&x| x as f32).collect();
        let len = rows.nrows() as i64;
        let chunk = Tensor::from_slice(&v).reshape([len, a.ncols() as i64]);
        out.narrow(0, (start + k * ROW_CHUNK) as i64, len)
            .copy_(&chunk);
    }
}

/// Fails unless every value of the (cells × genes) tensor is finite; checked a chunk at a time.
fn check_finite_rows(t: &Tensor, what: &str) -> Result<()> {
    let n = t.size()[0];
    let mut start = 0;
    while start < n {
        let len = (ROW_CHUNK as i64).min(n - start);
        let ok = tch::no_grad(|| t.narrow(0, start, len).isfinite().all().int64_value(&[]));
        if ok == 0 {
            return Err(DpvaeError::Input(format!(
                "{what} contains NaN or infinite values"
            )));
        }
        start += len;
    }
    Ok(())
}

pub(crate) fn to_array(t: &Tensor) -> Result<Array2<f64>> {
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

fn check_inputs(inp: &Inputs, coords: &ArrayView2<f64>, cfg: &Config) -> Result<()> {
    cfg.validate()?;
    let (n, n_genes) = (inp.x.size()[0] as usize, inp.x.size()[1] as usize);
    if n_genes != cfg.n_genes {
        return Err(DpvaeError::Input(format!(
            "expected {} genes, got {n_genes}",
            cfg.n_genes
        )));
    }
    if n != coords.nrows() {
        return Err(DpvaeError::Input(format!(
            "expression has {n} cells but coordinates have {} rows",
            coords.nrows()
        )));
    }
    if !(2..=3).contains(&coords.ncols()) {
        return Err(DpvaeError::Input(format!(
            "coordinates need 2 or 3 columns, got {}",
            coords.ncols()
        )));
    }
    if n < 3 {
        return Err(DpvaeError::Input(format!(
            "training needs at least 3 cells, got {n}"
        )));
    }
    if cfg.latent_dim < coords.ncols() {
        return Err(DpvaeError::Input(format!(
            "latent_dim ({}) must be at least the number of spatial dimensions ({})",
            cfg.latent_dim,
            coords.ncols()
        )));
    }
    check_finite_rows(&inp.x, "the expression matrix")?;
    check_finite(coords.view(), "the coordinates")?;
    if cfg.likelihood != Likelihood::Gaussian {
        let (counts, lib) = match (&inp.counts, inp.library) {
            (Some(c), Some(l)) => (c, l),
            _ => {
                return Err(DpvaeError::Input(
                    "the \"nb\" and \"zinb\" likelihoods need raw counts and library sizes".into(),
                ))
            }
        };
        if counts.dim() != (n, n_genes) || lib.len() != n {
            return Err(DpvaeError::Input(
                "counts and library sizes must match the expression matrix".into(),
            ));
        }
        if counts
            .iter()
            .any(|&v| !v.is_finite() || v < 0.0 || v.fract() != 0.0)
        {
            return Err(DpvaeError::Input(
                "the \"nb\" and \"zinb\" likelihoods need raw counts (non-negative integers); use \
                 likelihood = \"gaussian\" for normalised data"
                    .into(),
            ));
        }
        if lib.iter().any(|&l| !l.is_finite() || l <= 0.0) {
            return Err(DpvaeError::Input(
                "every cell needs a positive library size (remove empty cells)".into(),
            ));
        }
    }
    Ok(())
}

fn target(inp: &Inputs) -> Target {
    Target {
        x: inp.x.shallow_clone(),
        counts: inp.counts.map(to_tensor),
        log_lib: inp.library.map(|l| {
            let v: Vec<f32> = l.iter().map(|&x| x.ln() as f32).collect();
            Tensor::from_slice(&v).reshape([l.len() as i64, 1])
        }),
    }
}

fn finish(
    cfg: &Config,
    trained: Trained,
    mut frame: Frame,
    xt: &Tensor,
    coords: ArrayView2<f64>,
    device: Device,
    refit: bool,
) -> Result<FitOutput> {
    // training's freed temporaries go back to the system before all cells are encoded (lower peak)
    crate::memory::release_free_memory();
    let weights = checkpoint::save(&trained.vs)?;
    let encoder = Encoder::load(cfg.clone(), &weights, frame.clone(), device)?;
    let latent = encoder.encode_mean(xt)?;
    let scale = encoder.scale();
    if refit {
        frame.fit_projection(latent.view())?;
    }
    let std_pred = frame.latent_to_std(latent.view(), scale)?;
    frame.fit_alignment(std_pred.view(), coords)?;
    let coords_out = frame.to_reference(std_pred.view())?;
    Ok(FitOutput {
        weights,
        frame,
        history: trained.history,
        epochs_run: trained.epochs_run,
        best_epoch: trained.best_epoch,
        interrupted: trained.interrupted,
        scale,
        validation: trained.validation,
        prediction: Prediction {
            latent,
            coords: coords_out,
            uncertainty: None,
        },
    })
}

/// Train on the cells of `inp` with coordinates `coords` (cells × 2 or 3) and the pair mask.
pub fn fit(
    inp: &Inputs,
    coords: ArrayView2<f64>,
    pairs: &PairSet,
    cfg: &Config,
    device: Device,
    on_epoch: &mut dyn FnMut(&EpochStats) -> Control,
) -> Result<FitOutput> {
    check_inputs(inp, &coords, cfg)?;
    let _exclusive = train::exclusive(cfg.num_threads);
    let frame = Frame::fit(coords)?;
    let s = to_tensor(frame.standardise(coords).view());
    let tgt = target(inp);
    let trained = train::train(&tgt, &s, pairs, cfg, device, None, on_epoch)?;
    finish(cfg, trained, frame, &tgt.x, coords, device, true)
}

/// Continue training a stored model on new cells (e.g. a few cells of another section with
/// known coordinates, in the reference's units), then re-fit the alignment on them.
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    cfg: &Config,
    weights: &[u8],
    frame: &Frame,
    inp: &Inputs,
    coords: ArrayView2<f64>,
    pairs: &PairSet,
    device: Device,
    on_epoch: &mut dyn FnMut(&EpochStats) -> Control,
) -> Result<FitOutput> {
    check_inputs(inp, &coords, cfg)?;
    if coords.ncols() != frame.centre.len() {
        return Err(DpvaeError::Input(format!(
            "the model was trained on {}-D coordinates, these have {}",
            frame.centre.len(),
            coords.ncols()
        )));
    }
    let _exclusive = train::exclusive(cfg.num_threads);
    let s = to_tensor(frame.standardise(coords).view());
    let tgt = target(inp);
    let trained = train::train(&tgt, &s, pairs, cfg, device, Some(weights), on_epoch)?;
    finish(cfg, trained, frame.clone(), &tgt.x, coords, device, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::procrustes::procrustes;
    use ndarray::Array2;

    fn encoder(c: &Config, out: &FitOutput) -> Encoder {
        Encoder::load(c.clone(), &out.weights, out.frame.clone(), Device::Cpu).unwrap()
    }

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

    fn inputs(x: &Array2<f64>) -> Inputs<'static> {
        Inputs {
            x: to_tensor(x.view()),
            counts: None,
            library: None,
        }
    }

    fn run(x: &Array2<f64>, s: &Array2<f64>, c: &Config) -> Result<FitOutput> {
        fit(
            &inputs(x),
            s.view(),
            &PairSet::All,
            c,
            Device::Cpu,
            &mut |_| Control::Continue,
        )
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
        let dp = run(&x, &s, &cfg(1.0)).unwrap();
        let vae = run(&x, &s, &cfg(0.0)).unwrap();
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
    fn the_kept_state_has_the_recorded_best_stress() {
        // full batch, all pairs: the stress is read off the training pass (state before the step)
        let (x, s) = toy(40);
        let c = Config {
            epochs: 120,
            num_threads: 1,
            ..cfg(1.0)
        };
        let out = run(&x, &s, &c).unwrap();
        assert!(out.best_epoch > c.warmup);
        let recorded = out.history[out.best_epoch - 1].monitor_stress;
        let mu = to_tensor(out.prediction.latent.view());
        let ds = super::super::loss::pairwise_distances(&to_tensor(
            out.frame.standardise(s.view()).view(),
        ));
        let kept = super::super::loss::monitor_stress(&mu, &ds, out.scale);
        assert!(
            (kept - recorded).abs() < 2e-5 * recorded.max(1e-3),
            "kept state {kept} vs recorded best {recorded}"
        );
        let best = out
            .history
            .iter()
            .map(|h| h.monitor_stress)
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        assert!((best - recorded).abs() < 1e-12);
    }

    /// A fit with rounded arithmetic places its training cells about as well as the f32 fit.
    fn assert_similar_training_error(s: &Array2<f64>, rounded: &FitOutput, single: &FitOutput) {
        let err = |o: &FitOutput| {
            procrustes(s.view(), o.prediction.coords.view())
                .unwrap()
                .disparity
        };
        let (r, f) = (err(rounded), err(single));
        assert!((r - f).abs() < 0.05, "rounded {r} vs f32 {f}");
    }

    #[test]
    fn half_precision_input_trains_and_predict_matches_fit() {
        // minibatches, validation cells and the monitor all read rows of the f16 tensor
        let (x, s) = toy(80);
        let c = Config {
            epochs: 60,
            batch_size: 32,
            validation: 0.2,
            num_threads: 1,
            half_input: true,
            ..cfg(1.0)
        };
        let half = Inputs {
            x: to_tensor(x.view()).to_kind(Kind::Half),
            counts: None,
            library: None,
        };
        let out = fit(&half, s.view(), &PairSet::All, &c, Device::Cpu, &mut |_| {
            Control::Continue
        })
        .unwrap();
        let p = encoder(&c, &out).predict(x.view(), 0, 1, 1).unwrap();
        assert_eq!(p.coords, out.prediction.coords);
        let single = run(
            &x,
            &s,
            &Config {
                half_input: false,
                ..c.clone()
            },
        )
        .unwrap();
        assert_similar_training_error(&s, &out, &single);
    }

    #[test]
    fn bf16_products_train_reproducibly_and_predict_matches_fit() {
        // minibatches with the expression's products in bfloat16 (precision.rs)
        let (x, s) = toy(80);
        let c = Config {
            epochs: 60,
            batch_size: 32,
            validation: 0.2,
            num_threads: 1,
            bf16_products: true,
            ..cfg(1.0)
        };
        let a = run(&x, &s, &c).unwrap();
        let b = run(&x, &s, &c).unwrap();
        assert_eq!(a.prediction.coords, b.prediction.coords);
        let p = encoder(&c, &a).predict(x.view(), 0, 1, 1).unwrap();
        assert_eq!(p.coords, a.prediction.coords);
        let single = run(
            &x,
            &s,
            &Config {
                bf16_products: false,
                ..c.clone()
            },
        )
        .unwrap();
        assert_ne!(a.prediction.coords, single.prediction.coords);
        assert_similar_training_error(&s, &a, &single);
    }

    #[test]
    fn same_seed_same_result_and_predict_matches_fit() {
        let (x, s) = toy(30);
        // a fixed thread count: other tests running in parallel change the global one
        let c = Config {
            epochs: 40,
            num_threads: 1,
            ..cfg(1.0)
        };
        let a = run(&x, &s, &c).unwrap();
        let b = run(&x, &s, &c).unwrap();
        assert_eq!(a.prediction.coords, b.prediction.coords);
        let p = encoder(&c, &a).predict(x.view(), 0, 1, 1).unwrap();
        assert_eq!(p.coords, a.prediction.coords);
    }

    #[test]
    fn interrupt_stops_early_and_bad_input_is_refused() {
        let (x, s) = toy(30);
        let c = Config {
            report_every: 1,
            ..cfg(1.0)
        };
        let out = fit(
            &inputs(&x),
            s.view(),
            &PairSet::All,
            &c,
            Device::Cpu,
            &mut |st| {
                if st.epoch >= 5 {
                    Control::Interrupt
                } else {
                    Control::Continue
                }
            },
        )
        .unwrap();
        assert!(out.interrupted);
        assert_eq!(out.epochs_run, 5);
        let mut bad = x.clone();
        bad[[2, 3]] = f64::NAN;
        assert!(matches!(run(&bad, &s, &c), Err(DpvaeError::Input(_))));
        let two = s.slice(ndarray::s![0..2, ..]).to_owned();
        let x2 = x.slice(ndarray::s![0..2, ..]).to_owned();
        assert!(matches!(run(&x2, &two, &c), Err(DpvaeError::Input(_))));
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
        let r = run(&x, &s, &c);
        assert!(matches!(r, Err(DpvaeError::Training(_))), "{:?}", r.err());
    }

    #[test]
    fn minibatch_and_full_batch_agree_on_small_data() {
        let (x, s) = toy(60);
        let full = run(&x, &s, &cfg(1.0)).unwrap();
        let mini = run(
            &x,
            &s,
            &Config {
                batch_size: 20,
                ..cfg(1.0)
            },
        )
        .unwrap();
        let e_full = procrustes(s.view(), full.prediction.coords.view())
            .unwrap()
            .disparity;
        let e_mini = procrustes(s.view(), mini.prediction.coords.view())
            .unwrap()
            .disparity;
        assert!(
            e_mini < 0.2 && (e_full - e_mini).abs() < 0.15,
            "full {e_full} mini {e_mini}"
        );
    }

    #[test]
    fn masks_train_and_explicit_pairs_work_in_minibatches() {
        let (x, s) = toy(60);
        // spatial 4-NN pairs, built by brute force
        let (mut pi, mut pj) = (Vec::new(), Vec::new());
        for a in 0..60 {
            let mut d: Vec<(f64, usize)> = (0..60)
                .filter(|&b| b != a)
                .map(|b| ((s[[a, 0]] - s[[b, 0]]).hypot(s[[a, 1]] - s[[b, 1]]), b))
                .collect();
            d.sort_by(|p, q| p.0.total_cmp(&q.0));
            for &(_, b) in &d[..4] {
                pi.push(a.min(b) as i64);
                pj.push(a.max(b) as i64);
            }
        }
        let knn = PairSet::Explicit { i: pi, j: pj };
        for c in [
            cfg(1.0),
            Config {
                batch_size: 16,
                ..cfg(1.0)
            },
        ] {
            let out = fit(&inputs(&x), s.view(), &knn, &c, Device::Cpu, &mut |_| {
                Control::Continue
            })
            .unwrap();
            let e = procrustes(s.view(), out.prediction.coords.view())
                .unwrap()
                .disparity;
            assert!(e < 0.5, "kNN-masked fit error {e}");
            assert!(out.history.iter().skip(c.warmup).all(|h| h.dp > 0.0));
        }
        let groups = PairSet::Groups((0..60).map(|i| (i % 2) as i64).collect());
        let out = fit(
            &inputs(&x),
            s.view(),
            &groups,
            &cfg(1.0),
            Device::Cpu,
            &mut |_| Control::Continue,
        )
        .unwrap();
        assert!(out.history.last().unwrap().dp.is_finite());
    }

    #[test]
    fn count_likelihoods_lower_their_loss() {
        let (x, s) = toy(40);
        let counts = x.mapv(|v| ((v + 1.0) * 5.0).round());
        let lib: Vec<f64> = counts.outer_iter().map(|r| r.sum() + 10.0).collect();
        for lik in [Likelihood::Nb, Likelihood::Zinb] {
            // a fixed thread count (as below): another test changing the global one between the fit's
            // final encoding and predict() changes the f64 products' last bits
            let c = Config {
                likelihood: lik,
                epochs: 120,
                num_threads: 1,
                ..cfg(1.0)
            };
            let inp = Inputs {
                x: to_tensor(x.view()),
                counts: Some(counts.view()),
                library: Some(&lib),
            };
            let out = fit(&inp, s.view(), &PairSet::All, &c, Device::Cpu, &mut |_| {
                Control::Continue
            })
            .unwrap();
            let first = out.history.first().unwrap().recon;
            let last = out.history.last().unwrap().recon;
            assert!(last < first, "{lik:?}: recon {first} -> {last}");
            let p = encoder(&c, &out).predict(x.view(), 0, 1, 1).unwrap();
            assert_eq!(p.coords, out.prediction.coords);
        }
        let bad = counts.mapv(|v| v + 0.5);
        let inp = Inputs {
            x: to_tensor(x.view()),
            counts: Some(bad.view()),
            library: Some(&lib),
        };
        let c = Config {
            likelihood: Likelihood::Nb,
            ..cfg(1.0)
        };
        assert!(matches!(
            fit(&inp, s.view(), &PairSet::All, &c, Device::Cpu, &mut |_| {
                Control::Continue
            }),
            Err(DpvaeError::Input(_))
        ));
    }

    #[test]
    fn wider_latent_is_projected_and_uncertainty_is_reported() {
        let (x, s) = toy(50);
        let c = Config {
            latent_dim: 4,
            num_threads: 1,
            ..cfg(1.0)
        };
        let out = run(&x, &s, &c).unwrap();
        assert_eq!(out.prediction.latent.ncols(), 4);
        let e = procrustes(s.view(), out.prediction.coords.view())
            .unwrap()
            .disparity;
        assert!(e < 0.3, "{e}");
        let p = encoder(&c, &out).predict(x.view(), 20, 3, 1).unwrap();
        assert_eq!(p.coords, out.prediction.coords);
        let u = p.uncertainty.unwrap();
        assert!(u.iter().all(|v| v.is_finite() && *v > 0.0));
    }

    #[test]
    fn validation_cells_are_held_out_and_finetuning_continues_training() {
        let (x, s) = toy(60);
        let c = Config {
            validation: 0.2,
            ..cfg(1.0)
        };
        let out = run(&x, &s, &c).unwrap();
        assert_eq!(out.validation.len(), 12);
        assert!(out
            .history
            .iter()
            .skip(c.warmup)
            .all(|h| h.monitor_stress.is_finite()));
        // fine-tune on the second half only, starting from the model
        let half = x.slice(ndarray::s![30.., ..]).to_owned();
        let shalf = s.slice(ndarray::s![30.., ..]).to_owned();
        let ft_cfg = Config {
            epochs: 30,
            warmup: 0,
            validation: 0.0,
            ..c.clone()
        };
        let ft = finetune(
            &ft_cfg,
            &out.weights,
            &out.frame,
            &inputs(&half),
            shalf.view(),
            &PairSet::All,
            Device::Cpu,
            &mut |_| Control::Continue,
        )
        .unwrap();
        assert_eq!(ft.epochs_run, 30);
        assert!(
            (ft.history[0].scale - out.scale).abs() / out.scale < 0.2,
            "scale kept"
        );
        let e = procrustes(shalf.view(), ft.prediction.coords.view())
            .unwrap()
            .disparity;
        assert!(e < 0.3, "{e}");
    }
}
