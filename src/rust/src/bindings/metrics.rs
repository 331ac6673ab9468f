//! Metric shims: Procrustes, Moran's I / Geary's C, distance–expression correlation, distortion.
//!
//! Expression arrives genes × cells either as a base-R double matrix (`dense`, column-major,
//! viewed without copying) or as the slots of a `dgCMatrix` (`p`, `i`, `x`, viewed without
//! copying as `GeneMatrix::SparseCsc`). Work runs in a rayon pool of `num_threads` threads
//! (0 = rayon's default); the cores are written so that results do not depend on it.
use extendr_api::prelude::*;
use ndarray::{ArrayView2, ShapeBuilder};

use super::conditions::guarded;
use super::convert::{matrix_view, settings, to_rmatrix, Fields};
use crate::error::{DpvaeError, Result};
use crate::metrics::autocorrelation::{moran_geary, Alternative, AutocorrOptions, GeneMatrix};
use crate::metrics::correlation::{
    pair_cells, spatial_expression_correlation, spatial_expression_correlation_of_cells,
    CorrelationOptions, Dissimilarity,
};
use crate::metrics::distortion::distortion;
use crate::metrics::knn::knn_indices;
use crate::metrics::procrustes::procrustes;
use crate::metrics::weights::SpatialWeights;
use crate::threads;

/// @noRd
#[extendr]
fn procrustes_impl(x: RMatrix<f64>, y: RMatrix<f64>) -> Robj {
    guarded(|| {
        let p = procrustes(matrix_view(&x)?, matrix_view(&y)?)?;
        Ok(list!(
            disparity = p.disparity,
            x = to_rmatrix(&p.x_std),
            y = to_rmatrix(&p.y_aligned)
        )
        .into())
    })
}

fn dim(v: i32, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| DpvaeError::Input(format!("{what} must be >= 0, got {v}")))
}

/// The genes × cells expression as R's `expr_args()` sends it: `dense` (a double matrix, column-major) when
/// it is not NULL, else the dgCMatrix slots `p`, `i`, `x`; and `nrow`, `ncol`.
struct ExpressionArgs {
    dense: Robj,
    p: Robj,
    i: Robj,
    x: Robj,
    nrow: usize,
    ncol: usize,
}

impl ExpressionArgs {
    fn from_list(list: List) -> Result<Self> {
        let mut fields = Fields::of(list);
        let mut take = |name: &str| fields.take(name);
        let size = |v: Robj, what: &str| -> Result<usize> {
            v.as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .or_else(|| v.as_real().filter(|n| *n >= 0.0).map(|n| n as usize))
                .ok_or_else(|| DpvaeError::Input(format!("expression: `{what}` must be a count")))
        };
        let (nrow, ncol) = (size(take("nrow"), "nrow")?, size(take("ncol"), "ncol")?);
        Ok(ExpressionArgs {
            dense: take("dense"),
            p: take("p"),
            i: take("i"),
            x: take("x"),
            nrow,
            ncol,
        })
    }

    /// A view of the expression (no copy).
    fn view(&self) -> Result<GeneMatrix<'_>> {
        if !self.dense.is_null() {
            let s = self.dense.as_real_slice().ok_or_else(|| {
                DpvaeError::Input("expression must be a double matrix or a dgCMatrix".into())
            })?;
            let v = ArrayView2::from_shape((self.nrow, self.ncol).f(), s)
                .map_err(|e| DpvaeError::Input(format!("not a valid expression matrix: {e}")))?;
            return Ok(GeneMatrix::Dense(v));
        }
        let bad = || DpvaeError::Input("expression: invalid dgCMatrix slots".into());
        Ok(GeneMatrix::SparseCsc {
            nrow: self.nrow,
            ncol: self.ncol,
            p: self.p.as_integer_slice().ok_or_else(bad)?,
            i: self.i.as_integer_slice().ok_or_else(bad)?,
            x: self.x.as_real_slice().ok_or_else(bad)?,
        })
    }
}

