//! Distance geometry core: classical (Torgerson) MDS, weighted metric SMACOF, SMACOF with
//! fixed or penalised rows (imputation of cells with known coordinates) and out-of-sample
//! placement of new points against fixed landmarks.
//!
//! Pure Rust: `ndarray` in, `ndarray` out, [`crate::error::Result`] everywhere, no R types.
//! Matrices are row-major `n × n` dissimilarities and `n × ndim` coordinates.
//!
//! Input conventions shared by every entry point:
//! * dissimilarities are finite, non-negative, symmetric (asymmetry up to `1e-8 · max|δ|` is
//!   averaged away) with a zero diagonal (again up to that tolerance);
//! * weights, when given, have the same shape, are finite, non-negative and symmetric; the
//!   diagonal is ignored; a weight of 0 marks a missing dissimilarity.

pub mod classical;
pub mod constrained;
pub mod impute;
pub mod landmark;
pub mod neighbours;
pub mod smacof;

pub use classical::classical_mds;
pub use constrained::{smacof_fixed, smacof_penalized};
pub use landmark::{place_points_latent_detailed, place_points_weighted_fn, Placement};
pub use smacof::{smacof, Init, SmacofOptions, SmacofResult};

use ndarray::{Array1, Array2, ArrayView2, Axis, CowArray, Ix2};

use crate::metrics::procrustes::{fit_similarity, Similarity};

use crate::error::{DpvaeError, Result};

/// Relative tolerance (× max |entry|) for the symmetry and zero-diagonal checks.
pub(crate) const SYM_TOL: f64 = 1e-8;

pub(crate) fn input_err<S: Into<String>>(msg: S) -> DpvaeError {
    DpvaeError::Input(msg.into())
}

/// Borrow the contiguous row-major data of a standard-layout array.
pub(crate) fn std_slice<'b>(a: &'b CowArray<'_, f64, Ix2>) -> Result<&'b [f64]> {
    a.as_slice()
        .ok_or_else(|| DpvaeError::Numeric("internal: matrix is not contiguous".into()))
}

/// Borrow a view as is when it is already row-major contiguous, copy it otherwise.
fn standard(a: ArrayView2<'_, f64>) -> CowArray<'_, f64, Ix2> {
    if a.is_standard_layout() {
        CowArray::from(a)
    } else {
        CowArray::from(a.as_standard_layout().into_owned())
    }
}

/// A validated dissimilarity matrix: standard layout, exactly symmetric, zero diagonal.
pub(crate) struct Dissim<'a> {
    pub data: CowArray<'a, f64, Ix2>,
    pub n: usize,
}

/// Check a dissimilarity matrix (see the module docs) and return it symmetrised.
pub(crate) fn check_dissimilarity<'a>(
    delta: ArrayView2<'a, f64>,
    name: &str,
) -> Result<Dissim<'a>> {
    let (n, m) = delta.dim();
    if n != m {
        return Err(input_err(format!(
            "`{name}` must be a square matrix of dissimilarities, got {n} x {m}"
        )));
    }
    if n < 2 {
        return Err(input_err(format!(
            "`{name}` must describe at least 2 points, got {n}"
        )));
    }
    let mut max = 0.0f64;
    for ((i, j), &v) in delta.indexed_iter() {
        if !v.is_finite() {
            return Err(input_err(format!(
                "`{name}` contains NA, NaN or Inf (row {}, column {}); remove or impute it, \
                 or give that pair weight 0 and any finite value",
                i + 1,
                j + 1
            )));
        }
        if v < 0.0 {
            return Err(input_err(format!(
                "`{name}` must be non-negative, found {v} at row {}, column {}",
                i + 1,
                j + 1
            )));
        }
        max = max.max(v);
    }
    let tol = SYM_TOL * max;
    for i in 0..n {
        let d = delta[[i, i]];
        if d > tol {
            return Err(input_err(format!(
                "`{name}` must have a zero diagonal, found {d} at position {}",
                i + 1
            )));
        }
    }
    let exact = check_symmetric(delta, tol, name)? && (0..n).all(|i| delta[[i, i]] == 0.0);
    let data = if exact {
        standard(delta)
    } else {
        symmetrised(delta)
    };
    Ok(Dissim { data, n })
}

