//! Weighted metric SMACOF (de Leeuw 1977; Borg & Groenen 2005, ch. 8).
//!
//! Minimises the raw stress σ(X) = Σ_{i<j} w_ij (d_ij(X) − δ_ij)² by iterating the Guttman
//! transform X ← V⁺ B(Z) Z, where V = Σ_{i<j} w_ij (e_i − e_j)(e_i − e_j)ᵀ and
//! B(Z)_ij = −w_ij δ_ij / d_ij(Z) (0 when d_ij(Z) = 0), B_ii = −Σ_{j≠i} B_ij.
//! Every step can only lower the stress (majorisation), so `objective_history` is non-increasing
//! up to rounding.
//!
//! * Unit / constant weights c: V⁺ B Z = B Z / (c n) (B Z is already centred) — O(n² · ndim)
//!   per iteration, no cubic step.
//! * General weights: V⁺ R = (V + a 11ᵀ)⁻¹ R for centred R; V + a 11ᵀ is factorised once by
//!   Cholesky (O(n³/3), the one expensive step) and solved per iteration (O(n² · ndim)).
//!   It is positive definite exactly when the graph of positive weights is connected.
//!
//! The O(n²) pass that evaluates the stress and B(Z)Z runs in parallel over rows with rayon;
//! per-row partial sums are added in a fixed order, so results do not depend on the number of
//! threads.
//!
//! Convergence: stop when the decrease of the objective over one iteration, relative to the
//! data's total Σ_{i<j} w_ij δ_ij², is ≤ `eps` (or the stress is zero to rounding), i.e. when
//! stress-1² stops improving by more than `eps`. scikit-learn ≥ 1.7 uses the same rule with
//! the current configuration's Σ_{i<j} d_ij² as denominator (nearly the same number near a
//! solution); older scikit-learn compared σ / Σ_i ‖x_i‖ (scale-dependent) instead.

use nalgebra::{Cholesky, DMatrix, Dyn};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::classical::classical_core;
use super::{
    check_coords, check_dissimilarity, check_weights, components, input_err, std_slice, Weights,
};
use crate::error::{DpvaeError, Result};
use crate::rng::SeededRng;

/// How SMACOF is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// Classical (Torgerson) MDS of the dissimilarities (weights ignored).
    Classical,
    /// Gaussian random configuration from `seed`, scaled to the mean dissimilarity.
    Random,
    /// A user-given `n × ndim` configuration.
    Given(Array2<f64>),
}

/// Options for [`smacof`], [`super::smacof_fixed`] and [`super::smacof_penalized`].
#[derive(Debug, Clone, PartialEq)]
pub struct SmacofOptions {
    /// Output dimension (≥ 1). Default 2.
    pub ndim: usize,
    /// Maximum number of Guttman updates per start. Default 300 (as scikit-learn).
    pub max_iter: usize,
    /// Stop when the objective decrease over one iteration is ≤ `eps · Σ_{i<j} w δ²`
    /// (as scikit-learn ≥ 1.7). Default 1e-6.
    pub eps: f64,
    /// Number of starts; the best (lowest stress) is kept. The first start uses `init`, the
    /// others are random starts from `seed`. Default 1.
    pub n_init: usize,
    /// Seed for random starts. Default 42.
    pub seed: u64,
    /// First start. Default [`Init::Classical`].
    pub init: Init,
}

impl Default for SmacofOptions {
    fn default() -> Self {
        SmacofOptions {
            ndim: 2,
            max_iter: 300,
            eps: 1e-6,
            n_init: 1,
            seed: 42,
            init: Init::Classical,
        }
    }
}

/// Outcome of a SMACOF run (the best of `n_init` starts).
#[derive(Debug, Clone)]
pub struct SmacofResult {
    /// `n × ndim` configuration.
    pub coords: Array2<f64>,
    /// Raw stress Σ_{i<j} w_ij (d_ij − δ_ij)² of `coords`.
    pub raw_stress: f64,
    /// Normalised stress-1: sqrt(stress / Σ_{i<j} w_ij δ_ij²).
    pub stress1: f64,
    /// Number of Guttman updates performed.
    pub iterations: usize,
    /// Whether the `eps` criterion was met before `max_iter`.
    pub converged: bool,
    /// Objective at the start and after every update (`iterations + 1` values): the raw stress,
    /// or for [`super::smacof_penalized`] the stress plus the penalty. Non-increasing.
    pub objective_history: Vec<f64>,
}

/// Stress below `TINY · Σ w δ²` counts as an exact fit.
const TINY: f64 = 1e-26;

/// Weight view used by the engine.
pub(crate) enum W<'a> {
    Uniform(f64),
    Dense(&'a [f64]),
}

