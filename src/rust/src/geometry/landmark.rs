//! Out-of-sample placement: put new points into an existing configuration of L fixed
//! landmarks by minimising, independently for each new point a,
//! σ_a(x) = Σ_j w_j (‖x − l_j‖ − δ_aj)².
//!
//! Each point is started at the weighted mean (weights 1/δ) of its `ndim + 1` nearest landmarks
//! in dissimilarity, then improved by the single-point Guttman/majorisation update
//! x ← (1/Σw) Σ_j w_j (l_j + δ_j (x − l_j)/‖x − l_j‖), accelerated by a safeguarded Newton step
//! (taken only when the Hessian is positive definite and the step lowers σ_a; otherwise the
//! Guttman step, which never raises σ_a, is used). A point stops when the decrease of σ_a
//! over one step is ≤ `eps · Σ_j w_j δ_aj²` (the SMACOF rule), when σ_a is zero to rounding,
//! or after `max_iter` evaluations.
//!
//! Points are processed in parallel (rayon); memory is O(L) per worker thread beyond the
//! input and output. [`place_points_fn`] and [`place_points_latent`] compute each point's row
//! of dissimilarities on the fly, so the m × L matrix is never formed.
//! Supported output dimensions: 1 to 6.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::input_err;
use crate::error::{check_finite, DpvaeError, Result};

/// Largest supported `ndim` for landmark placement.
pub const MAX_NDIM: usize = 6;

/// Stress below `TINY · Σ w δ²` counts as an exact fit.
const TINY: f64 = 1e-26;

/// Placed points with per-point diagnostics.
#[derive(Debug, Clone)]
pub struct Placement {
    /// `m × ndim` coordinates.
    pub coords: Array2<f64>,
    /// Per point: sqrt(Σ w (d − δ)² / Σ w δ²) (0 when all its dissimilarities are 0).
    /// Usable as a placement uncertainty.
    pub stress1: Vec<f64>,
    /// Per point: number of objective evaluations used.
    pub iterations: Vec<u32>,
    /// Per point: whether the `eps` criterion was met before `max_iter`.
    pub converged: Vec<bool>,
}

/// Place `m` new points whose dissimilarities to the landmarks are produced on demand, with
/// per-point weights: `fill(i, delta_row, weight_row)` fills
/// point i's L dissimilarities and L weights (finite, >= 0, at least one > 0). Weight 0 drops a
/// landmark for that point (e.g. to use only its nearest landmarks).
pub fn place_points_weighted_fn<F>(
    m: usize,
    landmarks: ArrayView2<f64>,
    fill: F,
    max_iter: usize,
    eps: f64,
) -> Result<Placement>
where
    F: Fn(usize, &mut [f64], &mut [f64]) -> Result<()> + Sync,
{
    place_core(m, landmarks, max_iter, eps, true, fill)
}

/// Place new points from latent vectors: δ(a, j) = ‖z_a − z_j‖ / `scale`, with `latent_new`
/// (`m × q`) and `latent_landmarks` (`L × q`), landmarks at `landmarks` (`L × ndim`); the
/// coordinates with per-point diagnostics. This is what puts cells into a reconstructed map.
pub fn place_points_latent_detailed(
    latent_new: ArrayView2<f64>,
    latent_landmarks: ArrayView2<f64>,
    scale: f64,
    landmarks: ArrayView2<f64>,
    max_iter: usize,
    eps: f64,
) -> Result<Placement> {
    if !scale.is_finite() || scale <= 0.0 {
        return Err(input_err(format!(
            "`scale` must be a finite number > 0, got {scale}"
        )));
    }
    let (m, q) = latent_new.dim();
    let l = latent_landmarks.nrows();
    if latent_landmarks.ncols() != q {
        return Err(input_err(format!(
            "`latent_new` and `latent_landmarks` must have the same number of columns, got {q} and {}",
            latent_landmarks.ncols()
        )));
    }
    if landmarks.nrows() != l {
        return Err(input_err(format!(
            "`latent_landmarks` ({l} rows) and `landmarks` ({} rows) must describe the same points",
            landmarks.nrows()
        )));
    }
    check_finite(latent_new, "`latent_new`")?;
    check_finite(latent_landmarks, "`latent_landmarks`")?;
    // landmarks' latent vectors column-major (q × L) so the inner loop runs over landmarks
    let mut zt = vec![0.0; q * l];
    for ((j, k), &v) in latent_landmarks.indexed_iter() {
        zt[k * l + j] = v;
    }
    let inv = 1.0 / scale;
    place_core(m, landmarks, max_iter, eps, false, |i, d, _| {
        d.iter_mut().for_each(|v| *v = 0.0);
        for k in 0..q {
            let zk = latent_new[[i, k]];
            let col = &zt[k * l..(k + 1) * l];
            for (a, &c) in d.iter_mut().zip(col) {
                let e = zk - c;
                *a += e * e;
            }
        }
        d.iter_mut().for_each(|v| *v = v.sqrt() * inv);
        Ok(())
    })
}

