//! Distance-geometry shims: SMACOF (plain, fixed rows, penalised) and imputation of cells
//! without coordinates from a model's latent space.
use extendr_api::prelude::*;
use ndarray::Array2;

use super::conditions::guarded;
use super::convert::{matrix_view, one_based, settings, to_rmatrix};
use super::interrupt::interrupted;
use crate::error::{DpvaeError, Result};
use crate::geometry::constrained::{smacof_fixed_with_callback, smacof_penalized_with_callback};
use crate::geometry::impute::{impute_latent, ImputeOptions};
use crate::geometry::neighbours::nearest_rows;
use crate::geometry::smacof::{smacof_with_callback, Init, SmacofOptions};
use crate::vae::frame::Frame;

/// Interrupt checks every `CHECK_EVERY` SMACOF updates (an O(n²) pass each).
const CHECK_EVERY: usize = 5;

fn opt_matrix(x: &Robj, name: &str) -> Result<Option<RMatrix<f64>>> {
    if x.is_null() {
        return Ok(None);
    }
    RMatrix::<f64>::try_from(x.clone())
        .map(Some)
        .map_err(|_| DpvaeError::Input(format!("`{name}` must be a numeric matrix")))
}

fn count(x: i32, name: &str) -> Result<usize> {
    usize::try_from(x).map_err(|_| DpvaeError::Input(format!("`{name}` must be >= 0, got {x}")))
}

/// How `smacof_impl` runs (from R as JSON).
#[derive(serde::Deserialize)]
struct SmacofSettings {
    /// "classical", "random" or "given" (then `init` is the matrix).
    init_kind: String,
    /// Penalty weight of the known rows; 0 = hard constraint.
    mu: f64,
    ndim: usize,
    max_iter: usize,
    eps: f64,
    n_init: usize,
    seed: u64,
    /// Call `progress` every this many updates (0 = never).
    report_every: usize,
}

/// @noRd
#[extendr]
fn smacof_impl(
    delta: RMatrix<f64>,
    weights: Robj,
    init: Robj,
    fixed: &[i32],
    progress: Function,
    settings_json: &str,
) -> Robj {
    guarded(|| -> Result<Robj> {
        let set: SmacofSettings = settings(settings_json, "SMACOF")?;
        let weights = opt_matrix(&weights, "weights")?;
        let init = opt_matrix(&init, "init")?;
        let init_view = match &init {
            Some(m) => Some(matrix_view(m)?),
            None => None,
        };
        let start = match (set.init_kind.as_str(), &init_view) {
            ("given", Some(v)) if v.iter().all(|x| x.is_finite()) => Init::Given(v.to_owned()),
            ("given", Some(_)) | ("classical", _) => Init::Classical,
            ("random", _) => Init::Random,
            (other, _) => {
                return Err(DpvaeError::Input(format!(
                    "`init` must be \"classical\", \"random\" or a matrix, not \"{other}\""
                )))
            }
        };
        let opts = SmacofOptions {
            ndim: set.ndim,
            max_iter: set.max_iter,
            eps: set.eps,
            n_init: set.n_init,
            seed: set.seed,
            init: start,
        };
        let (every, mu) = (set.report_every, set.mu);
        let mut cb = |it: usize, objective: f64| -> bool {
            if it % CHECK_EVERY == 0 && interrupted() {
                return false;
            }
            if every > 0 && it % every == 0 {
                if let Ok(v) = progress.call(pairlist!(it as i32, objective)) {
                    if v.as_bool() == Some(false) {
                        return false;
                    }
                }
            }
            true
        };
        let dv = matrix_view(&delta)?;
        let wv = match &weights {
            Some(w) => Some(matrix_view(w)?),
            None => None,
        };
        let mask: Vec<bool> = fixed.iter().map(|&f| f != 0).collect();
        let res = if mask.iter().any(|&f| f) {
            let coords = init_view.ok_or_else(|| {
                DpvaeError::Input("`fixed` needs `init` as a matrix of coordinates".into())
            })?;
            if mu > 0.0 {
                smacof_penalized_with_callback(dv, wv, &mask, coords, mu, &opts, &mut cb)?
            } else {
                smacof_fixed_with_callback(dv, wv, &mask, coords, &opts, &mut cb)?
            }
        } else {
            smacof_with_callback(dv, wv, &opts, &mut cb)?
        };
        Ok(list!(
            coords = to_rmatrix(&res.coords),
            stress = res.raw_stress,
            stress1 = res.stress1,
            iterations = res.iterations as i32,
            converged = res.converged,
            stress_history = res.objective_history
        )
        .into())
    })
}