pub(crate) fn weights_view<'b>(w: &'b Weights<'_>) -> Result<W<'b>> {
    Ok(match w {
        Weights::Uniform(c) => W::Uniform(*c),
        Weights::Dense(m) => W::Dense(std_slice(m)?),
    })
}

/// Σ_{i<j} w_ij δ_ij², in a fixed summation order.
pub(crate) fn weighted_norm(delta: &[f64], w: &W, n: usize) -> f64 {
    let rows: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let d = &delta[i * n..(i + 1) * n];
            match w {
                W::Uniform(c) => c * d.iter().map(|v| v * v).sum::<f64>(),
                W::Dense(wm) => {
                    let wr = &wm[i * n..(i + 1) * n];
                    d.iter()
                        .zip(wr)
                        .enumerate()
                        .map(|(j, (v, ww))| if j == i { 0.0 } else { ww * v * v })
                        .sum()
                }
            }
        })
        .collect();
    0.5 * rows.iter().sum::<f64>()
}

/// Laplacian-like matrix V (row i: V_ij = −w_ij, V_ii = Σ_{j≠i} w_ij) restricted to `idx`.
pub(crate) fn v_matrix(w: &W, n: usize, idx: &[usize]) -> DMatrix<f64> {
    let m = idx.len();
    let mut v = DMatrix::<f64>::zeros(m, m);
    for (a, &i) in idx.iter().enumerate() {
        let rowsum: f64 = match w {
            W::Uniform(c) => c * (n - 1) as f64,
            W::Dense(wm) => (0..n).filter(|&j| j != i).map(|j| wm[i * n + j]).sum(),
        };
        v[(a, a)] = rowsum;
        for (b, &j) in idx.iter().enumerate() {
            if a != b {
                v[(a, b)] = -match w {
                    W::Uniform(c) => *c,
                    W::Dense(wm) => wm[i * n + j],
                };
            }
        }
    }
    v
}

/// Linear system of one majorisation step, M X = rhs.
pub(crate) enum Solver {
    /// X = s · rhs.
    Scale(f64),
    /// M = c (diag(a) − 11ᵀ), inverted by Sherman–Morrison.
    Rank1 { c: f64, inv_a: Vec<f64>, denom: f64 },
    /// Dense SPD M, Cholesky factor.
    Chol(Cholesky<f64, Dyn>),
}

impl Solver {
    /// M = c (diag(a) − 11ᵀ) with `denom` = 1 − Σ 1/a_i supplied in closed form by the caller;
    /// None when M is not positive definite.
    // `!(x > y)` on purpose: it also rejects NaN
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub(crate) fn rank1(c: f64, a: &[f64], denom: f64) -> Option<Solver> {
        if !(c > 0.0) || a.iter().any(|v| !(*v > 0.0)) || !(denom > 0.0) {
            return None;
        }
        let inv_a: Vec<f64> = a.iter().map(|v| 1.0 / v).collect();
        Some(Solver::Rank1 { c, inv_a, denom })
    }

    pub(crate) fn chol(m: DMatrix<f64>) -> Option<Solver> {
        m.cholesky().map(Solver::Chol)
    }

    /// Solve for `m` rows of width `p` (row-major in and out).
    fn apply(&self, rhs: &[f64], m: usize, p: usize, out: &mut [f64]) {
        match self {
            Solver::Scale(s) => out.iter_mut().zip(rhs).for_each(|(o, r)| *o = s * r),
            Solver::Rank1 { c, inv_a, denom } => {
                let mut colsum = vec![0.0; p];
                for i in 0..m {
                    for k in 0..p {
                        let y = rhs[i * p + k] * inv_a[i] / c;
                        out[i * p + k] = y;
                        colsum[k] += y;
                    }
                }
                for i in 0..m {
                    for k in 0..p {
                        out[i * p + k] += inv_a[i] * colsum[k] / denom;
                    }
                }
            }
            Solver::Chol(ch) => {
                let mut b = DMatrix::<f64>::from_row_slice(m, p, rhs);
                ch.solve_mut(&mut b);
                for i in 0..m {
                    for k in 0..p {
                        out[i * p + k] = b[(i, k)];
                    }
                }
            }
        }
    }
}

/// Which rows move and how.
pub(crate) enum Mode {
    /// Plain SMACOF.
    Free,
    /// Rows `free` move; the others are fixed. `rhs_const` (nf × p) = −V_fk X_k.
    Fixed {
        free: Vec<usize>,
        rhs_const: Vec<f64>,
    },
    /// Stress + mu Σ_known ‖x_i − t_i‖²; `target` is n × p (rows of unknown points unused).
    Penalized {
        known: Vec<bool>,
        target: Vec<f64>,
        mu: f64,
    },
}