/// Whether `m` is exactly symmetric; an error naming the first pair that differs by more than `tol`.
fn check_symmetric(m: ArrayView2<'_, f64>, tol: f64, name: &str) -> Result<bool> {
    let n = m.nrows();
    let mut exact = true;
    for i in 0..n {
        for j in (i + 1)..n {
            let (a, b) = (m[[i, j]], m[[j, i]]);
            if (a - b).abs() > tol {
                return Err(input_err(format!(
                    "`{name}` must be symmetric: entries [{}, {}] = {a} and [{}, {}] = {b} differ",
                    i + 1,
                    j + 1,
                    j + 1,
                    i + 1
                )));
            }
            exact &= a == b;
        }
    }
    Ok(exact)
}

/// (m + mᵀ) / 2 with a zero diagonal, owned.
fn symmetrised<'a>(m: ArrayView2<'_, f64>) -> CowArray<'a, f64, Ix2> {
    let n = m.nrows();
    let mut s = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in (i + 1)..n {
            let v = 0.5 * (m[[i, j]] + m[[j, i]]);
            s[[i, j]] = v;
            s[[j, i]] = v;
        }
    }
    CowArray::from(s)
}

/// Validated weights.
pub(crate) enum Weights<'a> {
    /// Every off-diagonal pair has the same weight `c > 0` (also used when no weights are given).
    Uniform(f64),
    /// General weights, standard layout, exactly symmetric; the diagonal is never read.
    Dense(CowArray<'a, f64, Ix2>),
}

/// Check a weight matrix for `n` points. `None` means unit weights.
pub(crate) fn check_weights<'a>(w: Option<ArrayView2<'a, f64>>, n: usize) -> Result<Weights<'a>> {
    let w = match w {
        None => return Ok(Weights::Uniform(1.0)),
        Some(w) => w,
    };
    if w.dim() != (n, n) {
        return Err(input_err(format!(
            "`weights` must have the same shape as the dissimilarities ({n} x {n}), got {} x {}",
            w.nrows(),
            w.ncols()
        )));
    }
    let mut max = 0.0f64;
    for ((i, j), &v) in w.indexed_iter() {
        if i == j {
            continue;
        }
        if !v.is_finite() || v < 0.0 {
            return Err(input_err(format!(
                "`weights` must be finite and non-negative, found {v} at row {}, column {}",
                i + 1,
                j + 1
            )));
        }
        max = max.max(v);
    }
    if max <= 0.0 {
        return Err(input_err(
            "`weights` are all zero off the diagonal; give some pairs a positive weight",
        ));
    }
    let exact = check_symmetric(w, SYM_TOL * max, "weights")?;
    let first = w[[0, 1]];
    let uniform = w.indexed_iter().all(|((i, j), &v)| i == j || v == first);
    if uniform {
        return Ok(Weights::Uniform(first));
    }
    let data = if exact { standard(w) } else { symmetrised(w) };
    Ok(Weights::Dense(data))
}

/// Connected components (labels 0, 1, ...) of the graph joining i and j when `w[i, j] > 0`.
/// `w` is a row-major symmetric `n × n` slice. O(n²).
pub(crate) fn components(w: &[f64], n: usize) -> (Vec<usize>, usize) {
    let mut label = vec![usize::MAX; n];
    let mut count = 0;
    let mut stack = Vec::new();
    for s in 0..n {
        if label[s] != usize::MAX {
            continue;
        }
        label[s] = count;
        stack.push(s);
        while let Some(i) = stack.pop() {
            for (j, &v) in w[i * n..(i + 1) * n].iter().enumerate() {
                if v > 0.0 && label[j] == usize::MAX {
                    label[j] = count;
                    stack.push(j);
                }
            }
        }
        count += 1;
    }
    (label, count)
}

