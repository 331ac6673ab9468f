//! SMACOF with known coordinates for some points (imputation of cells without coordinates).
//!
//! * [`smacof_fixed`] — hard constraint: only the free rows move. The majorisation step is
//!   restricted to the free block: V_ff X_f = B(Z)_f Z − V_fk X_k, which is positive definite
//!   when every free point is linked (through pairs with positive weight) to some fixed point.
//!   Unit/constant weights use a Sherman–Morrison closed form (no cubic step); general weights a
//!   Cholesky factor of V_ff computed once. Fixed rows of the result are bit-identical to the
//!   input. Since the fixed rows pin position, rotation and scale, no Procrustes step is needed
//!   afterwards.
//! * [`smacof_penalized`] — the paper's Lagrangian form: stress + μ Σ_known ‖x_i − s_i‖².
//!   Majorised by (V + μ D_known) X = B(Z)Z + μ D_known S. As μ → ∞ the solution tends to the
//!   hard-constrained one. `objective_history` records stress + penalty (the minimised quantity);
//!   `raw_stress`/`stress1` are the plain stress of the result.
//!
//! Starts: with [`Init::Classical`] (and for random starts) the starting configuration is
//! mapped onto the known rows by a similarity Procrustes fit, then the known rows are set to
//! their coordinates. With [`Init::Given`] only the known rows are overwritten.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::smacof::{
    check_options, start_config, v_matrix, weighted_norm, weights_view, Callback, Engine, Init,
    Mode, SmacofOptions, SmacofResult, Solver, W,
};
use super::{
    align_similarity, check_anchored, check_coords, check_dissimilarity, check_weights, input_err,
    std_slice, Dissim, Weights,
};
use crate::error::{DpvaeError, Result};

/// SMACOF with the rows where `fixed[i]` held at `fixed_coords[i, ]` (hard constraint).
/// `fixed_coords` is `n × ndim`; only its fixed rows are read (others may be NaN).
pub fn smacof_fixed(
    delta: ArrayView2<f64>,
    weights: Option<ArrayView2<f64>>,
    fixed: &[bool],
    fixed_coords: ArrayView2<f64>,
    opts: &SmacofOptions,
) -> Result<SmacofResult> {
    smacof_fixed_with_callback(delta, weights, fixed, fixed_coords, opts, &mut |_, _| true)
}

/// [`smacof_fixed`] with a progress/interrupt callback (see [`super::smacof::smacof_with_callback`]).
pub fn smacof_fixed_with_callback(
    delta: ArrayView2<f64>,
    weights: Option<ArrayView2<f64>>,
    fixed: &[bool],
    fixed_coords: ArrayView2<f64>,
    opts: &SmacofOptions,
    cb: Callback,
) -> Result<SmacofResult> {
    let (d, wts, norm) = check_anchored_inputs(
        delta,
        weights,
        opts,
        (fixed, "fixed"),
        (fixed_coords, "fixed_coords"),
        "no point is fixed",
    )?;
    let (n, p) = (d.n, opts.ndim);
    let ds = std_slice(&d.data)?;
    let w = weights_view(&wts)?;
    let nk = fixed.iter().filter(|&&f| f).count();
    let free: Vec<usize> = (0..n).filter(|&i| !fixed[i]).collect();
    let nf = free.len();
    let xk: Vec<f64> = (0..n)
        .flat_map(|i| (0..p).map(move |k| (i, k)))
        .map(|(i, k)| if fixed[i] { fixed_coords[[i, k]] } else { 0.0 })
        .collect();
    // −V_fk X_k = Σ_{k fixed} w_ik x_k, one row per free point
    let rhs_const: Vec<f64> = match &w {
        W::Uniform(c) => {
            let mut s = vec![0.0; p];
            for i in (0..n).filter(|&i| fixed[i]) {
                for k in 0..p {
                    s[k] += xk[i * p + k];
                }
            }
            (0..nf).flat_map(|_| s.iter().map(|v| c * v)).collect()
        }
        W::Dense(wm) => {
            let mut out = vec![0.0; nf * p];
            out.par_chunks_mut(p.max(1))
                .zip(free.par_iter())
                .for_each(|(o, &i)| {
                    for j in (0..n).filter(|&j| fixed[j]) {
                        let wij = wm[i * n + j];
                        for k in 0..p {
                            o[k] += wij * xk[j * p + k];
                        }
                    }
                });
            out
        }
    };
    if let W::Dense(wm) = &w {
        check_anchored(wm, n, fixed, "fixed point")?;
    }
    let solver = if nf == 0 {
        Solver::Scale(0.0)
    } else {
        match &w {
            W::Uniform(c) => Solver::rank1(*c, &vec![n as f64; nf], nk as f64 / n as f64),
            W::Dense(_) => Solver::chol(v_matrix(&w, n, &free)),
        }
        .ok_or_else(|| {
            DpvaeError::Numeric("SMACOF: Cholesky factorisation of the free block failed".into())
        })?
    };
    let engine = Engine {
        n,
        p,
        delta: ds,
        w,
        norm,
        mode: Mode::Fixed { free, rhs_const },
        solver,
    };
    let max_iter = if nf == 0 { 0 } else { opts.max_iter };
    let runs = if nf == 0 { 1 } else { opts.n_init };
    run_starts(
        &engine,
        opts,
        ds,
        fixed,
        fixed_coords,
        runs,
        max_iter,
        norm,
        cb,
    )
}