pub(crate) struct Engine<'a> {
    pub n: usize,
    pub p: usize,
    pub delta: &'a [f64],
    pub w: W<'a>,
    /// Σ_{i<j} w δ².
    pub norm: f64,
    pub mode: Mode,
    pub solver: Solver,
}

pub(crate) struct RunOut {
    pub x: Array2<f64>,
    pub raw_stress: f64,
    pub history: Vec<f64>,
    pub iterations: usize,
    pub converged: bool,
}

impl RunOut {
    pub(crate) fn into_result(self, norm: f64) -> SmacofResult {
        SmacofResult {
            coords: self.x,
            raw_stress: self.raw_stress,
            stress1: (self.raw_stress / norm).max(0.0).sqrt(),
            iterations: self.iterations,
            converged: self.converged,
            objective_history: self.history,
        }
    }
}

/// Callback type: `(iteration, objective) -> keep going?`; returning false aborts with
/// [`DpvaeError::Interrupted`]. Called on the calling thread after every pass.
pub type Callback<'c> = &'c mut dyn FnMut(usize, f64) -> bool;

impl Engine<'_> {
    /// Iterate from `x0` (n × p, row-major contents are copied).
    pub(crate) fn run(
        &self,
        x0: &Array2<f64>,
        max_iter: usize,
        eps: f64,
        cb: Callback,
    ) -> Result<RunOut> {
        let (n, p) = (self.n, self.p);
        let mut x: Vec<f64> = x0.iter().copied().collect();
        let mut xt = vec![0.0; n * p];
        let mut pass = vec![0.0; n * (p + 1)];
        let mut r = vec![0.0; n * p];
        let mut rhs = vec![0.0; n * p];
        let mut sol = vec![0.0; n * p];
        let mut history = Vec::with_capacity(max_iter.min(10_000) + 1);
        let mut iterations = 0;
        let mut converged = false;
        let mut raw_stress;
        loop {
            transpose_into(&x, n, p, &mut xt);
            raw_stress = guttman_pass(n, p, self.delta, &self.w, &xt, &mut pass);
            let obj = raw_stress + self.penalty(&x);
            if !obj.is_finite() {
                return Err(DpvaeError::Numeric(format!(
                    "SMACOF: the stress became non-finite after {iterations} iterations"
                )));
            }
            if !cb(iterations, obj) {
                return Err(DpvaeError::Interrupted);
            }
            history.push(obj);
            let len = history.len();
            if obj <= TINY * self.norm || (len > 1 && history[len - 2] - obj <= eps * self.norm) {
                converged = true;
                break;
            }
            if iterations >= max_iter {
                break;
            }
            for (ri, pi) in r.chunks_mut(p).zip(pass.chunks(p + 1)) {
                ri.copy_from_slice(&pi[..p]);
            }
            match &self.mode {
                Mode::Free => {
                    self.solver.apply(&r, n, p, &mut x);
                }
                Mode::Fixed { free, rhs_const } => {
                    let nf = free.len();
                    for (f, &i) in free.iter().enumerate() {
                        for k in 0..p {
                            rhs[f * p + k] = r[i * p + k] + rhs_const[f * p + k];
                        }
                    }
                    self.solver.apply(&rhs[..nf * p], nf, p, &mut sol[..nf * p]);
                    for (f, &i) in free.iter().enumerate() {
                        x[i * p..(i + 1) * p].copy_from_slice(&sol[f * p..(f + 1) * p]);
                    }
                }
                Mode::Penalized { known, target, mu } => {
                    for i in 0..n {
                        for k in 0..p {
                            let t = if known[i] {
                                mu * target[i * p + k]
                            } else {
                                0.0
                            };
                            rhs[i * p + k] = r[i * p + k] + t;
                        }
                    }
                    self.solver.apply(&rhs, n, p, &mut x);
                }
            }
            iterations += 1;
        }
        let x = Array2::from_shape_vec((n, p), x)
            .map_err(|e| DpvaeError::Numeric(format!("internal shape error: {e}")))?;
        Ok(RunOut {
            x,
            raw_stress,
            history,
            iterations,
            converged,
        })
    }

    fn penalty(&self, x: &[f64]) -> f64 {
        match &self.mode {
            Mode::Penalized { known, target, mu } => {
                let p = self.p;
                let mut s = 0.0;
                for i in 0..self.n {
                    if known[i] {
                        for k in 0..p {
                            let e = x[i * p + k] - target[i * p + k];
                            s += e * e;
                        }
                    }
                }
                mu * s
            }
            _ => 0.0,
        }
    }
}

