//! Imputation of positions for cells without coordinates, from a fitted model's latent space.
//!
//! The cells with measured coordinates are fixed. A cell without coordinates is placed so that
//! its distances to fixed cells match its latent distances divided by the model's scale `c`
//! (latent distance / c ≈ spatial distance in the model's standardised units: coordinates
//! centred and divided by one isotropic `unit`). The work is landmark placement
//! ([`super::place_points_latent_detailed`]) against the fixed cells, or against a random subset
//! of `max_landmarks` of them when there are more, so memory is linear in the number of cells
//! and no n × n matrix is built. Optionally each cell uses only its `k` nearest landmarks in
//! latent space (local placement). For small problems the placement can be refined by a joint
//! SMACOF of fixed and new cells with the fixed rows held ([`super::smacof_fixed`]).
//!
//! Coordinates go in and come out in the reference (measured) units; the fixed cells themselves
//! are not returned, so callers copy their measured coordinates unchanged.

use ndarray::{s, Array2, ArrayView2};

use super::smacof::{Init, SmacofOptions};
use super::{
    constrained::smacof_fixed_with_callback, input_err, place_points_latent_detailed,
    place_points_weighted_fn, Placement,
};
use crate::error::{check_finite, DpvaeError, Result};
use crate::rng::SeededRng;

/// Settings of [`impute_latent`].
#[derive(Debug, Clone)]
pub struct ImputeOptions {
    /// Use at most this many fixed cells as landmarks (a seeded random subset); 0 = all.
    pub max_landmarks: usize,
    /// Each new cell uses only its `k` nearest landmarks in latent space; 0 = all landmarks.
    pub k: usize,
    /// Objective evaluations per cell in the placement.
    pub max_iter: usize,
    /// Relative stopping tolerance (placement and refinement).
    pub eps: f64,
    /// Refine jointly by constrained SMACOF when fixed + new cells ≤ `refine_max` (0 = never).
    /// Only with `k = 0` (the refinement uses every pair).
    pub refine_max: usize,
    /// Guttman updates of the refinement.
    pub refine_iter: usize,
    /// Seed of the landmark subset.
    pub seed: u64,
    /// Cells placed between two progress/interrupt calls.
    pub chunk: usize,
}

impl Default for ImputeOptions {
    fn default() -> Self {
        ImputeOptions {
            max_landmarks: 5000,
            k: 0,
            max_iter: 100,
            eps: 1e-6,
            refine_max: 0,
            refine_iter: 300,
            seed: 42,
            chunk: 8192,
        }
    }
}

/// Placed cells.
#[derive(Debug, Clone)]
pub struct Imputation {
    /// `m × ndim`, reference units.
    pub coords: Array2<f64>,
    /// Per cell: normalised stress of its distances to the landmarks it used (an uncertainty).
    pub stress1: Vec<f64>,
    /// Per cell: whether its placement met the tolerance.
    pub converged: Vec<bool>,
    /// 0-based indices (into the fixed cells) of the landmarks used.
    pub landmarks: Vec<usize>,
    /// Whether the joint SMACOF refinement ran.
    pub refined: bool,
    /// Guttman updates of the refinement (0 when it did not run).
    pub refine_iterations: usize,
}

/// Progress/interrupt callback: `(cells done, total) -> keep going?`. Called on the calling
/// thread between chunks (and after each refinement update with `done == total`).
pub type Progress<'c> = &'c mut dyn FnMut(usize, usize) -> bool;