/// SMACOF with the penalty `mu · Σ_{known} ‖x_i − known_coords[i, ]‖²` (the paper's Lagrangian
/// form). `known_coords` is `n × ndim`; only rows with `known[i]` are read. `mu > 0`.
pub fn smacof_penalized(
    delta: ArrayView2<f64>,
    weights: Option<ArrayView2<f64>>,
    known: &[bool],
    known_coords: ArrayView2<f64>,
    mu: f64,
    opts: &SmacofOptions,
) -> Result<SmacofResult> {
    smacof_penalized_with_callback(
        delta,
        weights,
        known,
        known_coords,
        mu,
        opts,
        &mut |_, _| true,
    )
}

/// [`smacof_penalized`] with a progress/interrupt callback.
pub fn smacof_penalized_with_callback(
    delta: ArrayView2<f64>,
    weights: Option<ArrayView2<f64>>,
    known: &[bool],
    known_coords: ArrayView2<f64>,
    mu: f64,
    opts: &SmacofOptions,
    cb: Callback,
) -> Result<SmacofResult> {
    if !mu.is_finite() || mu <= 0.0 {
        return Err(input_err(format!(
            "`mu` must be a finite number > 0, got {mu}"
        )));
    }
    let (d, wts, norm) = check_anchored_inputs(
        delta,
        weights,
        opts,
        (known, "known"),
        (known_coords, "known_coords"),
        "no point has known coordinates",
    )?;
    let (n, p) = (d.n, opts.ndim);
    let ds = std_slice(&d.data)?;
    let w = weights_view(&wts)?;
    let nk = known.iter().filter(|&&f| f).count();
    let target: Vec<f64> = (0..n)
        .flat_map(|i| (0..p).map(move |k| (i, k)))
        .map(|(i, k)| if known[i] { known_coords[[i, k]] } else { 0.0 })
        .collect();
    if let W::Dense(wm) = &w {
        check_anchored(wm, n, known, "point with known coordinates")?;
    }
    let solver = match &w {
        W::Uniform(c) => {
            let m = mu / c;
            let nf = n as f64;
            let a: Vec<f64> = known.iter().map(|&k| if k { nf + m } else { nf }).collect();
            // 1 − Σ 1/a_i in closed form (avoids cancellation for small mu)
            Solver::rank1(*c, &a, nk as f64 * m / (nf * (nf + m)))
        }
        W::Dense(_) => {
            let idx: Vec<usize> = (0..n).collect();
            let mut v = v_matrix(&w, n, &idx);
            for i in 0..n {
                if known[i] {
                    v[(i, i)] += mu;
                }
            }
            Solver::chol(v)
        }
    }
    .ok_or_else(|| {
        DpvaeError::Numeric("SMACOF: Cholesky factorisation of the penalised system failed".into())
    })?;
    let engine = Engine {
        n,
        p,
        delta: ds,
        w,
        norm,
        mode: Mode::Penalized {
            known: known.to_vec(),
            target,
            mu,
        },
        solver,
    };
    run_starts(
        &engine,
        opts,
        ds,
        known,
        known_coords,
        opts.n_init,
        opts.max_iter,
        norm,
        cb,
    )
}

fn check_mask(mask: &[bool], n: usize, name: &str) -> Result<()> {
    if mask.len() != n {
        return Err(input_err(format!(
            "`{name}` must have one entry per point ({n}), got {}",
            mask.len()
        )));
    }
    Ok(())
}