fn transpose_into(x: &[f64], n: usize, p: usize, xt: &mut [f64]) {
    for i in 0..n {
        for k in 0..p {
            xt[k * n + i] = x[i * p + k];
        }
    }
}

/// One O(n²) pass at configuration `xt` (column-major, p × n): writes row i of B(X)X into
/// `out[i*(p+1)..][..p]` and returns the raw stress Σ_{i<j} w_ij (d_ij − δ_ij)².
pub(crate) fn guttman_pass(
    n: usize,
    p: usize,
    delta: &[f64],
    w: &W,
    xt: &[f64],
    out: &mut [f64],
) -> f64 {
    out.par_chunks_mut(p + 1).enumerate().for_each(|(i, o)| {
        let drow = &delta[i * n..(i + 1) * n];
        let (wrow, c) = match w {
            W::Uniform(c) => (None, *c),
            W::Dense(wm) => (Some(&wm[i * n..(i + 1) * n]), 1.0),
        };
        let s = match p {
            2 => row2(i, n, drow, wrow, xt, o),
            _ => row_dyn(i, n, p, drow, wrow, xt, o),
        };
        if c != 1.0 {
            o[..p].iter_mut().for_each(|v| *v *= c);
        }
        o[p] = c * s;
    });
    0.5 * out.chunks(p + 1).map(|o| o[p]).sum::<f64>()
}

#[inline]
fn row2(i: usize, n: usize, drow: &[f64], wrow: Option<&[f64]>, xt: &[f64], o: &mut [f64]) -> f64 {
    let (c0, c1) = (&xt[..n], &xt[n..2 * n]);
    let (xi0, xi1) = (c0[i], c1[i]);
    // four independent lanes so the loop vectorises
    let mut a0 = [0.0f64; 4];
    let mut a1 = [0.0f64; 4];
    let mut s = [0.0f64; 4];
    let m4 = n - n % 4;
    match wrow {
        None => {
            for j0 in (0..m4).step_by(4) {
                for l in 0..4 {
                    let j = j0 + l;
                    let dl = drow[j];
                    let dx0 = xi0 - c0[j];
                    let dx1 = xi1 - c1[j];
                    let d = (dx0 * dx0 + dx1 * dx1).sqrt();
                    let r = if d > 0.0 { dl / d } else { 0.0 };
                    a0[l] += r * dx0;
                    a1[l] += r * dx1;
                    let e = d - dl;
                    s[l] += e * e;
                }
            }
            for j in m4..n {
                let dl = drow[j];
                let dx0 = xi0 - c0[j];
                let dx1 = xi1 - c1[j];
                let d = (dx0 * dx0 + dx1 * dx1).sqrt();
                let r = if d > 0.0 { dl / d } else { 0.0 };
                a0[0] += r * dx0;
                a1[0] += r * dx1;
                let e = d - dl;
                s[0] += e * e;
            }
        }
        Some(wr) => {
            for j0 in (0..m4).step_by(4) {
                for l in 0..4 {
                    let j = j0 + l;
                    let dl = drow[j];
                    let ww = if j == i { 0.0 } else { wr[j] };
                    let dx0 = xi0 - c0[j];
                    let dx1 = xi1 - c1[j];
                    let d = (dx0 * dx0 + dx1 * dx1).sqrt();
                    let r = if d > 0.0 { ww * dl / d } else { 0.0 };
                    a0[l] += r * dx0;
                    a1[l] += r * dx1;
                    let e = d - dl;
                    s[l] += ww * e * e;
                }
            }
            for j in m4..n {
                let dl = drow[j];
                let ww = if j == i { 0.0 } else { wr[j] };
                let dx0 = xi0 - c0[j];
                let dx1 = xi1 - c1[j];
                let d = (dx0 * dx0 + dx1 * dx1).sqrt();
                let r = if d > 0.0 { ww * dl / d } else { 0.0 };
                a0[0] += r * dx0;
                a1[0] += r * dx1;
                let e = d - dl;
                s[0] += ww * e * e;
            }
        }
    }
    o[0] = (a0[0] + a0[1]) + (a0[2] + a0[3]);
    o[1] = (a1[0] + a1[1]) + (a1[2] + a1[3]);
    (s[0] + s[1]) + (s[2] + s[3])
}

