//! Correlation between pairwise spatial distance and expression dissimilarity (paper Fig. 2),
//! with a Mantel permutation test.
//!
//! For cell pairs `(i, j)`: `d_s = ‖s_i − s_j‖` (Euclidean, 2-D or 3-D) and
//! `d_e = 1 − pearson(x_i, x_j)` (correlation of the two cells' expression profiles over genes;
//! `Dissimilarity::Pearson`) or `d_e = ‖x_i − x_j‖` (`Dissimilarity::Euclidean`). The result is
//! the Pearson and the Spearman (average ranks for ties) correlation of `d_s` and `d_e` over
//! all pairs when `n ≤ max_cells`, else over `n_pairs` pairs drawn with a seeded PRNG
//! (uniform, with replacement, `i ≠ j`).
//!
//! Pairs with an undefined `d_e` (Pearson with a cell whose profile is constant, e.g. all zero)
//! are dropped and counted in `n_pairs_dropped`.
//!
//! Mantel test (`n_perm > 0`): the cell labels of the spatial side are permuted (`d_s(π i, π j)`
//! against `d_e(i, j)` on the same pairs; permutation `k` uses `SeededRng::stream(seed, k)`);
//! one-sided (positive association: distant cells are more dissimilar),
//! `p = (1 + #{r_perm ≥ r}) / (n_perm + 1)`, separately for Pearson and Spearman.
//!
//! Memory: the all-pairs path builds the `n × n_genes` cell-by-gene matrix (dense copy, also for
//! sparse input), an `n × n` Gram matrix and per-pair arrays (≈ 8·(n·G + 2.5 n²) bytes); the
//! sampled path works on the input directly (O(n_pairs) memory).

use super::autocorrelation::GeneMatrix;
use super::knn::padded_points;
use super::pairs::pairs_for;
use crate::error::{DpvaeError, Result};
use crate::rng::SeededRng;
use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Expression dissimilarity between two cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dissimilarity {
    /// `1 − Pearson correlation` of the two expression profiles.
    Pearson,
    /// Euclidean distance of the two expression profiles.
    Euclidean,
}

/// Options of [`spatial_expression_correlation`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelationOptions {
    pub dissimilarity: Dissimilarity,
    /// Use all pairs when the number of cells is at most this.
    pub max_cells: usize,
    /// Number of sampled pairs otherwise.
    pub n_pairs: usize,
    /// Mantel permutations (0 = none).
    pub n_perm: usize,
    pub seed: u64,
}

impl Default for CorrelationOptions {
    fn default() -> Self {
        CorrelationOptions {
            dissimilarity: Dissimilarity::Pearson,
            max_cells: 2000,
            n_pairs: 200_000,
            n_perm: 0,
            seed: 1,
        }
    }
}

/// Result of [`spatial_expression_correlation`].
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialExprCorrelation {
    pub pearson: f64,
    pub spearman: f64,
    /// Mantel permutation p-values (`None` without permutations).
    pub p_value_pearson: Option<f64>,
    pub p_value_spearman: Option<f64>,
    /// Pairs used.
    pub n_pairs: usize,
    /// Pairs dropped because `d_e` was undefined.
    pub n_pairs_dropped: usize,
    /// Whether pairs were sampled (n > max_cells).
    pub sampled: bool,
}

/// Pearson correlation of two equally long vectors (two-pass). NaN if either is constant.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let m = a.len() as f64;
    if a.len() < 2 || a.len() != b.len() {
        return f64::NAN;
    }
    let ma = a.iter().sum::<f64>() / m;
    let mb = b.iter().sum::<f64>() / m;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return f64::NAN;
    }
    sab / (saa.sqrt() * sbb.sqrt())
}

/// Ranks 1..m with ties given their average rank (R's `rank(ties.method = "average")`).
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.par_sort_unstable_by(|&a, &b| v[a].total_cmp(&v[b]).then(a.cmp(&b)));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && v[idx[j]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j + 1) as f64 / 2.0; // mean of ranks i+1..=j
        for &t in &idx[i..j] {
            r[t] = avg;
        }
        i = j;
    }
    r
}