fn coords_view(c: &RMatrix<f64>) -> Result<ArrayView2<'_, f64>> {
    matrix_view(c)
}

/// Where the spatial weights come from (R objects already read into plain Rust values, so
/// the work can move to other threads).
enum WeightsInput<'a> {
    /// kNN on these coordinates (n × 2 or 3).
    Knn(ArrayView2<'a, f64>, usize),
    /// CSR arrays (0-based): `indptr` (n + 1), `indices`, `values`.
    Csr(Vec<usize>, Vec<usize>, Vec<f64>),
}

/// The weights input: kNN from `coords` when `k > 0`, else the CSR arrays `w_p`, `w_j`, `w_x`.
fn weights_input<'a>(
    coords: &'a Robj,
    k: i32,
    [w_p, w_j, w_x]: [&Robj; 3],
    n: usize,
) -> Result<WeightsInput<'a>> {
    if k > 0 {
        let s = coords
            .as_real_slice()
            .ok_or_else(|| DpvaeError::Input("coordinates must be a double matrix".into()))?;
        let d = s.len().checked_div(n).unwrap_or(0);
        if d == 0 || d * n != s.len() {
            return Err(DpvaeError::Input(format!(
                "coordinates must have one row per cell ({n} cells)"
            )));
        }
        let v = ArrayView2::from_shape((n, d).f(), s)
            .map_err(|e| DpvaeError::Input(format!("not a valid coordinate matrix: {e}")))?;
        return Ok(WeightsInput::Knn(v, k as usize));
    }
    let bad = || DpvaeError::Input("weights: invalid sparse arrays".into());
    let to_usize = |v: &[i32]| -> Result<Vec<usize>> {
        v.iter()
            .map(|&a| usize::try_from(a).map_err(|_| bad()))
            .collect()
    };
    Ok(WeightsInput::Csr(
        to_usize(w_p.as_integer_slice().ok_or_else(bad)?)?,
        to_usize(w_j.as_integer_slice().ok_or_else(bad)?)?,
        w_x.as_real_slice().ok_or_else(bad)?.to_vec(),
    ))
}

/// Build the weights. `style`: "B" binary (non-zero weights become 1), "W" row-standardised,
/// anything else: as given (user weights only; kNN weights are binary then).
fn build_weights(input: WeightsInput, n: usize, style: &str) -> Result<SpatialWeights> {
    let w = match input {
        WeightsInput::Knn(c, k) => {
            let knn = knn_indices(c, k)?;
            return SpatialWeights::from_knn(&knn, style != "W");
        }
        WeightsInput::Csr(p, j, x) => SpatialWeights::from_csr(n, p, j, x)?,
    };
    Ok(match style {
        "B" => {
            let mut w = w;
            for v in &mut w.values {
                *v = if *v != 0.0 { 1.0 } else { 0.0 };
            }
            w
        }
        "W" => w.row_standardise(),
        _ => w,
    })
}

fn alternative(a: &str) -> Result<Alternative> {
    match a {
        "greater" => Ok(Alternative::Greater),
        "less" => Ok(Alternative::Less),
        "two.sided" => Ok(Alternative::TwoSided),
        _ => Err(DpvaeError::Input(format!(
            "alternative must be \"greater\", \"less\" or \"two.sided\", not \"{a}\""
        ))),
    }
}

/// How `moran_geary_impl` tests (from R as JSON).
#[derive(serde::Deserialize)]
struct AutocorrelationSettings {
    /// "B" binary, "W" row-standardised, "" as given.
    style: String,
    n_perm: usize,
    seed: u64,
    alternative: String,
    /// 0 = rayon's default.
    num_threads: usize,
}