fn row_dyn(
    i: usize,
    n: usize,
    p: usize,
    drow: &[f64],
    wrow: Option<&[f64]>,
    xt: &[f64],
    o: &mut [f64],
) -> f64 {
    let xi: Vec<f64> = (0..p).map(|k| xt[k * n + i]).collect();
    let mut acc = vec![0.0; p];
    let mut dx = vec![0.0; p];
    let mut s = 0.0;
    for j in 0..n {
        if j == i {
            continue;
        }
        let ww = wrow.map_or(1.0, |w| w[j]);
        let mut d2 = 0.0;
        for k in 0..p {
            dx[k] = xi[k] - xt[k * n + j];
            d2 += dx[k] * dx[k];
        }
        let d = d2.sqrt();
        let dl = drow[j];
        if d > 0.0 {
            let r = ww * dl / d;
            for k in 0..p {
                acc[k] += r * dx[k];
            }
        }
        let e = d - dl;
        s += ww * e * e;
    }
    o[..p].copy_from_slice(&acc);
    s
}

/// Mean positive off-diagonal dissimilarity (scale of random starts).
fn mean_dissim(delta: &[f64], n: usize) -> f64 {
    let s: f64 = delta.iter().sum();
    let m = s / (n * (n - 1)) as f64;
    if m > 0.0 {
        m
    } else {
        1.0
    }
}

/// Random configuration: N(0, (mean δ)² / 2) per coordinate, so that E d_ij ≈ mean δ.
pub(crate) fn random_config(n: usize, ndim: usize, scale: f64, seed: u64) -> Array2<f64> {
    let mut rng = SeededRng::new(seed);
    let sd = scale / std::f64::consts::SQRT_2 / (ndim as f64).sqrt().max(1.0) * 1.2;
    Array2::from_shape_fn((n, ndim), |_| sd * rng.normal())
}