/// Spearman correlation (Pearson of average ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&average_ranks(a), &average_ranks(b))
}

#[inline]
fn spatial_dist(p: &[[f64; 3]], i: usize, j: usize) -> f64 {
    let (a, b) = (&p[i], &p[j]);
    let (dx, dy, dz) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    (dx * dx + dy * dy + dz * dz).sqrt()
}

/// Dense cells × genes copy of the expression matrix.
fn cells_by_genes(expr: &GeneMatrix) -> Result<Array2<f64>> {
    let (g, n) = (expr.n_genes(), expr.n_cells());
    if (n as u128) * (g as u128) > (1u128 << 28) {
        return Err(DpvaeError::Input(format!(
            "all-pairs expression dissimilarity needs a dense {n} x {g} copy (over 2 GiB); \
             select fewer genes or lower max_cells so that pairs are sampled"
        )));
    }
    let mut y = Array2::<f64>::zeros((n, g));
    match *expr {
        GeneMatrix::Dense(v) => {
            y.assign(&v.t());
        }
        GeneMatrix::SparseCsc { ncol, p, i, x, .. } => {
            for c in 0..ncol {
                for t in p[c] as usize..p[c + 1] as usize {
                    y[[c, i[t] as usize]] = x[t];
                }
            }
        }
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(DpvaeError::Input(
            "expression has non-finite values (NA/NaN/Inf); remove or fix them".into(),
        ));
    }
    Ok(y)
}

/// Correlation of spatial distance and expression dissimilarity over cell pairs, with an
/// optional Mantel test. `expr` is genes × cells, `coords` cells × 2 or 3.
pub fn spatial_expression_correlation(
    expr: &GeneMatrix,
    coords: ArrayView2<f64>,
    opts: &CorrelationOptions,
) -> Result<SpatialExprCorrelation> {
    correlation_over(expr, None, coords, opts)
}

/// The same for an `expr` that holds only the columns of `cells` (sorted, distinct) among the
/// `coords.nrows()` cells: every cell of [`pair_cells`]. The result equals the one computed on
/// all columns, so data on disk are read only where a sampled pair needs them.
pub fn spatial_expression_correlation_of_cells(
    expr: &GeneMatrix,
    cells: &[u32],
    coords: ArrayView2<f64>,
    opts: &CorrelationOptions,
) -> Result<SpatialExprCorrelation> {
    correlation_over(expr, Some(cells), coords, opts)
}

/// The cells (sorted, distinct) whose expression the pairs of `n` cells need.
pub fn pair_cells(n: usize, opts: &CorrelationOptions) -> Result<Vec<u32>> {
    let (pairs, _) = correlation_pairs(n, opts)?;
    let mut cells: Vec<u32> = pairs.iter().flat_map(|&(i, j)| [i, j]).collect();
    cells.par_sort_unstable();
    cells.dedup();
    Ok(cells)
}

/// All pairs up to `max_cells` cells, else `n_pairs` seeded draws; and whether they were drawn.
fn correlation_pairs(n: usize, opts: &CorrelationOptions) -> Result<(Vec<(u32, u32)>, bool)> {
    if n <= opts.max_cells {
        pairs_for(n, usize::MAX, opts.seed)
    } else {
        pairs_for(n, opts.n_pairs, opts.seed)
    }
}

/// `pairs` renumbered to columns of the subset `cells`.
fn pairs_within(pairs: &[(u32, u32)], cells: &[u32]) -> Result<Vec<(u32, u32)>> {
    let column = |c: u32| {
        cells.binary_search(&c).map(|k| k as u32).map_err(|_| {
            DpvaeError::Input(format!(
                "the expression lacks cell {} that a sampled pair needs",
                c + 1
            ))
        })
    };
    pairs
        .iter()
        .map(|&(i, j)| Ok((column(i)?, column(j)?)))
        .collect()
}