/// Shared driver. `fill(i, delta_row, weight_row)` fills the L dissimilarities (and, when
/// `weighted`, the L weights) of point i.
fn place_core<F>(
    m: usize,
    landmarks: ArrayView2<f64>,
    max_iter: usize,
    eps: f64,
    weighted: bool,
    fill: F,
) -> Result<Placement>
where
    F: Fn(usize, &mut [f64], &mut [f64]) -> Result<()> + Sync,
{
    let (l, p) = landmarks.dim();
    if l == 0 {
        return Err(input_err("at least one landmark is needed"));
    }
    if p == 0 || p > MAX_NDIM {
        return Err(input_err(format!(
            "landmark placement supports 1 to {MAX_NDIM} dimensions, `landmarks` has {p} columns"
        )));
    }
    if !eps.is_finite() || eps < 0.0 {
        return Err(input_err(format!(
            "`eps` must be a finite number >= 0, got {eps}"
        )));
    }
    check_finite(landmarks, "`landmarks`")?;
    let mut lt = vec![0.0; p * l];
    for ((j, k), &v) in landmarks.indexed_iter() {
        lt[k * l + j] = v;
    }
    let mut coords = vec![0.0; m * p];
    let mut meta = vec![(0.0f64, 0u32, false); m];
    coords
        .par_chunks_mut(p)
        .zip(meta.par_iter_mut())
        .enumerate()
        .try_for_each_init(
            || (vec![0.0; l], vec![1.0; if weighted { l } else { 0 }]),
            |(dbuf, wbuf), (i, (out, meta))| -> Result<()> {
                fill(i, dbuf, wbuf)?;
                check_row(i, dbuf, if weighted { Some(wbuf) } else { None })?;
                let w = if weighted { Some(&wbuf[..]) } else { None };
                *meta = match p {
                    1 => place_one::<1>(dbuf, w, &lt, l, max_iter, eps, out),
                    2 => place_one::<2>(dbuf, w, &lt, l, max_iter, eps, out),
                    3 => place_one::<3>(dbuf, w, &lt, l, max_iter, eps, out),
                    4 => place_one::<4>(dbuf, w, &lt, l, max_iter, eps, out),
                    5 => place_one::<5>(dbuf, w, &lt, l, max_iter, eps, out),
                    _ => place_one::<6>(dbuf, w, &lt, l, max_iter, eps, out),
                };
                Ok(())
            },
        )?;
    let coords = Array2::from_shape_vec((m, p), coords)
        .map_err(|e| DpvaeError::Numeric(format!("internal shape error: {e}")))?;
    Ok(Placement {
        coords,
        stress1: meta.iter().map(|t| t.0).collect(),
        iterations: meta.iter().map(|t| t.1).collect(),
        converged: meta.iter().map(|t| t.2).collect(),
    })
}

fn check_row(i: usize, d: &[f64], w: Option<&[f64]>) -> Result<()> {
    if let Some(j) = d.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return Err(input_err(format!(
            "dissimilarity of new point {} to landmark {} is {}; dissimilarities must be finite and >= 0",
            i + 1,
            j + 1,
            d[j]
        )));
    }
    if let Some(w) = w {
        if let Some(j) = w.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(input_err(format!(
                "weight of new point {} to landmark {} is {}; weights must be finite and >= 0",
                i + 1,
                j + 1,
                w[j]
            )));
        }
        if !w.iter().any(|v| *v > 0.0) {
            return Err(input_err(format!(
                "new point {} has weight 0 to every landmark, so it cannot be placed",
                i + 1
            )));
        }
    }
    Ok(())
}