/// Seeded random subset of `size` of `0..n`, sorted.
fn subset(n: usize, size: usize, seed: u64) -> Vec<usize> {
    if size == 0 || size >= n {
        return (0..n).collect();
    }
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = SeededRng::new(seed);
    for i in 0..size {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut out = idx[..size].to_vec();
    out.sort_unstable();
    out
}

/// Place the cells whose encoder means are `latent_new` (`m × q`) among the fixed cells with
/// encoder means `latent_fixed` (`n × q`) and measured coordinates `fixed_coords` (`n × ndim`,
/// reference units). `scale` is the model's c; `centre` and `unit` its coordinate frame.
#[allow(clippy::too_many_arguments)]
pub fn impute_latent(
    latent_new: ArrayView2<f64>,
    latent_fixed: ArrayView2<f64>,
    fixed_coords: ArrayView2<f64>,
    scale: f64,
    centre: &[f64],
    unit: f64,
    opts: &ImputeOptions,
    progress: Progress,
) -> Result<Imputation> {
    check_shapes(latent_new, latent_fixed, fixed_coords)?;
    check_frame(fixed_coords.ncols(), scale, centre, unit, opts)?;
    check_finite(latent_new, "`latent_new`")?;
    check_finite(latent_fixed, "`latent_fixed`")?;
    check_finite(fixed_coords, "`fixed_coords`")?;
    let (m, nk) = (latent_new.nrows(), fixed_coords.nrows());
    let std_fixed = Array2::from_shape_fn(fixed_coords.dim(), |(i, k)| {
        (fixed_coords[[i, k]] - centre[k]) / unit
    });
    let lm = subset(nk, opts.max_landmarks, opts.seed);
    let lat_l = latent_fixed.select(ndarray::Axis(0), &lm);
    let pos_l = std_fixed.select(ndarray::Axis(0), &lm);
    let k = if opts.k >= lm.len() { 0 } else { opts.k };
    let landmarks = Anchors {
        latent: lat_l.view(),
        positions: pos_l.view(),
    };
    let mut placed = place_in_chunks(latent_new, &landmarks, scale, k, opts, &mut *progress)?;

    let mut refined = false;
    let mut refine_iterations = 0;
    // A joint SMACOF over all cells when landmarks are global and the set is small enough.
    if m > 0 && k == 0 && opts.refine_max > 0 && nk + m <= opts.refine_max {
        let fixed = Anchors {
            latent: latent_fixed.view(),
            positions: std_fixed.view(),
        };
        refine_iterations = refine_jointly(
            &mut placed.coords,
            latent_new,
            &fixed,
            scale,
            opts,
            &mut || progress(m, m),
        )?;
        placed.stress1 = landmark_stress1(&placed.coords, latent_new, &landmarks, scale);
        refined = true;
    }
    to_reference_units(&mut placed.coords, centre, unit);
    Ok(Imputation {
        coords: placed.coords,
        stress1: placed.stress1,
        converged: placed.converged,
        landmarks: lm,
        refined,
        refine_iterations,
    })
}

/// New and fixed cells agree in latent width; every fixed cell has coordinates; there is one.
fn check_shapes(
    latent_new: ArrayView2<f64>,
    latent_fixed: ArrayView2<f64>,
    fixed_coords: ArrayView2<f64>,
) -> Result<()> {
    let q = latent_new.ncols();
    let nk = fixed_coords.nrows();
    if latent_fixed.ncols() != q {
        return Err(input_err(format!(
            "the latent vectors of new ({q} columns) and fixed cells ({} columns) differ in width",
            latent_fixed.ncols()
        )));
    }
    if latent_fixed.nrows() != nk {
        return Err(input_err(format!(
            "{} fixed latent vectors but {nk} fixed coordinate rows",
            latent_fixed.nrows()
        )));
    }
    if nk == 0 {
        return Err(input_err(
            "no cell has measured coordinates, so there is nothing to place the others against",
        ));
    }
    Ok(())
}

/// The model's frame fits `p`-D coordinates and its numbers are usable.
fn check_frame(
    p: usize,
    scale: f64,
    centre: &[f64],
    unit: f64,
    opts: &ImputeOptions,
) -> Result<()> {
    if centre.len() != p {
        return Err(input_err(format!(
            "the model's frame is {}-D but the coordinates have {p} columns",
            centre.len()
        )));
    }
    if !(unit.is_finite() && unit > 0.0) {
        return Err(input_err(format!(
            "the frame's unit must be > 0, got {unit}"
        )));
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(input_err(format!("`scale` must be > 0, got {scale}")));
    }
    if opts.chunk == 0 {
        return Err(input_err("`chunk` must be >= 1"));
    }
    Ok(())
}

/// Cells with known positions (the landmarks, or every fixed cell): latent means and standardised
/// positions, row for row.
struct Anchors<'a> {
    latent: ArrayView2<'a, f64>,
    positions: ArrayView2<'a, f64>,
}