/// Starting configuration of start number `run` (0-based): `init` for the first start,
/// random starts afterwards. The classical solution is cached across calls.
pub(crate) fn start_config(
    init: &Init,
    run: usize,
    delta: &[f64],
    n: usize,
    ndim: usize,
    seed: u64,
    classical_cache: &mut Option<Array2<f64>>,
) -> Result<Array2<f64>> {
    let run_seed = seed ^ (run as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    match (run, init) {
        (0, Init::Classical) => {
            if classical_cache.is_none() {
                *classical_cache = Some(classical_core(delta, n, ndim)?);
            }
            classical_cache
                .clone()
                .ok_or_else(|| DpvaeError::Numeric("internal: classical start missing".into()))
        }
        (0, Init::Given(g)) => Ok(g.clone()),
        _ => Ok(random_config(n, ndim, mean_dissim(delta, n), run_seed)),
    }
}

pub(crate) fn check_options(opts: &SmacofOptions) -> Result<()> {
    if opts.ndim == 0 {
        return Err(input_err("`ndim` must be at least 1"));
    }
    if opts.n_init == 0 {
        return Err(input_err("`n_init` must be at least 1"));
    }
    if !opts.eps.is_finite() || opts.eps < 0.0 {
        return Err(input_err(format!(
            "`eps` must be a finite number >= 0, got {}",
            opts.eps
        )));
    }
    Ok(())
}

/// Weighted metric SMACOF. `weights = None` means unit weights. See the module docs.
pub fn smacof(
    delta: ArrayView2<f64>,
    weights: Option<ArrayView2<f64>>,
    opts: &SmacofOptions,
) -> Result<SmacofResult> {
    smacof_with_callback(delta, weights, opts, &mut |_, _| true)
}

/// [`smacof`] with a progress callback `(iteration, objective) -> continue?` called on the calling
/// thread after every pass (e.g. to poll for a user interrupt); returning `false` aborts with
/// [`DpvaeError::Interrupted`].
// `!(x > y)` on purpose: it also rejects NaN
#[allow(clippy::neg_cmp_op_on_partial_ord)]
pub fn smacof_with_callback(
    delta: ArrayView2<f64>,
    weights: Option<ArrayView2<f64>>,
    opts: &SmacofOptions,
    cb: Callback,
) -> Result<SmacofResult> {
    check_options(opts)?;
    let d = check_dissimilarity(delta, "delta")?;
    let n = d.n;
    let wts = check_weights(weights, n)?;
    if let Init::Given(g) = &opts.init {
        check_coords(g.view(), n, opts.ndim, "init", None)?;
    }
    let ds = std_slice(&d.data)?;
    let w = weights_view(&wts)?;
    let norm = weighted_norm(ds, &w, n);
    if !(norm > 0.0) {
        return Err(input_err(
            "all dissimilarities with a positive weight are zero; there is nothing to scale",
        ));
    }
    let solver = match &w {
        W::Uniform(c) => Solver::Scale(1.0 / (c * n as f64)),
        W::Dense(wm) => {
            let (_, ncomp) = components(wm, n);
            if ncomp > 1 {
                return Err(input_err(format!(
                    "the pairs with positive weight split the points into {ncomp} unconnected groups, \
                     whose relative positions are then undetermined; give each group some positive \
                     weights to the others"
                )));
            }
            let idx: Vec<usize> = (0..n).collect();
            let mut v = v_matrix(&w, n, &idx);
            let (mut sw, mut cnt) = (0.0, 0usize);
            for (k, &x) in wm.iter().enumerate() {
                if k / n != k % n && x > 0.0 {
                    sw += x;
                    cnt += 1;
                }
            }
            // V + a 11ᵀ (a = mean positive weight, for conditioning) is PD for a connected graph
            v.add_scalar_mut(sw / cnt.max(1) as f64);
            Solver::chol(v).ok_or_else(|| {
                DpvaeError::Numeric(
                    "SMACOF: Cholesky factorisation of the weight matrix failed".into(),
                )
            })?
        }
    };
    let engine = Engine {
        n,
        p: opts.ndim,
        delta: ds,
        w,
        norm,
        mode: Mode::Free,
        solver,
    };
    let mut cache = None;
    let mut best: Option<SmacofResult> = None;
    for run in 0..opts.n_init {
        let x0 = start_config(&opts.init, run, ds, n, opts.ndim, opts.seed, &mut cache)?;
        let res = engine
            .run(&x0, opts.max_iter, opts.eps, &mut *cb)?
            .into_result(norm);
        if best
            .as_ref()
            .map_or(true, |b| res.raw_stress < b.raw_stress)
        {
            best = Some(res);
        }
    }
    best.ok_or_else(|| DpvaeError::Numeric("internal: no SMACOF start ran".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DpvaeError;
    use crate::geometry::testutil::*;
    use nalgebra::DMatrix;

    fn opts(init: Init) -> SmacofOptions {
        SmacofOptions {
            init,
            ..Default::default()
        }
    }

    fn nonincreasing(h: &[f64]) -> bool {
        h.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12) + 1e-12)
    }

    #[test]
    fn recovers_euclidean_configuration() {
        let x = gaussian(30, 2, 1);
        let d = dist(&x);
        let r = smacof(d.view(), None, &opts(Init::Classical)).unwrap();
        assert!(r.converged);
        assert!(r.stress1 < 1e-8, "{}", r.stress1);
        assert!(procrustes_disparity(&x, &r.coords) < 1e-12);
        // from random starts
        let o = SmacofOptions {
            init: Init::Random,
            n_init: 4,
            max_iter: 5000,
            eps: 1e-14,
            ..Default::default()
        };
        let r = smacof(d.view(), None, &o).unwrap();
        assert!(r.stress1 < 1e-5, "{}", r.stress1);
        assert!(procrustes_disparity(&x, &r.coords) < 1e-8);
        // 3-D, generic code path
        let x3 = gaussian(25, 3, 2);
        let o3 = SmacofOptions {
            ndim: 3,
            init: Init::Random,
            max_iter: 5000,
            eps: 1e-14,
            n_init: 3,
            ..Default::default()
        };
        let r3 = smacof(dist(&x3).view(), None, &o3).unwrap();
        assert!(
            procrustes_disparity(&x3, &r3.coords) < 1e-8,
            "{}",
            r3.stress1
        );
    }

    #[test]
    fn weighted_with_missing_pairs_recovers() {
        let x = gaussian(40, 2, 3);
        let d = dist(&x);
        let mut rng = SeededRng::new(9);
        let mut w = Array2::<f64>::ones((40, 40));
        for i in 0..40 {
            for j in (i + 1)..40 {
                if rng.next_f64() < 0.3 {
                    w[[i, j]] = 0.0;
                    w[[j, i]] = 0.0;
                }
            }
        }
        // missing entries are garbage: must not matter
        let mut dm = d.clone();
        for i in 0..40 {
            for j in 0..40 {
                if w[[i, j]] == 0.0 && i != j {
                    dm[[i, j]] = 1.0;
                }
            }
        }
        let o = SmacofOptions {
            init: Init::Random,
            max_iter: 5000,
            eps: 1e-14,
            n_init: 3,
            ..Default::default()
        };
        let r = smacof(dm.view(), Some(w.view()), &o).unwrap();
        assert!(nonincreasing(&r.objective_history));
        assert!(
            procrustes_disparity(&x, &r.coords) < 1e-8,
            "stress1 {}",
            r.stress1
        );
    }

    #[test]
    fn history_is_nonincreasing_on_noisy_data() {
        let x = gaussian(50, 3, 4);
        let d = perturb(&dist(&x), 0.3, 5);
        for init in [Init::Classical, Init::Random] {
            let r = smacof(d.view(), None, &opts(init)).unwrap();
            assert!(
                nonincreasing(&r.objective_history),
                "{:?}",
                r.objective_history
            );
            assert_eq!(r.objective_history.len(), r.iterations + 1);
            assert!((r.raw_stress - r.objective_history.last().unwrap()).abs() < 1e-12);
            let recomputed: f64 = {
                let dd = dist(&r.coords);
                let mut s = 0.0;
                for i in 0..50 {
                    for j in (i + 1)..50 {
                        s += (dd[[i, j]] - d[[i, j]]).powi(2);
                    }
                }
                s
            };
            assert!((recomputed - r.raw_stress).abs() < 1e-9 * recomputed);
        }
        let mut rng = SeededRng::new(1);
        let mut w = Array2::<f64>::zeros((50, 50));
        for i in 0..50 {
            for j in (i + 1)..50 {
                let v = 0.1 + rng.next_f64();
                w[[i, j]] = v;
                w[[j, i]] = v;
            }
        }
        let r = smacof(d.view(), Some(w.view()), &opts(Init::Random)).unwrap();
        assert!(nonincreasing(&r.objective_history));
    }

    /// Independent, naive SMACOF (full matrices, eigen pseudo-inverse of V).
    fn naive_smacof(
        d: &Array2<f64>,
        w: &Array2<f64>,
        x0: &Array2<f64>,
        iters: usize,
    ) -> Array2<f64> {
        let n = d.nrows();
        let mut v = DMatrix::<f64>::zeros(n, n);
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    v[(i, j)] = -w[[i, j]];
                    v[(i, i)] += w[[i, j]];
                }
            }
        }
        // pseudo-inverse from the eigendecomposition (nalgebra's `pseudo_inverse` is only
        // accurate to ~1e-6 here)
        let eig = nalgebra::SymmetricEigen::new(v);
        let mut vp = DMatrix::<f64>::zeros(n, n);
        for k in 0..n {
            let lam = eig.eigenvalues[k];
            if lam > 1e-10 {
                let u = eig.eigenvectors.column(k);
                vp += (u * u.transpose()) / lam;
            }
        }
        let mut x = x0.clone();
        for _ in 0..iters {
            let dx = dist(&x);
            let mut b = Array2::<f64>::zeros((n, n));
            for i in 0..n {
                for j in 0..n {
                    if i != j && dx[[i, j]] > 0.0 {
                        b[[i, j]] = -w[[i, j]] * d[[i, j]] / dx[[i, j]];
                    }
                }
                let s: f64 = b.row(i).sum();
                b[[i, i]] = -s;
            }
            let bz = b.dot(&x);
            let vpa = Array2::from_shape_fn((n, n), |(i, j)| vp[(i, j)]);
            x = vpa.dot(&bz);
        }
        x
    }

    #[test]
    fn matches_naive_smacof_tiny() {
        let x = gaussian(6, 2, 7);
        let d = perturb(&dist(&x), 0.2, 8);
        let x0 = gaussian(6, 2, 9);
        let mut rng = SeededRng::new(3);
        let mut w = Array2::<f64>::zeros((6, 6));
        for i in 0..6 {
            for j in (i + 1)..6 {
                let v = 0.5 + rng.next_f64();
                w[[i, j]] = v;
                w[[j, i]] = v;
            }
        }
        for (wopt, wfull) in [
            (None, Array2::<f64>::ones((6, 6))),
            (Some(w.view()), w.clone()),
        ] {
            let o = SmacofOptions {
                max_iter: 25,
                eps: 0.0,
                init: Init::Given(x0.clone()),
                ..Default::default()
            };
            let r = smacof(d.view(), wopt, &o).unwrap();
            let naive = naive_smacof(&d, &wfull, &x0, r.iterations);
            assert!(r.iterations >= 10);
            // naive V⁺ centres; our unweighted/weighted updates centre too after one step
            assert!(
                max_abs_diff(&r.coords, &naive) < 1e-9,
                "{}",
                max_abs_diff(&r.coords, &naive)
            );
        }
    }

    #[test]
    fn constant_weights_equal_unweighted_scaled() {
        let x = gaussian(20, 2, 10);
        let d = perturb(&dist(&x), 0.2, 11);
        let w = Array2::from_elem((20, 20), 3.0);
        let a = smacof(d.view(), None, &opts(Init::Classical)).unwrap();
        let b = smacof(d.view(), Some(w.view()), &opts(Init::Classical)).unwrap();
        assert!(max_abs_diff(&a.coords, &b.coords) < 1e-12);
        assert!((3.0 * a.raw_stress - b.raw_stress).abs() < 1e-9);
        assert!((a.stress1 - b.stress1).abs() < 1e-12);
    }

    #[test]
    fn n_init_keeps_best_and_is_deterministic() {
        let x = gaussian(30, 2, 12);
        let d = perturb(&dist(&x), 0.5, 13);
        let o1 = SmacofOptions {
            init: Init::Random,
            seed: 5,
            ..Default::default()
        };
        let o5 = SmacofOptions {
            n_init: 5,
            ..o1.clone()
        };
        let r1 = smacof(d.view(), None, &o1).unwrap();
        let r5 = smacof(d.view(), None, &o5).unwrap();
        assert!(r5.raw_stress <= r1.raw_stress);
        let r5b = smacof(d.view(), None, &o5).unwrap();
        assert_eq!(r5.coords, r5b.coords);
    }

    #[test]
    fn callback_can_interrupt() {
        let x = gaussian(10, 2, 1);
        let d = perturb(&dist(&x), 0.3, 2);
        let mut calls = 0;
        let r = smacof_with_callback(d.view(), None, &opts(Init::Random), &mut |it, _| {
            calls += 1;
            it < 3
        });
        assert!(matches!(r, Err(DpvaeError::Interrupted)));
        assert_eq!(calls, 4);
    }

    #[test]
    fn bad_inputs_are_input_errors() {
        let x = gaussian(5, 2, 1);
        let d = dist(&x);
        let is_input = |r: Result<SmacofResult>| matches!(r, Err(DpvaeError::Input(_)));
        assert!(is_input(smacof(
            d.slice(ndarray::s![.., ..4]),
            None,
            &opts(Init::Classical)
        )));
        let mut asym = d.clone();
        asym[[0, 1]] += 0.5;
        assert!(is_input(smacof(asym.view(), None, &opts(Init::Classical))));
        let mut nan = d.clone();
        nan[[1, 2]] = f64::NAN;
        nan[[2, 1]] = f64::NAN;
        assert!(is_input(smacof(nan.view(), None, &opts(Init::Classical))));
        let mut neg = d.clone();
        neg[[1, 2]] = -1.0;
        neg[[2, 1]] = -1.0;
        assert!(is_input(smacof(neg.view(), None, &opts(Init::Classical))));
        let mut diag = d.clone();
        diag[[3, 3]] = 1.0;
        assert!(is_input(smacof(diag.view(), None, &opts(Init::Classical))));
        assert!(is_input(smacof(
            Array2::<f64>::zeros((1, 1)).view(),
            None,
            &opts(Init::Classical)
        )));
        assert!(is_input(smacof(
            Array2::<f64>::zeros((4, 4)).view(),
            None,
            &opts(Init::Classical)
        )));
        let bad_options = [
            SmacofOptions {
                ndim: 0,
                ..Default::default()
            },
            SmacofOptions {
                n_init: 0,
                ..Default::default()
            },
            SmacofOptions {
                eps: f64::NAN,
                ..Default::default()
            },
        ];
        for bad in &bad_options {
            assert!(is_input(smacof(d.view(), None, bad)));
        }
        assert!(is_input(smacof(
            d.view(),
            None,
            &opts(Init::Given(Array2::zeros((5, 3))))
        )));
        let mut g = Array2::<f64>::zeros((5, 2));
        g[[0, 0]] = f64::INFINITY;
        assert!(is_input(smacof(d.view(), None, &opts(Init::Given(g)))));
        let w = Array2::<f64>::ones((4, 4));
        assert!(is_input(smacof(
            d.view(),
            Some(w.view()),
            &opts(Init::Classical)
        )));
        let mut wn = Array2::<f64>::ones((5, 5));
        wn[[0, 1]] = -1.0;
        wn[[1, 0]] = -1.0;
        assert!(is_input(smacof(
            d.view(),
            Some(wn.view()),
            &opts(Init::Classical)
        )));
        let mut wa = Array2::<f64>::ones((5, 5));
        wa[[0, 1]] = 2.0;
        assert!(is_input(smacof(
            d.view(),
            Some(wa.view()),
            &opts(Init::Classical)
        )));
        // disconnected: points {0,1} vs {2,3,4}
        let mut wd = Array2::<f64>::ones((5, 5));
        for i in 0..2 {
            for j in 2..5 {
                wd[[i, j]] = 0.0;
                wd[[j, i]] = 0.0;
            }
        }
        assert!(is_input(smacof(
            d.view(),
            Some(wd.view()),
            &opts(Init::Classical)
        )));
    }
}