/// What one evaluation at x yields.
struct Eval<const P: usize> {
    raw_stress: f64,
    guttman: [f64; P],
    newton: Option<[f64; P]>,
}

/// Evaluate σ at x, the Guttman point and (when the Hessian is PD) the Newton point.
/// `swl` = Σ w l, `sw` = Σ w.
#[inline]
fn evaluate<const P: usize>(
    x: &[f64; P],
    delta: &[f64],
    w: Option<&[f64]>,
    cols: &[&[f64]; P],
    sw: f64,
    swl: &[f64; P],
) -> Eval<P> {
    let mut s = 0.0;
    let mut sr = 0.0;
    let mut srdx = [0.0; P];
    let mut h = [[0.0; P]; P];
    let mut zero_d = false;
    for (j, &dl) in delta.iter().enumerate() {
        let wj = match w {
            Some(w) => w[j],
            None => 1.0,
        };
        let mut dx = [0.0; P];
        let mut d2 = 0.0;
        for k in 0..P {
            dx[k] = x[k] - cols[k][j];
            d2 += dx[k] * dx[k];
        }
        let d = d2.sqrt();
        let e = d - dl;
        s += wj * e * e;
        if d > 0.0 {
            let inv = 1.0 / d;
            let r = wj * dl * inv;
            sr += r;
            let q = r * inv * inv;
            for a in 0..P {
                srdx[a] += r * dx[a];
                for b in 0..=a {
                    h[a][b] += q * dx[a] * dx[b];
                }
            }
        } else if wj > 0.0 && dl > 0.0 {
            zero_d = true;
        }
    }
    let mut guttman = [0.0; P];
    for k in 0..P {
        guttman[k] = (swl[k] + srdx[k]) / sw;
    }
    // Hessian / 2 = (sw − Σ r) I + Σ (r / d²) dx dxᵀ ; gradient / 2 = sw (x − guttman)
    let newton = if zero_d {
        None
    } else {
        let diag = sw - sr;
        // a symmetric fill of a small fixed-size matrix reads best with indices
        #[allow(clippy::needless_range_loop)]
        for a in 0..P {
            h[a][a] += diag;
            for b in (a + 1)..P {
                h[a][b] = h[b][a];
            }
        }
        let g: [f64; P] = std::array::from_fn(|k| sw * (x[k] - guttman[k]));
        chol_solve(h, g).map(|step| std::array::from_fn(|k| x[k] - step[k]))
    };
    Eval {
        raw_stress: s,
        guttman,
        newton,
    }
}

/// Solve H y = g for a small symmetric H; None unless H is (numerically) positive definite.
// `!(x > y)` on purpose: it also rejects NaN; a Cholesky kernel reads best with indices
#[allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]
fn chol_solve<const P: usize>(mut h: [[f64; P]; P], g: [f64; P]) -> Option<[f64; P]> {
    let scale = (0..P).map(|k| h[k][k].abs()).fold(0.0, f64::max);
    for j in 0..P {
        let mut dj = h[j][j];
        for k in 0..j {
            dj -= h[j][k] * h[j][k];
        }
        if !(dj > 1e-12 * scale) {
            return None;
        }
        let dj = dj.sqrt();
        h[j][j] = dj;
        for i in (j + 1)..P {
            let mut v = h[i][j];
            for k in 0..j {
                v -= h[i][k] * h[j][k];
            }
            h[i][j] = v / dj;
        }
    }
    let mut y = g;
    for i in 0..P {
        for k in 0..i {
            y[i] -= h[i][k] * y[k];
        }
        y[i] /= h[i][i];
    }
    for i in (0..P).rev() {
        for k in (i + 1)..P {
            y[i] -= h[k][i] * y[k];
        }
        y[i] /= h[i][i];
    }
    if y.iter().all(|v| v.is_finite()) {
        Some(y)
    } else {
        None
    }
}