/// The checks both constrained fits share: options, dissimilarities, weights, the mask of points with
/// coordinates and those coordinates, a given start, at least one anchored point (`no_anchor`: what to say
/// otherwise) and something to scale. Returns the dissimilarities, weights and their weighted norm.
// `!(x > y)` on purpose: it also rejects NaN
#[allow(clippy::neg_cmp_op_on_partial_ord)]
fn check_anchored_inputs<'d, 'w>(
    delta: ArrayView2<'d, f64>,
    weights: Option<ArrayView2<'w, f64>>,
    opts: &SmacofOptions,
    (mask, mask_name): (&[bool], &str),
    (coords, coords_name): (ArrayView2<f64>, &str),
    no_anchor: &str,
) -> Result<(Dissim<'d>, Weights<'w>, f64)> {
    check_options(opts)?;
    let d = check_dissimilarity(delta, "delta")?;
    let (n, p) = (d.n, opts.ndim);
    let wts = check_weights(weights, n)?;
    check_mask(mask, n, mask_name)?;
    check_coords(coords, n, p, coords_name, Some(mask))?;
    if let Init::Given(g) = &opts.init {
        check_coords(g.view(), n, p, "init", None)?;
    }
    if !mask.iter().any(|&f| f) {
        return Err(input_err(format!(
            "{no_anchor}; use smacof() for an unconstrained solution"
        )));
    }
    let norm = weighted_norm(std_slice(&d.data)?, &weights_view(&wts)?, n);
    if !(norm > 0.0) {
        return Err(input_err(
            "all dissimilarities with a positive weight are zero; there is nothing to scale",
        ));
    }
    Ok((d, wts, norm))
}