/// Moran's I and Geary's C of every gene with spdep's tests; one numeric vector per field.
/// `weights`: list(coords, k) for kNN weights (k > 0), or list(k = 0, p, j, x) in CSR form.
/// @noRd
#[extendr]
fn moran_geary_impl(expression: List, weights: List, settings_json: &str) -> Robj {
    guarded(|| -> Result<Robj> {
        let args = ExpressionArgs::from_list(expression)?;
        let expr = args.view()?;
        let set: AutocorrelationSettings = settings(settings_json, "autocorrelation")?;
        let opts = AutocorrOptions {
            n_perm: set.n_perm,
            seed: set.seed,
            alternative: alternative(&set.alternative)?,
            adjust_n: true,
        };
        let mut w = Fields::of(weights);
        let mut take = |name: &str| w.take(name);
        let (coords, k) = (take("coords"), take("k").as_integer().unwrap_or(0));
        let csr = [take("p"), take("j"), take("x")];
        let input = weights_input(&coords, k, [&csr[0], &csr[1], &csr[2]], args.ncol)?;
        let res = threads::in_pool(set.num_threads, || {
            let w = build_weights(input, args.ncol, &set.style)?;
            moran_geary(&expr, &w, &opts)
        })?;
        let col = |f: &dyn Fn(&crate::metrics::autocorrelation::GeneAutocorr) -> f64| {
            res.iter().map(f).collect::<Vec<f64>>()
        };
        let stats = |moran: bool| -> Robj {
            let pick = move |r: &crate::metrics::autocorrelation::GeneAutocorr| {
                if moran {
                    r.moran
                } else {
                    r.geary
                }
            };
            list!(
                statistic = col(&|r| pick(r).statistic),
                expected = col(&|r| pick(r).expected),
                variance_randomisation = col(&|r| pick(r).variance_randomisation),
                z_randomisation = col(&|r| pick(r).z),
                p_randomisation = col(&|r| pick(r).p_value),
                variance_normal = col(&|r| pick(r).variance_normal),
                z_normal = col(&|r| pick(r).z_normal),
                p_normal = col(&|r| pick(r).p_value_normal),
                p_perm = col(&|r| pick(r).p_value_perm.unwrap_or(f64::NAN))
            )
            .into()
        };
        Ok(list!(
            moran = stats(true),
            geary = stats(false),
            constant = res.iter().map(|r| r.constant).collect::<Vec<bool>>()
        )
        .into())
    })
}

/// 1-based kNN indices (n × k integer matrix), as spdep's `knearneigh(coords, k)$nn`.
/// @noRd
#[extendr]
fn knn_impl(coords: RMatrix<f64>, k: i32, num_threads: i32) -> Robj {
    guarded(|| -> Result<Robj> {
        let k = dim(k, "k")?;
        let c = coords_view(&coords)?;
        let nn = threads::in_pool(num_threads.max(0) as usize, || knn_indices(c, k))?;
        let m = RMatrix::new_matrix(nn.len(), k, |r, c| (nn[r][c] + 1) as i32);
        Ok(m.into())
    })
}

/// How `spatial_expression_correlation_impl` samples and tests (from R as JSON).
#[derive(serde::Deserialize)]
struct CorrelationSettings {
    /// "pearson" (1 - Pearson r) or "euclidean".
    dissimilarity: String,
    max_cells: usize,
    n_pairs: usize,
    n_perm: usize,
    seed: u64,
    num_threads: usize,
}

impl CorrelationSettings {
    fn options(&self) -> Result<CorrelationOptions> {
        Ok(CorrelationOptions {
            dissimilarity: match self.dissimilarity.as_str() {
                "pearson" => Dissimilarity::Pearson,
                "euclidean" => Dissimilarity::Euclidean,
                d => {
                    return Err(DpvaeError::Input(format!(
                        "dissimilarity must be \"pearson\" or \"euclidean\", not \"{d}\""
                    )))
                }
            },
            max_cells: self.max_cells,
            n_pairs: self.n_pairs,
            n_perm: self.n_perm,
            seed: self.seed,
        })
    }
}