fn correlation_over(
    expr: &GeneMatrix,
    cells: Option<&[u32]>,
    coords: ArrayView2<f64>,
    opts: &CorrelationOptions,
) -> Result<SpatialExprCorrelation> {
    check_inputs(expr, cells, coords, opts)?;
    let n = coords.nrows();
    let pts = padded_points(coords, "coordinates")?;
    let all_pairs = n <= opts.max_cells;
    let (pairs, sampled) = correlation_pairs(n, opts)?;
    let de = match cells {
        _ if all_pairs => all_pairs_dissimilarity(expr, &pairs, opts.dissimilarity)?,
        // the subset's columns hold the pairs' cells (check_inputs: all of them when all_pairs)
        Some(cells) => {
            sampled_dissimilarity(expr, &pairs_within(&pairs, cells)?, opts.dissimilarity)?
        }
        None => sampled_dissimilarity(expr, &pairs, opts.dissimilarity)?,
    };
    let defined = DefinedPairs::of(pairs, de)?;
    let ds: Vec<f64> = defined
        .pairs
        .par_iter()
        .map(|&(i, j)| spatial_dist(&pts, i as usize, j as usize))
        .collect();
    let de_rank = average_ranks(&defined.de);
    let ds_rank = average_ranks(&ds);
    let observed = Observed {
        pearson: pearson(&ds, &defined.de),
        spearman: pearson(&ds_rank, &de_rank),
        de_rank,
    };
    let (p_p, p_s) = if opts.n_perm > 0 {
        // all pairs: the permuted spatial distances are a relabelling of the same values, so
        // their ranks are looked up instead of recomputed
        let lookup = (all_pairs && defined.dropped == 0).then_some((&ds[..], &ds_rank[..]));
        let (p, s) = mantel_p_values(&defined, &observed, &pts, lookup, opts);
        (Some(p), Some(s))
    } else {
        (None, None)
    };
    Ok(SpatialExprCorrelation {
        pearson: observed.pearson,
        spearman: observed.spearman,
        p_value_pearson: p_p,
        p_value_spearman: p_s,
        n_pairs: defined.pairs.len(),
        n_pairs_dropped: defined.dropped,
        sampled,
    })
}

fn check_inputs(
    expr: &GeneMatrix,
    cells: Option<&[u32]>,
    coords: ArrayView2<f64>,
    opts: &CorrelationOptions,
) -> Result<()> {
    expr.validate()?;
    let n = coords.nrows();
    if let Some(cells) = cells {
        let sorted = cells.windows(2).all(|w| w[0] < w[1]);
        let within = cells.last().map_or(true, |&c| (c as usize) < n);
        if cells.len() != expr.n_cells() || !sorted || !within {
            return Err(DpvaeError::Input(format!(
                "the expression's {} columns must be distinct cells among the {n}, in order",
                expr.n_cells()
            )));
        }
        if n <= opts.max_cells && cells.len() != n {
            return Err(DpvaeError::Input(format!(
                "all pairs of the {n} cells are used: the expression needs every cell"
            )));
        }
    } else if expr.n_cells() != n {
        return Err(DpvaeError::Input(format!(
            "coordinates have {n} rows but the expression matrix has {} cells (columns)",
            expr.n_cells()
        )));
    }
    if n < 3 {
        return Err(DpvaeError::Input(format!("need at least 3 cells, got {n}")));
    }
    if expr.n_genes() < 2 && opts.dissimilarity == Dissimilarity::Pearson {
        return Err(DpvaeError::Input(
            "Pearson dissimilarity needs at least 2 genes".into(),
        ));
    }
    Ok(())
}

/// Per-pair dissimilarity of every pair from one Gram matrix of the (centred) cell profiles.
fn all_pairs_dissimilarity(
    expr: &GeneMatrix,
    pairs: &[(u32, u32)],
    kind: Dissimilarity,
) -> Result<Vec<f64>> {
    let (y, valid) = centred_profiles(expr, kind)?;
    let gram = gram_matrix(&y)?;
    Ok(pairs
        .par_iter()
        .map(|&(i, j)| {
            let (i, j) = (i as usize, j as usize);
            match kind {
                Dissimilarity::Pearson => {
                    if valid[i] && valid[j] {
                        1.0 - gram[[i, j]].clamp(-1.0, 1.0)
                    } else {
                        f64::NAN
                    }
                }
                Dissimilarity::Euclidean => (gram[[i, i]] + gram[[j, j]] - 2.0 * gram[[i, j]])
                    .max(0.0)
                    .sqrt(),
            }
        })
        .collect())
}