/// Place the new cells `opts.chunk` at a time against all landmarks (`k` = 0) or each cell's `k`
/// nearest, reporting progress after each chunk (standardised units).
fn place_in_chunks(
    latent_new: ArrayView2<f64>,
    landmarks: &Anchors,
    scale: f64,
    k: usize,
    opts: &ImputeOptions,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Placement> {
    let m = latent_new.nrows();
    let mut coords = Array2::<f64>::zeros((m, landmarks.positions.ncols()));
    let mut stress1 = Vec::with_capacity(m);
    let mut iterations = Vec::with_capacity(m);
    let mut converged = Vec::with_capacity(m);
    let mut start = 0;
    while start < m {
        let end = (start + opts.chunk).min(m);
        let ln = latent_new.slice(s![start..end, ..]);
        let pl: Placement = if k == 0 {
            place_points_latent_detailed(
                ln,
                landmarks.latent,
                scale,
                landmarks.positions,
                opts.max_iter,
                opts.eps,
            )?
        } else {
            place_local(ln, landmarks.latent, scale, landmarks.positions, k, opts)?
        };
        coords.slice_mut(s![start..end, ..]).assign(&pl.coords);
        stress1.extend(pl.stress1);
        iterations.extend(pl.iterations);
        converged.extend(pl.converged);
        start = end;
        if !progress(end, m) {
            return Err(DpvaeError::Interrupted);
        }
    }
    Ok(Placement {
        coords,
        stress1,
        iterations,
        converged,
    })
}

/// Euclidean distance of two rows.
fn row_distance(a: ndarray::ArrayView1<f64>, b: ndarray::ArrayView1<f64>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// SMACOF over fixed and new cells together, the fixed ones held at their positions and the new ones
/// starting from `coords` (updated in place); returns the iterations run.
fn refine_jointly(
    coords: &mut Array2<f64>,
    latent_new: ArrayView2<f64>,
    fixed: &Anchors,
    scale: f64,
    opts: &ImputeOptions,
    progress: &mut dyn FnMut() -> bool,
) -> Result<usize> {
    let (nk, m) = (fixed.latent.nrows(), latent_new.nrows());
    let (n, q, p) = (nk + m, latent_new.ncols(), coords.ncols());
    let mut lat = Array2::<f64>::zeros((n, q));
    lat.slice_mut(s![..nk, ..]).assign(&fixed.latent);
    lat.slice_mut(s![nk.., ..]).assign(&latent_new);
    let inv = 1.0 / scale;
    let mut delta = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in (i + 1)..n {
            let d = row_distance(lat.row(i), lat.row(j)) * inv;
            delta[[i, j]] = d;
            delta[[j, i]] = d;
        }
    }
    let mut init = Array2::<f64>::zeros((n, p));
    init.slice_mut(s![..nk, ..]).assign(&fixed.positions);
    init.slice_mut(s![nk.., ..]).assign(coords);
    let is_fixed: Vec<bool> = (0..n).map(|i| i < nk).collect();
    let so = SmacofOptions {
        ndim: p,
        max_iter: opts.refine_iter,
        eps: opts.eps,
        n_init: 1,
        seed: opts.seed,
        init: Init::Given(init.clone()),
    };
    let res = smacof_fixed_with_callback(
        delta.view(),
        None,
        &is_fixed,
        init.view(),
        &so,
        &mut |_, _| progress(),
    )?;
    coords.assign(&res.coords.slice(s![nk.., ..]));
    Ok(res.iterations)
}

/// Per new cell: the normalised stress (stress-1) of its distances to the landmarks at `coords`.
fn landmark_stress1(
    coords: &Array2<f64>,
    latent_new: ArrayView2<f64>,
    landmarks: &Anchors,
    scale: f64,
) -> Vec<f64> {
    let inv = 1.0 / scale;
    (0..latent_new.nrows())
        .map(|a| {
            let (mut num, mut den) = (0.0, 0.0);
            for j in 0..landmarks.latent.nrows() {
                let dl = row_distance(latent_new.row(a), landmarks.latent.row(j)) * inv;
                let dx = row_distance(coords.row(a), landmarks.positions.row(j));
                num += (dx - dl) * (dx - dl);
                den += dl * dl;
            }
            if den > 0.0 {
                (num / den).sqrt()
            } else {
                0.0
            }
        })
        .collect()
}

/// Standardised positions back to reference units, in place.
fn to_reference_units(coords: &mut Array2<f64>, centre: &[f64], unit: f64) {
    for mut row in coords.rows_mut() {
        for (v, c) in row.iter_mut().zip(centre) {
            *v = *v * unit + c;
        }
    }
}

/// Placement of each new cell against its `k` nearest landmarks in latent space.
fn place_local(
    latent_new: ArrayView2<f64>,
    latent_l: ArrayView2<f64>,
    scale: f64,
    pos_l: ArrayView2<f64>,
    k: usize,
    opts: &ImputeOptions,
) -> Result<Placement> {
    let (l, q) = latent_l.dim();
    let mut zt = vec![0.0; q * l];
    for ((j, c), &v) in latent_l.indexed_iter() {
        zt[c * l + j] = v;
    }
    let inv = 1.0 / scale;
    place_points_weighted_fn(
        latent_new.nrows(),
        pos_l,
        |i, d, w| {
            d.iter_mut().for_each(|v| *v = 0.0);
            for c in 0..q {
                let zc = latent_new[[i, c]];
                for (a, &z) in d.iter_mut().zip(&zt[c * l..(c + 1) * l]) {
                    let e = zc - z;
                    *a += e * e;
                }
            }
            d.iter_mut().for_each(|v| *v = v.sqrt() * inv);
            // k-th smallest dissimilarity as the cut-off (ties may add a few landmarks)
            w.copy_from_slice(d);
            let (_, kth, _) = w.select_nth_unstable_by(k - 1, |a, b| a.total_cmp(b));
            let cut = *kth;
            for (wv, &dv) in w.iter_mut().zip(d.iter()) {
                *wv = if dv <= cut { 1.0 } else { 0.0 };
            }
            Ok(())
        },
        opts.max_iter,
        opts.eps,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::testutil::*;

    /// Latent = positions rotated, scaled by c, shifted: placement must recover positions.
    fn setup(n: usize, seed: u64) -> (Array2<f64>, Array2<f64>, f64) {
        let pos = gaussian(n, 2, seed) * 7.0 + 100.0;
        let c = 2.5;
        let (centre, unit) = ([100.0, 100.0], 7.0);
        let th = 0.4f64;
        let lat = Array2::from_shape_fn((n, 2), |(i, j)| {
            let x = (pos[[i, 0]] - centre[0]) / unit;
            let y = (pos[[i, 1]] - centre[1]) / unit;
            c * if j == 0 {
                th.cos() * x - th.sin() * y
            } else {
                th.sin() * x + th.cos() * y
            } + 3.0
        });
        (pos, lat, c)
    }

    #[test]
    fn exact_latent_recovers_positions_all_variants() {
        let (pos, lat, c) = setup(300, 3);
        let nk = 200;
        let centre = [100.0, 100.0];
        for (k, refine, maxl) in [(0, 0, 0), (0, 1000, 0), (15, 0, 0), (0, 0, 50)] {
            let opts = ImputeOptions {
                k,
                refine_max: refine,
                max_landmarks: maxl,
                eps: 1e-12,
                max_iter: 500,
                chunk: 37,
                ..Default::default()
            };
            let mut calls = 0;
            let r = impute_latent(
                lat.slice(s![nk.., ..]),
                lat.slice(s![..nk, ..]),
                pos.slice(s![..nk, ..]),
                c,
                &centre,
                7.0,
                &opts,
                &mut |_, _| {
                    calls += 1;
                    true
                },
            )
            .unwrap();
            let truth = pos.slice(s![nk.., ..]).to_owned();
            let err = max_abs_diff(&r.coords, &truth);
            assert!(err < 1e-4, "k {k} refine {refine} maxl {maxl}: {err}");
            assert_eq!(r.refined, refine > 0);
            assert!(calls >= 3);
            assert_eq!(r.landmarks.len(), if maxl > 0 { maxl } else { nk });
        }
    }

    #[test]
    fn interrupt_and_bad_input() {
        let (pos, lat, c) = setup(50, 5);
        let opts = ImputeOptions {
            chunk: 5,
            ..Default::default()
        };
        let r = impute_latent(
            lat.slice(s![30.., ..]),
            lat.slice(s![..30, ..]),
            pos.slice(s![..30, ..]),
            c,
            &[100.0, 100.0],
            7.0,
            &opts,
            &mut |done, _| done < 10,
        );
        assert!(matches!(r, Err(DpvaeError::Interrupted)));
        let mut bad = pos.slice(s![..30, ..]).to_owned();
        bad[[3, 1]] = f64::NAN;
        let r = impute_latent(
            lat.slice(s![30.., ..]),
            lat.slice(s![..30, ..]),
            bad.view(),
            c,
            &[100.0, 100.0],
            7.0,
            &opts,
            &mut |_, _| true,
        );
        assert!(matches!(r, Err(DpvaeError::Input(_))));
        let r = impute_latent(
            lat.slice(s![30.., ..]),
            lat.slice(s![..30, ..]),
            pos.slice(s![..30, ..]),
            c,
            &[100.0],
            7.0,
            &opts,
            &mut |_, _| true,
        );
        assert!(matches!(r, Err(DpvaeError::Input(_))));
    }

    #[test]
    fn subset_is_seeded_and_sorted() {
        let a = subset(100, 10, 1);
        assert_eq!(a, subset(100, 10, 1));
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(subset(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }
}