/// Correlation of spatial distance and expression dissimilarity (paper Fig. 2). `cells`: NULL
/// (`expression` holds every cell) or the 1-based cells its columns are (`pair_cells_impl`).
/// @noRd
#[extendr]
fn spatial_expression_correlation_impl(
    expression: List,
    coords: RMatrix<f64>,
    cells: Robj,
    settings_json: &str,
) -> Robj {
    guarded(|| -> Result<Robj> {
        let args = ExpressionArgs::from_list(expression)?;
        let expr = args.view()?;
        let set: CorrelationSettings = settings(settings_json, "correlation")?;
        let opts = set.options()?;
        let cells = zero_based_cells(&cells)?;
        let c = coords_view(&coords)?;
        let r = threads::in_pool(set.num_threads, || match &cells {
            Some(cells) => spatial_expression_correlation_of_cells(&expr, cells, c, &opts),
            None => spatial_expression_correlation(&expr, c, &opts),
        })?;
        Ok(list!(
            pearson = r.pearson,
            spearman = r.spearman,
            p_value_pearson = r.p_value_pearson.unwrap_or(f64::NAN),
            p_value_spearman = r.p_value_spearman.unwrap_or(f64::NAN),
            n_pairs = r.n_pairs as f64,
            n_pairs_dropped = r.n_pairs_dropped as f64,
            sampled = r.sampled
        )
        .into())
    })
}

/// NULL, or 1-based cell indices as 0-based.
fn zero_based_cells(cells: &Robj) -> Result<Option<Vec<u32>>> {
    if cells.is_null() {
        return Ok(None);
    }
    let v = cells
        .as_integer_slice()
        .ok_or_else(|| DpvaeError::Input("cells must be an integer vector".into()))?;
    v.iter()
        .map(|&c| {
            u32::try_from(c)
                .ok()
                .and_then(|c| c.checked_sub(1))
                .ok_or_else(|| DpvaeError::Input(format!("invalid cell index {c}")))
        })
        .collect::<Result<Vec<u32>>>()
        .map(Some)
}

/// The 1-based cells (sorted) whose expression the pairs of `n` cells need.
/// @noRd
#[extendr]
fn pair_cells_impl(n: f64, settings_json: &str) -> Robj {
    guarded(|| -> Result<Robj> {
        let opts = settings::<CorrelationSettings>(settings_json, "correlation")?.options()?;
        let cells = pair_cells(n as usize, &opts)?;
        Ok(cells
            .iter()
            .map(|&c| c as i32 + 1)
            .collect::<Vec<i32>>()
            .into_robj())
    })
}

/// Distortion / bi-Lipschitz constants of latent vs spatial distances.
/// @noRd
#[extendr]
fn distortion_impl(
    latent: RMatrix<f64>,
    coords: RMatrix<f64>,
    max_pairs: f64,
    seed: f64,
    num_threads: i32,
) -> Robj {
    guarded(|| -> Result<Robj> {
        let (l, c) = (matrix_view(&latent)?, coords_view(&coords)?);
        let d = threads::in_pool(num_threads.max(0) as usize, || {
            distortion(l, c, max_pairs as usize, seed as u64)
        })?;
        Ok(list!(
            lower = d.lower,
            upper = d.upper,
            distortion = d.distortion,
            q01 = d.q01,
            q99 = d.q99,
            robust_distortion = d.robust_distortion,
            median = d.median,
            stress = d.stress1,
            scale = d.scale,
            n_pairs = d.n_pairs as f64,
            n_ratio_pairs = d.n_ratio_pairs as f64,
            sampled = d.sampled
        )
        .into())
    })
}

extendr_module! {
    mod metrics_bindings;
    fn procrustes_impl;
    fn moran_geary_impl;
    fn knn_impl;
    fn spatial_expression_correlation_impl;
    fn pair_cells_impl;
    fn distortion_impl;
}