/// Cells × genes profiles whose dot products give the dissimilarity: per cell centred and of unit
/// length (Pearson; `valid` is false for a constant profile), or centred per gene (Euclidean).
fn centred_profiles(expr: &GeneMatrix, kind: Dissimilarity) -> Result<(Array2<f64>, Vec<bool>)> {
    let mut y = cells_by_genes(expr)?;
    let (n, g) = y.dim();
    let mut valid = vec![true; n];
    match kind {
        Dissimilarity::Pearson => {
            for (c, mut row) in y.axis_iter_mut(Axis(0)).enumerate() {
                let m = row.sum() / g as f64;
                row.mapv_inplace(|v| v - m);
                let nrm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                if nrm > 0.0 {
                    row.mapv_inplace(|v| v / nrm);
                } else {
                    valid[c] = false;
                }
            }
        }
        Dissimilarity::Euclidean => {
            let mean = y
                .mean_axis(Axis(0))
                .unwrap_or_else(|| ndarray::Array1::zeros(g));
            y -= &mean;
        }
    }
    Ok((y, valid))
}

/// `y yᵀ`, in row blocks, in parallel.
fn gram_matrix(y: &Array2<f64>) -> Result<Array2<f64>> {
    const B: usize = 128;
    let n = y.nrows();
    let yt = y.t();
    let blocks: Vec<Array2<f64>> = (0..n.div_ceil(B))
        .into_par_iter()
        .map(|b| y.slice(s![b * B..(b * B + B).min(n), ..]).dot(&yt))
        .collect();
    ndarray::concatenate(
        Axis(0),
        &blocks.iter().map(|b| b.view()).collect::<Vec<_>>(),
    )
    .map_err(|e| DpvaeError::Numeric(format!("Gram matrix: {e}")))
}

/// The pairs whose expression dissimilarity is defined, with it, and how many were dropped.
struct DefinedPairs {
    pairs: Vec<(u32, u32)>,
    de: Vec<f64>,
    dropped: usize,
}

impl DefinedPairs {
    fn of(pairs: Vec<(u32, u32)>, de: Vec<f64>) -> Result<DefinedPairs> {
        let mut kept = Vec::with_capacity(pairs.len());
        let mut de_kept = Vec::with_capacity(pairs.len());
        for (p, &d) in pairs.iter().zip(&de) {
            if d.is_finite() {
                kept.push(*p);
                de_kept.push(d);
            }
        }
        if kept.len() < 3 {
            return Err(DpvaeError::Input(
                "fewer than 3 cell pairs have a defined expression dissimilarity (constant cell profiles?)"
                    .into(),
            ));
        }
        Ok(DefinedPairs {
            dropped: pairs.len() - kept.len(),
            pairs: kept,
            de: de_kept,
        })
    }
}

/// The correlations on the observed labels, and the expression ranks the permutations reuse.
struct Observed {
    pearson: f64,
    spearman: f64,
    de_rank: Vec<f64>,
}