/// How `impute_impl` places cells (from R as JSON; see `ImputeOptions`).
#[derive(serde::Deserialize)]
struct ImputeSettings {
    /// The model's learned scale c (latent distance per standardised spatial unit).
    scale: f64,
    max_landmarks: usize,
    k: usize,
    max_iter: usize,
    eps: f64,
    refine_max: usize,
    refine_iter: usize,
    seed: u64,
    verbose: bool,
}

/// @noRd
#[extendr]
fn impute_impl(
    latent_new: RMatrix<f64>,
    latent_fixed: RMatrix<f64>,
    fixed_coords: RMatrix<f64>,
    frame_json: &str,
    progress: Function,
    settings_json: &str,
) -> Robj {
    guarded(|| -> Result<Robj> {
        let set: ImputeSettings = settings(settings_json, "imputation")?;
        let frame = Frame::from_json(frame_json)?;
        let opts = ImputeOptions {
            max_landmarks: set.max_landmarks,
            k: set.k,
            max_iter: set.max_iter,
            eps: set.eps,
            refine_max: set.refine_max,
            refine_iter: set.refine_iter,
            seed: set.seed,
            ..ImputeOptions::default()
        };
        let (scale, verbose) = (set.scale, set.verbose);
        let mut cb = |done: usize, total: usize| -> bool {
            if interrupted() {
                return false;
            }
            if verbose {
                if let Ok(v) = progress.call(pairlist!(done as f64, total as f64)) {
                    if v.as_bool() == Some(false) {
                        return false;
                    }
                }
            }
            true
        };
        let res = impute_latent(
            matrix_view(&latent_new)?,
            matrix_view(&latent_fixed)?,
            matrix_view(&fixed_coords)?,
            scale,
            &frame.centre,
            frame.unit,
            &opts,
            &mut cb,
        )?;
        let coords: Array2<f64> = res.coords;
        Ok(list!(
            coords = to_rmatrix(&coords),
            stress1 = res.stress1,
            converged = res.converged,
            landmarks = one_based(&res.landmarks),
            refined = res.refined,
            refine_iterations = res.refine_iterations as i32
        )
        .into())
    })
}

/// `k` nearest reference rows of each query row (latent space): list(index = 1-based integer
/// matrix, distance = double matrix), rows sorted by distance. `exclude_self`: leave-one-out
/// on the reference itself.
/// @noRd
#[extendr]
fn nearest_rows_impl(
    query: RMatrix<f64>,
    reference: RMatrix<f64>,
    k: i32,
    exclude_self: bool,
    num_threads: i32,
) -> Robj {
    guarded(|| -> Result<Robj> {
        let k = count(k, "k")?;
        let threads = count(num_threads, "num.threads")?;
        let nb = nearest_rows(
            matrix_view(&query)?,
            matrix_view(&reference)?,
            k,
            exclude_self,
            threads,
            || !interrupted(),
        )?;
        let index = RMatrix::new_matrix(nb.index.nrows(), k, |r, c| nb.index[[r, c]] as i32 + 1);
        Ok(list!(index = index, distance = to_rmatrix(&nb.distance)).into())
    })
}

extendr_module! {
    mod geometry_bindings;
    fn smacof_impl;
    fn impute_impl;
    fn nearest_rows_impl;
}