/// Error unless every connected component of the positive-weight graph contains a point with
/// `anchor[i]` true. `what` names the anchors in the message.
pub(crate) fn check_anchored(w: &[f64], n: usize, anchor: &[bool], what: &str) -> Result<()> {
    let (label, count) = components(w, n);
    let mut ok = vec![false; count];
    for i in 0..n {
        if anchor[i] {
            ok[label[i]] = true;
        }
    }
    if let Some(i) = (0..n).find(|&i| !ok[label[i]]) {
        return Err(input_err(format!(
            "point {} is not linked, through pairs with positive weight, to any {what}, so its \
             position is undetermined; give it (or its group) positive weights to such points",
            i + 1
        )));
    }
    Ok(())
}

/// Check that a coordinate matrix is `n × ndim` and finite on the rows selected by `rows`
/// (all rows when `None`).
pub(crate) fn check_coords(
    x: ArrayView2<f64>,
    n: usize,
    ndim: usize,
    name: &str,
    rows: Option<&[bool]>,
) -> Result<()> {
    if x.dim() != (n, ndim) {
        return Err(input_err(format!(
            "`{name}` must be {n} x {ndim} (points x ndim), got {} x {}",
            x.nrows(),
            x.ncols()
        )));
    }
    for ((i, j), &v) in x.indexed_iter() {
        if rows.map_or(true, |r| r[i]) && !v.is_finite() {
            return Err(input_err(format!(
                "`{name}` contains NA, NaN or Inf at row {}, column {}",
                i + 1,
                j + 1
            )));
        }
    }
    Ok(())
}