/// Place one point; returns (stress1, evaluations, converged) and writes the coordinates.
// `!(x > y)` on purpose: it also rejects NaN
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn place_one<const P: usize>(
    delta: &[f64],
    w: Option<&[f64]>,
    lt: &[f64],
    l: usize,
    max_iter: usize,
    eps: f64,
    out: &mut [f64],
) -> (f64, u32, bool) {
    let cols: [&[f64]; P] = std::array::from_fn(|k| &lt[k * l..(k + 1) * l]);
    let wt = |j: usize| w.map_or(1.0, |w| w[j]);
    let mut sw = 0.0;
    let mut norm = 0.0;
    let mut swl = [0.0; P];
    for (j, &dl) in delta.iter().enumerate() {
        let wj = wt(j);
        sw += wj;
        norm += wj * dl * dl;
        for k in 0..P {
            swl[k] += wj * cols[k][j];
        }
    }
    if !(norm > 0.0) {
        // all dissimilarities zero: the weighted centroid is optimal
        for k in 0..P {
            out[k] = swl[k] / sw;
        }
        let x: [f64; P] = std::array::from_fn(|k| out[k]);
        let s = evaluate(&x, delta, w, &cols, sw, &swl).raw_stress;
        return (if s > 0.0 { 1.0 } else { 0.0 }, 1, true);
    }
    let mut x = init_point(delta, w, &cols);
    let mut cur = evaluate(&x, delta, w, &cols, sw, &swl);
    let mut evals: u32 = 1;
    let mut converged = cur.raw_stress <= TINY * norm;
    while !converged && (evals as usize) < max_iter.max(1) {
        let prev = cur.raw_stress;
        let (cand, newton) = match cur.newton {
            Some(xn) => (xn, true),
            None => (cur.guttman, false),
        };
        let next = evaluate(&cand, delta, w, &cols, sw, &swl);
        evals += 1;
        if newton && !(next.raw_stress <= prev) {
            let g = cur.guttman;
            cur = evaluate(&g, delta, w, &cols, sw, &swl);
            evals += 1;
            x = g;
        } else {
            cur = next;
            x = cand;
        }
        if cur.raw_stress <= TINY * norm || prev - cur.raw_stress <= eps * norm {
            converged = true;
        }
    }
    out[..P].copy_from_slice(&x);
    ((cur.raw_stress / norm).max(0.0).sqrt(), evals, converged)
}