/// One-sided Mantel p-values (Pearson, Spearman): the spatial labels permuted `opts.n_perm` times.
/// `lookup`: the spatial distances and their ranks of all pairs in `pairs_for` order, when every
/// pair is kept (a permutation then only relabels them).
fn mantel_p_values(
    defined: &DefinedPairs,
    observed: &Observed,
    pts: &[[f64; 3]],
    lookup: Option<(&[f64], &[f64])>,
    opts: &CorrelationOptions,
) -> (f64, f64) {
    let n = pts.len();
    let counts: Vec<(usize, usize)> = (0..opts.n_perm)
        .into_par_iter()
        .map(|k| {
            let mut perm: Vec<u32> = (0..n as u32).collect();
            SeededRng::stream(opts.seed, k as u64).shuffle(&mut perm);
            let (dsp, rsp) = match lookup {
                Some((ds_all, rank_all)) => defined
                    .pairs
                    .iter()
                    .map(|&(i, j)| {
                        let (a, b) = (perm[i as usize] as usize, perm[j as usize] as usize);
                        let (a, b) = (a.min(b), a.max(b));
                        let idx = a * n - a * (a + 1) / 2 + (b - a - 1);
                        (ds_all[idx], rank_all[idx])
                    })
                    .unzip(),
                None => {
                    let d: Vec<f64> = defined
                        .pairs
                        .iter()
                        .map(|&(i, j)| {
                            spatial_dist(pts, perm[i as usize] as usize, perm[j as usize] as usize)
                        })
                        .collect();
                    let r = average_ranks(&d);
                    (d, r)
                }
            };
            (
                (pearson(&dsp, &defined.de) >= observed.pearson) as usize,
                (pearson(&rsp, &observed.de_rank) >= observed.spearman) as usize,
            )
        })
        .collect();
    let d = (opts.n_perm + 1) as f64;
    (
        (1 + counts.iter().map(|c| c.0).sum::<usize>()) as f64 / d,
        (1 + counts.iter().map(|c| c.1).sum::<usize>()) as f64 / d,
    )
}