/// Fit the similarity transform (scale, orthogonal map incl. reflection, shift) that maps the
/// rows of `x` selected by `mask` onto the same rows of `target`, and apply it to all of `x`
/// (the package's one similarity fit, `metrics::procrustes::fit_similarity`). One selected row, or
/// coincident selected rows: shift only.
pub(crate) fn align_similarity(
    x: &Array2<f64>,
    mask: &[bool],
    target: ArrayView2<f64>,
) -> Result<Array2<f64>> {
    let idx: Vec<usize> = (0..x.nrows()).filter(|&i| mask[i]).collect();
    if idx.is_empty() {
        return Ok(x.clone());
    }
    let from = x.select(Axis(0), &idx);
    let to = target.select(Axis(0), &idx);
    let spread = from.var_axis(Axis(0), 0.0).sum();
    let transform = if idx.len() >= 2 && spread > 0.0 {
        fit_similarity(from.view(), to.view())?
    } else {
        let p = x.ncols();
        let mean = |m: &Array2<f64>| m.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(p));
        Similarity {
            scale: 1.0,
            rotation: Array2::<f64>::eye(p).iter().copied().collect(),
            shift: (mean(&to) - mean(&from)).to_vec(),
        }
    };
    transform.apply(x.view())
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::rng::SeededRng;
    use nalgebra::DMatrix;
    use ndarray::{Array2, ArrayView2};

    pub fn gaussian(n: usize, p: usize, seed: u64) -> Array2<f64> {
        let mut rng = SeededRng::new(seed);
        Array2::from_shape_fn((n, p), |_| rng.normal())
    }

    pub fn dist(x: &Array2<f64>) -> Array2<f64> {
        let n = x.nrows();
        Array2::from_shape_fn((n, n), |(i, j)| {
            let r = &x.row(i) - &x.row(j);
            r.dot(&r).sqrt()
        })
    }

    /// Euclidean distances between the rows of `a` and the rows of `b`.
    pub fn cross_dist(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        Array2::from_shape_fn((a.nrows(), b.nrows()), |(i, j)| {
            let r = &a.row(i) - &b.row(j);
            r.dot(&r).sqrt()
        })
    }

    fn standardise(a: ArrayView2<f64>) -> Array2<f64> {
        let mean = a.mean_axis(ndarray::Axis(0)).unwrap();
        let c = &a - &mean;
        let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        c / norm
    }

    /// Procrustes disparity as scipy.spatial.procrustes: centre, unit Frobenius norm,
    /// optimal orthogonal map by SVD; 1 − (Σ singular values)².
    pub fn procrustes_disparity(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        let (a, b) = (standardise(a.view()), standardise(b.view()));
        let p = a.ncols();
        let m = a.t().dot(&b);
        let mm = DMatrix::from_fn(p, p, |i, j| m[[i, j]]);
        let s: f64 = mm.svd(false, false).singular_values.iter().sum();
        (1.0 - s * s).max(0.0)
    }

    /// Symmetric noise added to distances (keeps zero diagonal, non-negative).
    pub fn perturb(d: &Array2<f64>, level: f64, seed: u64) -> Array2<f64> {
        let n = d.nrows();
        let mut rng = SeededRng::new(seed);
        let mut out = d.clone();
        for i in 0..n {
            for j in (i + 1)..n {
                let v = (d[[i, j]] * (1.0 + level * rng.normal())).abs();
                out[[i, j]] = v;
                out[[j, i]] = v;
            }
        }
        out
    }

    pub fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::error::DpvaeError;
    use ndarray::array;

    #[test]
    fn dissimilarity_checks() {
        let ok = array![[0.0, 1.0], [1.0, 0.0]];
        assert!(check_dissimilarity(ok.view(), "d").is_ok());
        let bad = [
            array![[0.0, 1.0, 2.0], [1.0, 0.0, 1.0]],
            array![[0.0]],
            array![[0.0, f64::NAN], [f64::NAN, 0.0]],
            array![[0.0, -1.0], [-1.0, 0.0]],
            array![[0.0, 1.0], [2.0, 0.0]],
            array![[1.0, 1.0], [1.0, 0.0]],
        ];
        for b in bad.iter() {
            assert!(
                matches!(
                    check_dissimilarity(b.view(), "d"),
                    Err(DpvaeError::Input(_))
                ),
                "{b:?}"
            );
        }
        // tiny asymmetry is averaged away
        let near = array![[0.0, 1.0], [1.0 + 1e-12, 0.0]];
        let d = check_dissimilarity(near.view(), "d").unwrap();
        assert_eq!(d.data[[0, 1]], d.data[[1, 0]]);
    }

    #[test]
    fn weight_checks() {
        assert!(matches!(check_weights(None, 3), Ok(Weights::Uniform(c)) if c == 1.0));
        let u = Array2::from_elem((3, 3), 2.0);
        assert!(matches!(check_weights(Some(u.view()), 3), Ok(Weights::Uniform(c)) if c == 2.0));
        let bad = [
            Array2::from_elem((2, 3), 1.0),
            Array2::zeros((3, 3)),
            array![[0.0, -1.0, 1.0], [-1.0, 0.0, 1.0], [1.0, 1.0, 0.0]],
            array![[0.0, 2.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]],
            array![
                [0.0, f64::INFINITY, 1.0],
                [f64::INFINITY, 0.0, 1.0],
                [1.0, 1.0, 0.0]
            ],
        ];
        for b in bad.iter() {
            assert!(
                matches!(check_weights(Some(b.view()), 3), Err(DpvaeError::Input(_))),
                "{b:?}"
            );
        }
    }

    #[test]
    fn procrustes_helper_and_alignment() {
        let x = gaussian(20, 2, 1);
        let th = 0.7f64;
        let r = array![[th.cos(), th.sin()], [-th.sin(), th.cos()]];
        let y = x.dot(&r) * 3.0 + 5.0;
        assert!(procrustes_disparity(&x, &y) < 1e-14);
        assert!(procrustes_disparity(&x, &gaussian(20, 2, 2)) > 0.1);
        let mask = vec![true; 20];
        let back = align_similarity(&y, &mask, x.view()).unwrap();
        assert!(max_abs_diff(&back, &x) < 1e-12);
    }
}