/// Weighted mean (weights 1/δ) of the `P + 1` landmarks nearest in dissimilarity among those
/// with positive weight; exactly a landmark when its dissimilarity is 0.
// `!(x > y)` on purpose: it also rejects NaN
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn init_point<const P: usize>(delta: &[f64], w: Option<&[f64]>, cols: &[&[f64]; P]) -> [f64; P] {
    const K_MAX: usize = 7; // P + 1 with P ≤ 6
    let k = (P + 1).min(K_MAX);
    let mut best: [(f64, usize); K_MAX] = [(f64::INFINITY, usize::MAX); K_MAX];
    let mut count = 0;
    for (j, &dl) in delta.iter().enumerate() {
        if let Some(w) = w {
            if !(w[j] > 0.0) {
                continue;
            }
        }
        if count < k || dl < best[k - 1].0 {
            let mut pos = count.min(k - 1);
            while pos > 0 && best[pos - 1].0 > dl {
                best[pos] = best[pos - 1];
                pos -= 1;
            }
            best[pos] = (dl, j);
            count = (count + 1).min(k);
        }
    }
    let mut x = [0.0; P];
    if count == 0 {
        return x;
    }
    if best[0].0 <= 0.0 {
        for c in 0..P {
            x[c] = cols[c][best[0].1];
        }
        return x;
    }
    let mut tw = 0.0;
    for &(dl, j) in &best[..count] {
        let wj = 1.0 / dl;
        tw += wj;
        for c in 0..P {
            x[c] += wj * cols[c][j];
        }
    }
    for v in x.iter_mut() {
        *v /= tw;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    // The matrix and closure forms the package does not use, kept as test drivers of place_core.
    /// Place `m` new points given their `m × L` dissimilarities `delta_new` to the `L` landmarks
    /// at `landmarks` (`L × ndim`). `weights` (`m × L`, optional) weight each dissimilarity.
    fn place_points(
        delta_new: ArrayView2<f64>,
        landmarks: ArrayView2<f64>,
        weights: Option<ArrayView2<f64>>,
        max_iter: usize,
        eps: f64,
    ) -> Result<Array2<f64>> {
        let (m, l) = delta_new.dim();
        if l != landmarks.nrows() {
            return Err(input_err(format!(
                "`delta_new` must have one column per landmark ({}), got {l}",
                landmarks.nrows()
            )));
        }
        if let Some(w) = &weights {
            if w.dim() != (m, l) {
                return Err(input_err(format!(
                    "`weights` must have the shape of `delta_new` ({m} x {l}), got {} x {}",
                    w.nrows(),
                    w.ncols()
                )));
            }
        }
        let res = place_core(m, landmarks, max_iter, eps, weights.is_some(), |i, d, w| {
            d.iter_mut()
                .zip(delta_new.row(i))
                .for_each(|(a, b)| *a = *b);
            if let Some(wm) = &weights {
                w.iter_mut().zip(wm.row(i)).for_each(|(a, b)| *a = *b);
            }
            Ok(())
        })?;
        Ok(res.coords)
    }

    /// Place `m` new points whose dissimilarities to the landmarks are produced on demand:
    /// `dissim(i, row)` must fill `row` (length L) with point i's dissimilarities (it is called
    /// from several threads, once per point). Unit weights.
    fn place_points_fn<F>(
        m: usize,
        landmarks: ArrayView2<f64>,
        dissim: F,
        max_iter: usize,
        eps: f64,
    ) -> Result<Placement>
    where
        F: Fn(usize, &mut [f64]) -> Result<()> + Sync,
    {
        place_core(m, landmarks, max_iter, eps, false, |i, d, _| dissim(i, d))
    }
    use crate::error::DpvaeError;
    use crate::geometry::testutil::*;
    use crate::rng::SeededRng;

    #[test]
    fn recovers_exact_positions() {
        for p in [1usize, 2, 3] {
            let lm = gaussian(60, p, 1 + p as u64);
            let new = gaussian(300, p, 10 + p as u64) * 1.3;
            let d = cross_dist(&new, &lm);
            let y = place_points(d.view(), lm.view(), None, 200, 1e-12).unwrap();
            let err = max_abs_diff(&y, &new);
            assert!(err < 1e-6, "p = {p}: max error {err}");
        }
    }

    #[test]
    fn weighted_and_fn_variants_agree() {
        let lm = gaussian(40, 2, 3);
        let new = gaussian(100, 2, 4);
        let d = cross_dist(&new, &lm);
        // zero weight on a random 30 % with garbage dissimilarities there
        let mut rng = SeededRng::new(5);
        let mut w = Array2::<f64>::ones(d.dim());
        let mut dg = d.clone();
        for v in w.iter_mut().zip(dg.iter_mut()) {
            if rng.next_f64() < 0.3 {
                *v.0 = 0.0;
                *v.1 = 1e3;
            }
        }
        let y = place_points(dg.view(), lm.view(), Some(w.view()), 200, 1e-12).unwrap();
        assert!(max_abs_diff(&y, &new) < 1e-6);
        let a = place_points(d.view(), lm.view(), None, 100, 1e-8).unwrap();
        let b = place_points_fn(
            100,
            lm.view(),
            |i, row| {
                row.iter_mut().zip(d.row(i)).for_each(|(r, v)| *r = *v);
                Ok(())
            },
            100,
            1e-8,
        )
        .unwrap();
        assert_eq!(a, b.coords);
        // exact dissimilarities: every point reaches (numerically) zero stress
        assert!(b.stress1.iter().all(|s| *s < 1e-6));
        assert!(b.converged.iter().all(|c| *c));
    }

    #[test]
    fn latent_variant_recovers_scaled_positions() {
        let lm = gaussian(50, 2, 6);
        let new = gaussian(80, 2, 7);
        let scale = 2.5;
        // latent = [scale * spatial, 0, 0] rotated into 4-D: distances are scale × spatial
        let embed = |x: &Array2<f64>| {
            Array2::from_shape_fn((x.nrows(), 4), |(i, k)| match k {
                0 => scale * (0.6 * x[[i, 0]] + 0.8 * x[[i, 1]]),
                1 => scale * (-0.8 * x[[i, 0]] + 0.6 * x[[i, 1]]),
                _ => 0.0,
            })
        };
        let y = place_points_latent_detailed(
            embed(&new).view(),
            embed(&lm).view(),
            scale,
            lm.view(),
            200,
            1e-12,
        )
        .unwrap()
        .coords;
        assert!(max_abs_diff(&y, &new) < 1e-6);
    }

    #[test]
    fn noisy_result_is_a_local_minimum() {
        let lm = gaussian(30, 2, 8);
        let new = gaussian(20, 2, 9);
        let d = perturb(&cross_dist(&new, &lm), 0.2, 10).mapv(f64::abs);
        let res = place_points_fn(
            20,
            lm.view(),
            |i, r| {
                r.iter_mut().zip(d.row(i)).for_each(|(a, b)| *a = *b);
                Ok(())
            },
            500,
            1e-14,
        )
        .unwrap();
        let stress = |i: usize, x: [f64; 2]| -> f64 {
            (0..30)
                .map(|j| {
                    let dd = ((x[0] - lm[[j, 0]]).powi(2) + (x[1] - lm[[j, 1]]).powi(2)).sqrt();
                    (dd - d[[i, j]]).powi(2)
                })
                .sum()
        };
        for i in 0..20 {
            let x = [res.coords[[i, 0]], res.coords[[i, 1]]];
            let s0 = stress(i, x);
            for (dx, dy) in [(1e-4, 0.0), (-1e-4, 0.0), (0.0, 1e-4), (0.0, -1e-4)] {
                assert!(stress(i, [x[0] + dx, x[1] + dy]) >= s0 - 1e-12);
            }
        }
    }

    #[test]
    fn bad_inputs_are_input_errors() {
        let lm = gaussian(10, 2, 1);
        let new = gaussian(5, 2, 2);
        let d = cross_dist(&new, &lm);
        let is_input = |r: Result<Array2<f64>>| matches!(r, Err(DpvaeError::Input(_)));
        let is_input_placement = |r: Result<Placement>| matches!(r, Err(DpvaeError::Input(_)));
        assert!(is_input(place_points(
            d.slice(ndarray::s![.., ..9]),
            lm.view(),
            None,
            10,
            1e-6
        )));
        let mut dn = d.clone();
        dn[[2, 3]] = f64::NAN;
        assert!(is_input(place_points(dn.view(), lm.view(), None, 10, 1e-6)));
        dn[[2, 3]] = -1.0;
        assert!(is_input(place_points(dn.view(), lm.view(), None, 10, 1e-6)));
        let w0 = Array2::<f64>::zeros(d.dim());
        assert!(is_input(place_points(
            d.view(),
            lm.view(),
            Some(w0.view()),
            10,
            1e-6
        )));
        let w1 = Array2::<f64>::ones((5, 9));
        assert!(is_input(place_points(
            d.view(),
            lm.view(),
            Some(w1.view()),
            10,
            1e-6
        )));
        let lm7 = gaussian(10, 7, 1);
        assert!(is_input(place_points(d.view(), lm7.view(), None, 10, 1e-6)));
        assert!(is_input(place_points(
            d.view(),
            lm.view(),
            None,
            10,
            f64::NAN
        )));
        let lm0 = Array2::<f64>::zeros((0, 2));
        assert!(is_input(place_points(
            Array2::<f64>::zeros((5, 0)).view(),
            lm0.view(),
            None,
            10,
            1e-6
        )));
        assert!(is_input_placement(place_points_latent_detailed(
            new.view(),
            lm.view(),
            0.0,
            lm.view(),
            10,
            1e-6
        )));
        assert!(is_input_placement(place_points_latent_detailed(
            new.view(),
            gaussian(10, 3, 1).view(),
            1.0,
            lm.view(),
            10,
            1e-6
        )));
        assert!(is_input_placement(place_points_latent_detailed(
            new.view(),
            gaussian(9, 2, 1).view(),
            1.0,
            lm.view(),
            10,
            1e-6
        )));
        let r = place_points_fn(
            3,
            lm.view(),
            |i, _| {
                if i == 1 {
                    Err(DpvaeError::Input("x".into()))
                } else {
                    Ok(())
                }
            },
            10,
            1e-6,
        );
        assert!(matches!(r, Err(DpvaeError::Input(_))));
    }
}