#[allow(clippy::too_many_arguments)]
fn run_starts(
    engine: &Engine,
    opts: &SmacofOptions,
    ds: &[f64],
    mask: &[bool],
    coords: ArrayView2<f64>,
    runs: usize,
    max_iter: usize,
    norm: f64,
    cb: Callback,
) -> Result<SmacofResult> {
    let (n, p) = (engine.n, engine.p);
    let mut cache = None;
    let mut best: Option<SmacofResult> = None;
    for run in 0..runs {
        let mut x0 = start_config(&opts.init, run, ds, n, p, opts.seed, &mut cache)?;
        let given = run == 0 && matches!(opts.init, Init::Given(_));
        if !given {
            x0 = align_similarity(&x0, mask, coords)?;
        }
        for i in (0..n).filter(|&i| mask[i]) {
            for k in 0..p {
                x0[[i, k]] = coords[[i, k]];
            }
        }
        let res = engine
            .run(&x0, max_iter, opts.eps, &mut *cb)?
            .into_result(norm);
        if best.as_ref().map_or(true, |b| {
            res.objective_history.last() < b.objective_history.last()
        }) {
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
    use crate::rng::SeededRng;
    use nalgebra::DMatrix;
    use ndarray::Array2;

    fn nonincreasing(h: &[f64]) -> bool {
        h.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12) + 1e-12)
    }

    fn mask(n: usize, every: usize) -> Vec<bool> {
        (0..n).map(|i| i % every == 0).collect()
    }

    fn random_weights(n: usize, seed: u64, zero_frac: f64) -> Array2<f64> {
        let mut rng = SeededRng::new(seed);
        let mut w = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            for j in (i + 1)..n {
                let v = if rng.next_f64() < zero_frac {
                    0.0
                } else {
                    0.2 + rng.next_f64()
                };
                w[[i, j]] = v;
                w[[j, i]] = v;
            }
        }
        w
    }

    #[test]
    fn fixed_rows_never_move_bitwise() {
        let x = gaussian(30, 2, 1);
        let d = perturb(&dist(&x), 0.3, 2);
        let fixed = mask(30, 3);
        // fixed coordinates deliberately inconsistent with delta, and with awkward bits
        let mut fc = gaussian(30, 2, 3) * 1.7 + 0.1;
        for i in 0..30 {
            if !fixed[i] {
                fc[[i, 0]] = f64::NAN; // must never be read
            }
        }
        let w = random_weights(30, 4, 0.2);
        for init in [
            Init::Classical,
            Init::Random,
            Init::Given(gaussian(30, 2, 5)),
        ] {
            for wopt in [None, Some(w.view())] {
                let o = SmacofOptions {
                    init: init.clone(),
                    n_init: 2,
                    ..Default::default()
                };
                let r = smacof_fixed(d.view(), wopt, &fixed, fc.view(), &o).unwrap();
                for i in 0..30 {
                    if fixed[i] {
                        for k in 0..2 {
                            assert_eq!(r.coords[[i, k]].to_bits(), fc[[i, k]].to_bits());
                        }
                    } else {
                        assert!(r.coords.row(i).iter().all(|v| v.is_finite()));
                    }
                }
                assert!(
                    nonincreasing(&r.objective_history),
                    "{:?}",
                    r.objective_history
                );
            }
        }
    }

    #[test]
    fn fixed_recovers_exact_positions() {
        let x = gaussian(40, 2, 6);
        let d = dist(&x);
        let fixed = mask(40, 4);
        let o = SmacofOptions {
            eps: 1e-14,
            max_iter: 5000,
            ..Default::default()
        };
        let r = smacof_fixed(d.view(), None, &fixed, x.view(), &o).unwrap();
        assert!(
            max_abs_diff(&r.coords, &x) < 1e-6,
            "{}",
            max_abs_diff(&r.coords, &x)
        );
        let w = random_weights(40, 7, 0.3);
        let r = smacof_fixed(d.view(), Some(w.view()), &fixed, x.view(), &o).unwrap();
        assert!(
            max_abs_diff(&r.coords, &x) < 1e-6,
            "{}",
            max_abs_diff(&r.coords, &x)
        );
        // 3-D
        let x3 = gaussian(30, 3, 8);
        let o3 = SmacofOptions { ndim: 3, ..o };
        let r3 = smacof_fixed(dist(&x3).view(), None, &mask(30, 3), x3.view(), &o3).unwrap();
        assert!(max_abs_diff(&r3.coords, &x3) < 1e-6);
    }

    #[test]
    fn dense_and_closed_form_paths_agree() {
        let x = gaussian(25, 2, 9);
        let d = perturb(&dist(&x), 0.3, 10);
        let fixed = mask(25, 5);
        let mut w = Array2::<f64>::ones((25, 25));
        w[[3, 4]] = 1.0 + 1e-15; // forces the general (Cholesky) path
        w[[4, 3]] = 1.0 + 1e-15;
        let o = SmacofOptions {
            max_iter: 50,
            eps: 0.0,
            ..Default::default()
        };
        let a = smacof_fixed(d.view(), None, &fixed, x.view(), &o).unwrap();
        let b = smacof_fixed(d.view(), Some(w.view()), &fixed, x.view(), &o).unwrap();
        assert!(max_abs_diff(&a.coords, &b.coords) < 1e-9);
        let a = smacof_penalized(d.view(), None, &fixed, x.view(), 3.0, &o).unwrap();
        let b = smacof_penalized(d.view(), Some(w.view()), &fixed, x.view(), 3.0, &o).unwrap();
        assert!(max_abs_diff(&a.coords, &b.coords) < 1e-9);
    }

    #[test]
    fn matches_naive_fixed_update_tiny() {
        let n = 6;
        let x = gaussian(n, 2, 11);
        let d = perturb(&dist(&x), 0.2, 12);
        let w = random_weights(n, 13, 0.0);
        let fixed = vec![true, false, true, false, false, true];
        let x0 = gaussian(n, 2, 14);
        let o = SmacofOptions {
            max_iter: 20,
            eps: 0.0,
            init: Init::Given(x0.clone()),
            ..Default::default()
        };
        let r = smacof_fixed(d.view(), Some(w.view()), &fixed, x.view(), &o).unwrap();
        // naive: X_f = V_ff⁻¹ (B(Z)Z − V Z with free rows zeroed)_f
        let mut z = x0.clone();
        for i in (0..n).filter(|&i| fixed[i]) {
            z.row_mut(i).assign(&x.row(i));
        }
        let mut v = Array2::<f64>::zeros((n, n));
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    v[[i, j]] = -w[[i, j]];
                    v[[i, i]] += w[[i, j]];
                }
            }
        }
        let free: Vec<usize> = (0..n).filter(|&i| !fixed[i]).collect();
        let vff = DMatrix::from_fn(free.len(), free.len(), |a, b| v[[free[a], free[b]]]);
        let vffi = vff.try_inverse().unwrap();
        for _ in 0..r.iterations {
            let dz = dist(&z);
            let mut b = Array2::<f64>::zeros((n, n));
            for i in 0..n {
                for j in 0..n {
                    if i != j && dz[[i, j]] > 0.0 {
                        b[[i, j]] = -w[[i, j]] * d[[i, j]] / dz[[i, j]];
                    }
                }
                b[[i, i]] = -b.row(i).sum();
            }
            let bz = b.dot(&z);
            let mut zk = z.clone();
            for &i in &free {
                zk.row_mut(i).fill(0.0);
            }
            let vzk = v.dot(&zk);
            let mut newz = z.clone();
            for (a, &i) in free.iter().enumerate() {
                for k in 0..2 {
                    let mut s = 0.0;
                    for (bb, &j) in free.iter().enumerate() {
                        s += vffi[(a, bb)] * (bz[[j, k]] - vzk[[j, k]]);
                    }
                    newz[[i, k]] = s;
                }
            }
            z = newz;
        }
        assert!(r.iterations == 20);
        assert!(
            max_abs_diff(&r.coords, &z) < 1e-10,
            "{}",
            max_abs_diff(&r.coords, &z)
        );
    }

    #[test]
    fn penalized_tends_to_hard_solution() {
        let x = gaussian(30, 2, 15);
        let d = perturb(&dist(&x), 0.25, 16);
        let known = mask(30, 3);
        let target = &x * 1.1; // not exactly consistent with delta
        let o = SmacofOptions {
            eps: 1e-13,
            max_iter: 20000,
            ..Default::default()
        };
        let hard = smacof_fixed(d.view(), None, &known, target.view(), &o).unwrap();
        let mut last = f64::INFINITY;
        for mu in [1.0, 10.0, 100.0, 1e3, 1e4, 1e5] {
            let pen = smacof_penalized(d.view(), None, &known, target.view(), mu, &o).unwrap();
            assert!(nonincreasing(&pen.objective_history));
            let gap = max_abs_diff(&pen.coords, &hard.coords);
            assert!(gap < last * 1.0001, "mu {mu}: gap {gap} after {last}");
            last = gap;
        }
        assert!(last < 1e-3, "final gap {last}");
        // weighted too
        let w = random_weights(30, 17, 0.2);
        let hard = smacof_fixed(d.view(), Some(w.view()), &known, target.view(), &o).unwrap();
        let pen =
            smacof_penalized(d.view(), Some(w.view()), &known, target.view(), 1e5, &o).unwrap();
        assert!(max_abs_diff(&pen.coords, &hard.coords) < 1e-3);
    }

    #[test]
    fn all_fixed_returns_input() {
        let x = gaussian(5, 2, 1);
        let d = dist(&x);
        let r = smacof_fixed(
            d.view(),
            None,
            &[true; 5],
            x.view(),
            &SmacofOptions::default(),
        )
        .unwrap();
        assert_eq!(r.coords, x);
        assert_eq!(r.iterations, 0);
        assert!(r.raw_stress < 1e-20);
    }

    #[test]
    fn bad_inputs_are_input_errors() {
        let x = gaussian(6, 2, 1);
        let d = dist(&x);
        let o = SmacofOptions::default();
        let m = mask(6, 2);
        let is_input = |r: Result<SmacofResult>| matches!(r, Err(DpvaeError::Input(_)));
        assert!(is_input(smacof_fixed(
            d.view(),
            None,
            &m[..5],
            x.view(),
            &o
        )));
        assert!(is_input(smacof_fixed(
            d.view(),
            None,
            &[false; 6],
            x.view(),
            &o
        )));
        assert!(is_input(smacof_fixed(
            d.view(),
            None,
            &m,
            x.slice(ndarray::s![.., ..1]),
            &o
        )));
        let mut bad = x.clone();
        bad[[0, 0]] = f64::NAN; // row 0 is fixed
        assert!(is_input(smacof_fixed(d.view(), None, &m, bad.view(), &o)));
        // free point 1 linked only to free points
        let mut w = Array2::<f64>::ones((6, 6));
        for j in [0, 2, 4] {
            w[[1, j]] = 0.0;
            w[[j, 1]] = 0.0;
        }
        w[[3, 5]] = 0.0;
        w[[5, 3]] = 0.0;
        for j in [0, 2, 4] {
            w[[3, j]] = 0.0;
            w[[j, 3]] = 0.0;
        }
        w[[5, 0]] = 0.0;
        w[[0, 5]] = 0.0;
        w[[5, 2]] = 0.0;
        w[[2, 5]] = 0.0;
        w[[5, 4]] = 0.0;
        w[[4, 5]] = 0.0;
        assert!(is_input(smacof_fixed(
            d.view(),
            Some(w.view()),
            &m,
            x.view(),
            &o
        )));
        assert!(is_input(smacof_penalized(
            d.view(),
            Some(w.view()),
            &m,
            x.view(),
            1.0,
            &o
        )));
        for mu in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(is_input(smacof_penalized(
                d.view(),
                None,
                &m,
                x.view(),
                mu,
                &o
            )));
        }
        assert!(is_input(smacof_penalized(
            d.view(),
            None,
            &[false; 6],
            x.view(),
            1.0,
            &o
        )));
    }
}