/// Per-pair dissimilarity without densifying (sampled pairs).
fn sampled_dissimilarity(
    expr: &GeneMatrix,
    pairs: &[(u32, u32)],
    kind: Dissimilarity,
) -> Result<Vec<f64>> {
    let g = expr.n_genes() as f64;
    match *expr {
        GeneMatrix::Dense(v) => {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(DpvaeError::Input(
                    "expression has non-finite values (NA/NaN/Inf); remove or fix them".into(),
                ));
            }
            // per-cell mean and centred norm
            let stats: Vec<(f64, f64)> = (0..v.ncols())
                .into_par_iter()
                .map(|c| {
                    let col = v.column(c);
                    let m = col.sum() / g;
                    (m, col.iter().map(|x| (x - m) * (x - m)).sum::<f64>().sqrt())
                })
                .collect();
            Ok(pairs
                .par_iter()
                .map(|&(i, j)| {
                    let (a, b) = (v.column(i as usize), v.column(j as usize));
                    match kind {
                        Dissimilarity::Pearson => {
                            let ((ma, na), (mb, nb)) = (stats[i as usize], stats[j as usize]);
                            if na <= 0.0 || nb <= 0.0 {
                                return f64::NAN;
                            }
                            let s: f64 = a
                                .iter()
                                .zip(b.iter())
                                .map(|(x, y)| (x - ma) * (y - mb))
                                .sum();
                            1.0 - (s / (na * nb)).clamp(-1.0, 1.0)
                        }
                        Dissimilarity::Euclidean => a
                            .iter()
                            .zip(b.iter())
                            .map(|(x, y)| (x - y) * (x - y))
                            .sum::<f64>()
                            .sqrt(),
                    }
                })
                .collect())
        }
        GeneMatrix::SparseCsc { ncol, p, i, x, .. } => {
            let col = |c: usize| {
                let (a, b) = (p[c] as usize, p[c + 1] as usize);
                (&i[a..b], &x[a..b])
            };
            let stats: Vec<(f64, f64)> = (0..ncol)
                .into_par_iter()
                .map(|c| {
                    let (ri, rx) = col(c);
                    let m = rx.iter().sum::<f64>() / g;
                    let ss = rx.iter().map(|v| (v - m) * (v - m)).sum::<f64>()
                        + (g - ri.len() as f64) * m * m;
                    (m, ss.max(0.0).sqrt())
                })
                .collect();
            Ok(pairs
                .par_iter()
                .map(|&(a, b)| {
                    let ((ia, xa), (ib, xb)) = (col(a as usize), col(b as usize));
                    // merge of the two sorted columns: Σ x_a x_b and Σ (x_a − x_b)²
                    let (mut ta, mut tb) = (0, 0);
                    let (mut dot, mut sq) = (0.0, 0.0);
                    while ta < ia.len() || tb < ib.len() {
                        if tb >= ib.len() || (ta < ia.len() && ia[ta] < ib[tb]) {
                            sq += xa[ta] * xa[ta];
                            ta += 1;
                        } else if ta >= ia.len() || ib[tb] < ia[ta] {
                            sq += xb[tb] * xb[tb];
                            tb += 1;
                        } else {
                            dot += xa[ta] * xb[tb];
                            let d = xa[ta] - xb[tb];
                            sq += d * d;
                            ta += 1;
                            tb += 1;
                        }
                    }
                    match kind {
                        Dissimilarity::Pearson => {
                            let ((ma, na), (mb, nb)) = (stats[a as usize], stats[b as usize]);
                            if na <= 0.0 || nb <= 0.0 {
                                return f64::NAN;
                            }
                            // Σ (x_a − m_a)(x_b − m_b) = Σ x_a x_b − G m_a m_b
                            1.0 - ((dot - g * ma * mb) / (na * nb)).clamp(-1.0, 1.0)
                        }
                        Dissimilarity::Euclidean => sq.sqrt(),
                    }
                })
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_correlations() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]) - 0.9933992677987828).abs() < 1e-14);
        assert!((spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-14);
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    }

    fn toy(n: usize, g: usize) -> (Array2<f64>, Array2<f64>) {
        // expression is a smooth function of position (+ noise): positive association
        let mut rng = SeededRng::new(4);
        let coords = Array2::from_shape_fn((n, 2), |_| (rng.next_u64() >> 11) as f64 / 9e15 * 10.0);
        let x = Array2::from_shape_fn((g, n), |(gi, c)| {
            let u = (rng.next_u64() >> 11) as f64 / 9e15;
            let v = ((coords[[c, 0]] * (1.0 + gi as f64 * 0.3)).sin()
                + coords[[c, 1]] * 0.1 * gi as f64)
                .max(0.0);
            if u < 0.3 {
                0.0
            } else {
                v + 0.1 * u
            }
        });
        (x, coords)
    }

    #[test]
    fn the_columns_the_sampled_pairs_need_give_the_same_result() {
        let (x, coords) = toy(300, 10);
        let opts = CorrelationOptions {
            max_cells: 100,
            n_pairs: 150,
            n_perm: 9,
            seed: 5,
            ..Default::default()
        };
        let cells = pair_cells(300, &opts).unwrap();
        assert!(cells.len() < 300 && cells.windows(2).all(|w| w[0] < w[1]));
        let sub = x.select(
            Axis(1),
            &cells.iter().map(|&c| c as usize).collect::<Vec<_>>(),
        );
        let (p, i, xs) = crate::metrics::autocorrelation::dense_to_csc(&sub);
        let sparse_sub = GeneMatrix::SparseCsc {
            nrow: 10,
            ncol: cells.len(),
            p: &p,
            i: &i,
            x: &xs,
        };
        let (pa, ia, xa) = crate::metrics::autocorrelation::dense_to_csc(&x);
        let sparse_all = GeneMatrix::SparseCsc {
            nrow: 10,
            ncol: 300,
            p: &pa,
            i: &ia,
            x: &xa,
        };
        for kind in [Dissimilarity::Pearson, Dissimilarity::Euclidean] {
            let o = CorrelationOptions {
                dissimilarity: kind,
                ..opts
            };
            let want = spatial_expression_correlation(&sparse_all, coords.view(), &o).unwrap();
            let got =
                spatial_expression_correlation_of_cells(&sparse_sub, &cells, coords.view(), &o)
                    .unwrap();
            assert_eq!(got, want);
            let dense = spatial_expression_correlation_of_cells(
                &GeneMatrix::Dense(sub.view()),
                &cells,
                coords.view(),
                &o,
            )
            .unwrap();
            assert!((dense.pearson - want.pearson).abs() < 1e-12);
        }
        // a missing cell, an unsorted list, or a subset where all pairs are used: errors
        let short = x.select(
            Axis(1),
            &cells[1..].iter().map(|&c| c as usize).collect::<Vec<_>>(),
        );
        let bad = spatial_expression_correlation_of_cells(
            &GeneMatrix::Dense(short.view()),
            &cells[1..],
            coords.view(),
            &opts,
        );
        assert!(matches!(bad, Err(DpvaeError::Input(_))));
        let mut unsorted = cells.clone();
        unsorted.swap(0, 1);
        let bad = spatial_expression_correlation_of_cells(
            &GeneMatrix::Dense(sub.view()),
            &unsorted,
            coords.view(),
            &opts,
        );
        assert!(matches!(bad, Err(DpvaeError::Input(_))));
        let all = CorrelationOptions {
            max_cells: 1000,
            ..opts
        };
        let bad = spatial_expression_correlation_of_cells(
            &GeneMatrix::Dense(sub.view()),
            &cells,
            coords.view(),
            &all,
        );
        assert!(matches!(bad, Err(DpvaeError::Input(_))));
    }

    #[test]
    fn all_pairs_vs_brute_force_and_paths_agree() {
        let (x, coords) = toy(60, 12);
        let (p, i, xs) = crate::metrics::autocorrelation::dense_to_csc(&x);
        let sp = GeneMatrix::SparseCsc {
            nrow: 12,
            ncol: 60,
            p: &p,
            i: &i,
            x: &xs,
        };
        let de = GeneMatrix::Dense(x.view());
        for kind in [Dissimilarity::Pearson, Dissimilarity::Euclidean] {
            // brute force
            let (mut a, mut b) = (vec![], vec![]);
            for s in 0..60 {
                for t in (s + 1)..60 {
                    let (cs, ct) = (x.column(s).to_vec(), x.column(t).to_vec());
                    let d = match kind {
                        Dissimilarity::Pearson => 1.0 - pearson(&cs, &ct),
                        Dissimilarity::Euclidean => cs
                            .iter()
                            .zip(&ct)
                            .map(|(u, v)| (u - v).powi(2))
                            .sum::<f64>()
                            .sqrt(),
                    };
                    if d.is_finite() {
                        a.push(
                            ((coords[[s, 0]] - coords[[t, 0]]).powi(2)
                                + (coords[[s, 1]] - coords[[t, 1]]).powi(2))
                            .sqrt(),
                        );
                        b.push(d);
                    }
                }
            }
            let o = CorrelationOptions {
                dissimilarity: kind,
                n_perm: 49,
                ..Default::default()
            };
            let r1 = spatial_expression_correlation(&de, coords.view(), &o).unwrap();
            let r2 = spatial_expression_correlation(&sp, coords.view(), &o).unwrap();
            assert!((r1.pearson - pearson(&a, &b)).abs() < 1e-10);
            assert!((r1.spearman - spearman(&a, &b)).abs() < 1e-10);
            assert!(
                (r1.pearson - r2.pearson).abs() < 1e-10
                    && (r1.spearman - r2.spearman).abs() < 1e-10
            );
            assert_eq!(r1.n_pairs, a.len());
            assert!(!r1.sampled && r1.pearson > 0.1, "{r1:?}");
            assert!(r1.p_value_pearson.unwrap() <= 0.05);
            // sampled path: with all pairs sampled n_pairs large, close to the full value
            let os = CorrelationOptions {
                max_cells: 10,
                n_pairs: 1500,
                ..o
            };
            let s1 = spatial_expression_correlation(&de, coords.view(), &os).unwrap();
            let s2 = spatial_expression_correlation(&sp, coords.view(), &os).unwrap();
            assert!(s1.sampled);
            assert!((s1.pearson - s2.pearson).abs() < 1e-10);
            assert!((s1.pearson - r1.pearson).abs() < 0.1, "{s1:?} {r1:?}");
            assert_eq!(
                s1,
                spatial_expression_correlation(&de, coords.view(), &os).unwrap()
            );
        }
    }

    #[test]
    fn constant_cells_dropped_and_errors() {
        let (mut x, coords) = toy(30, 6);
        x.column_mut(4).fill(0.0);
        let r = spatial_expression_correlation(
            &GeneMatrix::Dense(x.view()),
            coords.view(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(r.n_pairs_dropped, 29);
        assert!(spatial_expression_correlation(
            &GeneMatrix::Dense(x.view()),
            coords.slice(s![..20, ..]),
            &Default::default()
        )
        .is_err());
    }
}
