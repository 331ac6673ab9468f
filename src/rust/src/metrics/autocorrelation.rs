//! Moran's I and Geary's C per gene, with spdep's analytic tests and optional permutation tests.
//!
//! # Statistics (identical to spdep 1.2 `moran.test` / `geary.test`, and to scanpy)
//! For one gene with values `x` over `n` cells, `z = x − mean(x)` (mean over all `n` cells),
//! spatial weights `W` (any CSR, e.g. binary kNN, not symmetrised), `S0 = Σ w_ij`,
//! `S1 = Σ (w_ij² + w_ij w_ji)`, `S2 = Σ_i (rowsum_i + colsum_i)²`, and `m` = number of cells
//! with at least one neighbour (`adjust_n = true`, spdep's default) or `m = n` (`adjust_n = false`):
//! - `I = (m / S0) · Σ_ij w_ij z_i z_j / Σ z_i²`
//! - `C = ((m − 1) / (2 S0)) · Σ_ij w_ij (x_i − x_j)² / Σ z_i²`
//!
//! With kNN weights every cell has neighbours, so `m = n` and these equal scanpy's
//! `sc.metrics.morans_i` / `gearys_c` (weights used as given). [`morans_i`] / [`gearys_c`]
//! always use `m = n` (scanpy's convention).
//!
//! # Tests
//! Expectations and variances under normality and randomisation are spdep's formulas verbatim
//! (including spdep's mix of the adjusted `m` and the full `n` in `geary.test`, and the kurtosis
//! `K = n Σz⁴ / (Σz²)²` with the full `n` for Moran and `m` for Geary). `E[I] = −1/(m−1)`,
//! `E[C] = 1`. Standard deviates: Moran `z = (I − E[I]) / sd`; **Geary `z = (E[C] − C) / sd`**
//! (spdep's sign), so for both statistics a positive `z` means positive spatial
//! autocorrelation, and `Alternative::Greater` (the default, as in spdep) tests for it:
//! `p = P(N(0,1) > z)`. `Less` gives `P(N(0,1) < z)`, `TwoSided` `2·P(N(0,1) > |z|)`.
//!
//! Permutation test (`n_perm > 0`): cell labels are permuted `n_perm` times; permutation `k`
//! is the same for every gene (drawn from `SeededRng::stream(seed, k)`), so a gene's p-value
//! depends only on its values, the weights and the seed — not on thread count or on which
//! other genes are in the call. `p = (1 + #{perm at least as extreme}) / (n_perm + 1)`, where
//! "at least as extreme" is `I_perm ≥ I` / `C_perm ≤ C` for `Greater`, the reverse for `Less`,
//! and `TwoSided = min(1, 2·min(p_greater, p_less))`. (spdep's `moran.mc` uses a rank-based
//! variant of the same count.)
//!
//! Constant genes (all values equal) have no defined statistic: every field is NaN and
//! `GeneAutocorr::constant` is true (the R side turns this into `NA`); this is not an error.
//!
//! # Input layout ([`GeneMatrix`])
//! - `Dense(view)`: genes × cells, any strides. A base-R numeric matrix (column-major) is handed
//!   over without copying as `ArrayView2::from_shape((n_genes, n_cells).f(), slice)`. A gene's
//!   values are then strided by `n_genes`; instead of reading them one gene at a time the
//!   computation works on tiles of 8 consecutive genes, copying each tile once into a
//!   cell-major `n × 8` buffer (8 contiguous doubles per cell in R's layout), which also lets
//!   the inner loop run over 8 genes at once (SIMD). Tiles are filled 8 at a time (64 genes =
//!   512 contiguous bytes per cell) to limit cache/TLB misses on the strided reads.
//!   Extra memory: at most 512 bytes per cell per thread.
//! - `SparseCsc`: an R `dgCMatrix` genes × cells (columns = cells): `p` (ncol + 1), `i`, `x`,
//!   0-based as stored by Matrix. Genes are split into contiguous blocks (4 per thread); a block
//!   binary-searches each column once, then walks the columns with per-column cursors while it
//!   scatters up to 64 genes at a time into the `n × 8` tile buffers; no transpose, no copy of
//!   the matrix, never densified (extra memory: one cursor per cell per block).

use super::weights::SpatialWeights;
use crate::error::{DpvaeError, Result};
use crate::rng::SeededRng;
use ndarray::ArrayView2;
use rayon::prelude::*;

/// Genes per tile (the SIMD width of the inner loop).
const TILE: usize = 8;

/// Expression input, genes × cells.
#[derive(Debug, Clone, Copy)]
pub enum GeneMatrix<'a> {
    /// Dense genes × cells view with any layout (R: `from_shape((g, n).f(), slice)`).
    Dense(ArrayView2<'a, f64>),
    /// `dgCMatrix`-style compressed sparse columns: rows = genes (`nrow`), columns = cells
    /// (`ncol`); `p` has `ncol + 1` entries, `i` (row indices, sorted within a column) and `x`
    /// have `p[ncol]` entries, all 0-based.
    SparseCsc {
        nrow: usize,
        ncol: usize,
        p: &'a [i32],
        i: &'a [i32],
        x: &'a [f64],
    },
}

impl<'a> GeneMatrix<'a> {
    pub fn n_genes(&self) -> usize {
        match self {
            GeneMatrix::Dense(v) => v.nrows(),
            GeneMatrix::SparseCsc { nrow, .. } => *nrow,
        }
    }

    pub fn n_cells(&self) -> usize {
        match self {
            GeneMatrix::Dense(v) => v.ncols(),
            GeneMatrix::SparseCsc { ncol, .. } => *ncol,
        }
    }

    /// Check the sparse structure (dense inputs are checked for finiteness as they are read).
    pub(crate) fn validate(&self) -> Result<()> {
        if let GeneMatrix::SparseCsc {
            nrow,
            ncol,
            p,
            i,
            x,
        } = *self
        {
            if p.len() != ncol + 1 {
                return Err(DpvaeError::Input(format!(
                    "sparse matrix: p must have ncol + 1 = {} entries, got {}",
                    ncol + 1,
                    p.len()
                )));
            }
            if p[0] != 0 || p[ncol] < 0 || p[ncol] as usize != i.len() || i.len() != x.len() {
                return Err(DpvaeError::Input(
                    "sparse matrix: p must start at 0 and end at length(i) == length(x)".into(),
                ));
            }
            for c in 0..ncol {
                let (a, b) = (p[c], p[c + 1]);
                if a > b {
                    return Err(DpvaeError::Input(
                        "sparse matrix: p must be non-decreasing".into(),
                    ));
                }
                let mut prev: i64 = -1;
                for t in a as usize..b as usize {
                    let r = i[t] as i64;
                    if r <= prev || r >= nrow as i64 {
                        return Err(DpvaeError::Input(format!(
                            "sparse matrix: row indices of column {} must be increasing and in 0..{nrow}",
                            c + 1
                        )));
                    }
                    if !x[t].is_finite() {
                        return Err(DpvaeError::Input(format!(
                            "expression has a non-finite value (NA/NaN/Inf) in gene {} cell {}",
                            r + 1,
                            c + 1
                        )));
                    }
                    prev = r;
                }
            }
        }
        Ok(())
    }
}

/// Fill `bufs[s][cell][t] = x[g0 + 8 s + t, cell]` for the genes `g0..g0 + ng` (`ng ≤ 8·bufs.len()`),
/// 0 for padding. One pass over the cells, so a column-major (R) matrix is read in contiguous runs
/// of `ng` values per cell. For a `dgCMatrix`, `cursor[c]` is the position in column `c` of the
/// first entry with row `≥ g0` (advanced past the super-tile on return), so consecutive
/// super-tiles walk each column once (no transpose, no extra copy of the matrix).
fn fill_tiles(
    m: &GeneMatrix,
    g0: usize,
    ng: usize,
    bufs: &mut [Vec<[f64; TILE]>],
    cursor: &mut [usize],
) {
    let n_sub = ng.div_ceil(TILE);
    match *m {
        GeneMatrix::Dense(v) => {
            let contiguous_genes = v.strides()[0] == 1;
            if contiguous_genes {
                for c in 0..v.ncols() {
                    let col = v.column(c);
                    let run = col.slice(ndarray::s![g0..g0 + ng]);
                    let run = run.as_slice().unwrap_or(&[]);
                    if run.len() == ng {
                        for (s, buf) in bufs[..n_sub].iter_mut().enumerate() {
                            let mut cell = [0.0; TILE];
                            let lo = s * TILE;
                            let hi = (lo + TILE).min(ng);
                            cell[..hi - lo].copy_from_slice(&run[lo..hi]);
                            buf[c] = cell;
                        }
                        continue;
                    }
                    for (s, buf) in bufs[..n_sub].iter_mut().enumerate() {
                        let mut cell = [0.0; TILE];
                        for t in 0..TILE.min(ng - s * TILE) {
                            cell[t] = col[g0 + s * TILE + t];
                        }
                        buf[c] = cell;
                    }
                }
            } else {
                for (s, buf) in bufs[..n_sub].iter_mut().enumerate() {
                    for cell in buf.iter_mut() {
                        *cell = [0.0; TILE];
                    }
                    for t in 0..TILE.min(ng - s * TILE) {
                        let row = v.row(g0 + s * TILE + t);
                        for (cell, &x) in buf.iter_mut().zip(row.iter()) {
                            cell[t] = x;
                        }
                    }
                }
            }
        }
        GeneMatrix::SparseCsc { ncol, p, i, x, .. } => {
            for buf in bufs[..n_sub].iter_mut() {
                for cell in buf.iter_mut() {
                    *cell = [0.0; TILE];
                }
            }
            let g_end = (g0 + ng) as i32;
            for c in 0..ncol {
                let b = p[c + 1] as usize;
                let mut q = cursor[c];
                while q < b {
                    let r = i[q];
                    if r >= g_end {
                        break;
                    }
                    let off = r as usize - g0;
                    bufs[off / TILE][c][off % TILE] = x[q];
                    q += 1;
                }
                cursor[c] = q;
            }
        }
    }
}

/// Which side the tests look at; both `Greater` = positive spatial autocorrelation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alternative {
    Greater,
    Less,
    TwoSided,
}

/// Options of [`moran_geary`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutocorrOptions {
    /// Number of permutations (0 = none).
    pub n_perm: usize,
    /// Seed of the permutation PRNG.
    pub seed: u64,
    /// Alternative hypothesis (spdep default: `Greater`).
    pub alternative: Alternative,
    /// spdep's `adjust.n`: use the number of cells with neighbours as `n` (only differs from
    /// the cell count when some rows of `W` are empty).
    pub adjust_n: bool,
}

impl Default for AutocorrOptions {
    fn default() -> Self {
        AutocorrOptions {
            n_perm: 0,
            seed: 1,
            alternative: Alternative::Greater,
            adjust_n: true,
        }
    }
}

/// One statistic (Moran's I or Geary's C) with its analytic and permutation tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutocorrStats {
    pub statistic: f64,
    pub expected: f64,
    pub variance_normal: f64,
    pub variance_randomisation: f64,
    /// Standard deviate under randomisation (spdep default); Geary: `(E − C)/sd`.
    pub z: f64,
    /// p-value of `z` for the chosen alternative.
    pub p_value: f64,
    /// Standard deviate under normality.
    pub z_normal: f64,
    pub p_value_normal: f64,
    /// Permutation p-value (`None` when `n_perm == 0`; NaN for constant genes).
    pub p_value_perm: Option<f64>,
}

impl AutocorrStats {
    fn nan(perm: bool) -> Self {
        let n = f64::NAN;
        AutocorrStats {
            statistic: n,
            expected: n,
            variance_normal: n,
            variance_randomisation: n,
            z: n,
            p_value: n,
            z_normal: n,
            p_value_normal: n,
            p_value_perm: if perm { Some(n) } else { None },
        }
    }
}

/// Both statistics of one gene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneAutocorr {
    pub moran: AutocorrStats,
    pub geary: AutocorrStats,
    /// All values equal: statistics undefined (NaN; NA in R).
    pub constant: bool,
}

/// Upper tail of the standard normal, `P(N(0,1) > z)` (libm's erfc, musl's implementation).
pub fn norm_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

fn p_from_z(z: f64, alt: Alternative) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    match alt {
        Alternative::Greater => norm_sf(z),
        Alternative::Less => norm_sf(-z),
        Alternative::TwoSided => (2.0 * norm_sf(z.abs())).min(1.0),
    }
}

/// Moran and Geary numerators for a tile of 8 centred genes: `Σ_i z_i Σ_j w_ij z_j` and
/// `Σ_ij w_ij (z_i − z_j)²`; with `perm`, cell `i` takes the values of cell `perm[i]`.
#[inline]
fn tile_kernel(
    w: &SpatialWeights,
    binary: bool,
    z: &[[f64; TILE]],
    perm: Option<&[u32]>,
) -> ([f64; TILE], [f64; TILE]) {
    let mut si = [0.0; TILE];
    let mut sc = [0.0; TILE];
    let n = w.n;
    for i in 0..n {
        let (cols, vals) = w.row(i);
        let zi = match perm {
            None => z[i],
            Some(p) => z[p[i] as usize],
        };
        let mut a = [0.0; TILE];
        let mut b = [0.0; TILE];
        if binary {
            for &j in cols {
                let zj = match perm {
                    None => &z[j],
                    Some(p) => &z[p[j] as usize],
                };
                for t in 0..TILE {
                    a[t] += zj[t];
                    let d = zi[t] - zj[t];
                    b[t] += d * d;
                }
            }
        } else {
            for (&j, &v) in cols.iter().zip(vals) {
                let zj = match perm {
                    None => &z[j],
                    Some(p) => &z[p[j] as usize],
                };
                for t in 0..TILE {
                    a[t] += v * zj[t];
                    let d = zi[t] - zj[t];
                    b[t] += v * d * d;
                }
            }
        }
        for t in 0..TILE {
            si[t] += zi[t] * a[t];
            sc[t] += b[t];
        }
    }
    (si, sc)
}

/// Centre a tile in place; per gene (Σz², Σz⁴, constant flag). Errors on non-finite values.
fn centre_tile(
    buf: &mut [[f64; TILE]],
    g0: usize,
) -> Result<([f64; TILE], [f64; TILE], [bool; TILE])> {
    let n = buf.len() as f64;
    let mut mean = [0.0; TILE];
    let mut lo = [f64::INFINITY; TILE];
    let mut hi = [f64::NEG_INFINITY; TILE];
    for cell in buf.iter() {
        for t in 0..TILE {
            mean[t] += cell[t];
            lo[t] = lo[t].min(cell[t]);
            hi[t] = hi[t].max(cell[t]);
        }
    }
    if mean.iter().any(|m| !m.is_finite()) {
        return Err(DpvaeError::Input(format!(
            "expression has a non-finite value (NA/NaN/Inf) among genes {}..{}; remove or fix them",
            g0 + 1,
            g0 + TILE
        )));
    }
    for m in &mut mean {
        *m /= n;
    }
    let mut zz = [0.0; TILE];
    let mut z4 = [0.0; TILE];
    for cell in buf.iter_mut() {
        for t in 0..TILE {
            let z = cell[t] - mean[t];
            cell[t] = z;
            let z2 = z * z;
            zz[t] += z2;
            z4[t] += z2 * z2;
        }
    }
    let mut constant = [false; TILE];
    for t in 0..TILE {
        constant[t] = lo[t] >= hi[t] || zz[t] <= 0.0; // values are finite here
    }
    Ok((zz, z4, constant))
}

struct Prepared {
    binary: bool,
    s0: f64,
    s1: f64,
    s2: f64,
    m: f64,
    n: f64,
}

fn prepare(expr: &GeneMatrix, w: &SpatialWeights, adjust_n: bool) -> Result<Prepared> {
    let n = expr.n_cells();
    if w.n != n {
        return Err(DpvaeError::Input(format!(
            "the spatial weights are for {} cells but the expression matrix has {n} cells (columns)",
            w.n
        )));
    }
    if n < 4 {
        return Err(DpvaeError::Input(format!(
            "need at least 4 cells for Moran's I / Geary's C, got {n}"
        )));
    }
    w.check()?;
    let c = w.constants();
    if c.s0 == 0.0 {
        return Err(DpvaeError::Input(
            "the spatial weights sum to 0 (no neighbours)".into(),
        ));
    }
    let m = if adjust_n { c.n_nonempty } else { n };
    if m < 4 {
        return Err(DpvaeError::Input(format!(
            "only {m} cells have neighbours; need at least 4"
        )));
    }
    Ok(Prepared {
        binary: w.values.iter().all(|&v| v == 1.0),
        s0: c.s0,
        s1: c.s1,
        s2: c.s2,
        m: m as f64,
        n: n as f64,
    })
}

/// Run `f(tile_start, n_genes_in_tile, centred buffer, zz, z4, constant)` over all tiles in
/// parallel and concatenate the per-gene outputs in gene order. Parallel tasks are super-tiles
/// of up to 8 tiles (64 genes) filled in one pass over the cells.
fn over_tiles<T, F>(expr: &GeneMatrix, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, usize, &[[f64; TILE]], &[f64; TILE], &[f64; TILE], &[bool; TILE]) -> Vec<T> + Sync,
{
    expr.validate()?;
    let g = expr.n_genes();
    let n = expr.n_cells();
    let n_tiles = g.div_ceil(TILE);
    let threads = rayon::current_num_threads().max(1);
    let per_task = (n_tiles / (4 * threads)).clamp(1, 8);
    let n_tasks = n_tiles.div_ceil(per_task);
    // contiguous blocks of tasks, each run in order by one thread (sparse column cursors)
    let n_blocks = n_tasks.min(4 * threads);
    let tasks_per_block = n_tasks.div_ceil(n_blocks);
    let parts: Vec<Result<Vec<T>>> = (0..n_blocks)
        .into_par_iter()
        .map(|block| {
            let mut bufs = vec![vec![[0.0; TILE]; n]; per_task];
            let first_gene = (block * tasks_per_block * per_task * TILE).min(g);
            let mut cursor: Vec<usize> = match *expr {
                GeneMatrix::SparseCsc { p, i, .. } => (0..n)
                    .map(|c| {
                        let (a, b) = (p[c] as usize, p[c + 1] as usize);
                        a + i[a..b].partition_point(|&r| (r as usize) < first_gene)
                    })
                    .collect(),
                GeneMatrix::Dense(_) => Vec::new(),
            };
            let mut out = Vec::new();
            for task in block * tasks_per_block..((block + 1) * tasks_per_block).min(n_tasks) {
                let g0 = task * per_task * TILE;
                let ng = (per_task * TILE).min(g - g0);
                fill_tiles(expr, g0, ng, &mut bufs, &mut cursor);
                for (s, buf) in bufs[..ng.div_ceil(TILE)].iter_mut().enumerate() {
                    let t0 = g0 + s * TILE;
                    let (zz, z4, constant) = centre_tile(buf, t0)?;
                    out.extend(f(t0, TILE.min(g - t0), buf, &zz, &z4, &constant));
                }
            }
            Ok(out)
        })
        .collect();
    let mut out = Vec::with_capacity(g);
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Moran's I per gene (scanpy's `sc.metrics.morans_i` convention: `n` = number of cells).
/// Constant genes give NaN.
pub fn morans_i(expr: &GeneMatrix, w: &SpatialWeights) -> Result<Vec<f64>> {
    per_gene(expr, w, |pr, si, _, zz| pr.n / pr.s0 * si / zz)
}

/// Geary's C per gene (scanpy's `sc.metrics.gearys_c` convention). Constant genes give NaN.
pub fn gearys_c(expr: &GeneMatrix, w: &SpatialWeights) -> Result<Vec<f64>> {
    per_gene(expr, w, |pr, _, sc, zz| {
        (pr.n - 1.0) / (2.0 * pr.s0) * sc / zz
    })
}

/// One statistic per gene from the tile kernel's cross-product sums `si` (Moran) and squared-difference
/// sums `sc` (Geary) and the gene's sum of squares `zz`; constant genes give NaN.
fn per_gene(
    expr: &GeneMatrix,
    w: &SpatialWeights,
    statistic: impl Fn(&Prepared, f64, f64, f64) -> f64 + Sync,
) -> Result<Vec<f64>> {
    let pr = prepare(expr, w, false)?;
    over_tiles(expr, |_, ng, z, zz, _, constant| {
        let (si, sc) = tile_kernel(w, pr.binary, z, None);
        (0..ng)
            .map(|t| {
                if constant[t] {
                    f64::NAN
                } else {
                    statistic(&pr, si[t], sc[t], zz[t])
                }
            })
            .collect()
    })
}

/// Moran's I and Geary's C of every gene with spdep's analytic tests (normality and
/// randomisation) and optional permutation p-values. See the module documentation.
pub fn moran_geary(
    expr: &GeneMatrix,
    w: &SpatialWeights,
    opts: &AutocorrOptions,
) -> Result<Vec<GeneAutocorr>> {
    let pr = prepare(expr, w, opts.adjust_n)?;
    let n_cells = expr.n_cells();
    if n_cells > u32::MAX as usize {
        return Err(DpvaeError::Input("too many cells (more than 2^32)".into()));
    }
    let (m, nf, s0, s1, s2) = (pr.m, pr.n, pr.s0, pr.s1, pr.s2);
    let (n1, n2, n3, nn) = (m - 1.0, m - 2.0, m - 3.0, m * m);
    let s02 = s0 * s0;
    let ei = -1.0 / n1;
    let vi_norm = (nn * s1 - m * s2 + 3.0 * s02) / (s02 * (nn - 1.0)) - ei * ei;
    let vc_norm = ((2.0 * s1 + s2) * n1 - 4.0 * s02) / (2.0 * (nf + 1.0) * s02);
    let alt = opts.alternative;
    let n_perm = opts.n_perm;

    over_tiles(expr, |_, ng, z, zz, z4, constant| {
        let (si, sc) = tile_kernel(w, pr.binary, z, None);
        // permutations: the same permutation k for every gene
        let mut ge = [0usize; TILE]; // I_perm >= I
        let mut le = [0usize; TILE]; // I_perm <= I
        let mut cge = [0usize; TILE]; // C_perm >= C
        let mut cle = [0usize; TILE]; // C_perm <= C
        if n_perm > 0 {
            let mut perm: Vec<u32> = Vec::with_capacity(n_cells);
            for k in 0..n_perm {
                perm.clear();
                perm.extend(0..n_cells as u32);
                SeededRng::stream(opts.seed, k as u64).shuffle(&mut perm);
                let (pi, pc) = tile_kernel(w, pr.binary, z, Some(&perm));
                for t in 0..TILE {
                    ge[t] += (pi[t] >= si[t]) as usize;
                    le[t] += (pi[t] <= si[t]) as usize;
                    cge[t] += (pc[t] >= sc[t]) as usize;
                    cle[t] += (pc[t] <= sc[t]) as usize;
                }
            }
        }
        let perm_p = |greater_count: usize, less_count: usize| -> f64 {
            let d = (n_perm + 1) as f64;
            let pg = (1 + greater_count) as f64 / d;
            let pl = (1 + less_count) as f64 / d;
            match alt {
                Alternative::Greater => pg,
                Alternative::Less => pl,
                Alternative::TwoSided => (2.0 * pg.min(pl)).min(1.0),
            }
        };
        (0..ng)
            .map(|t| {
                if constant[t] {
                    return GeneAutocorr {
                        moran: AutocorrStats::nan(n_perm > 0),
                        geary: AutocorrStats::nan(n_perm > 0),
                        constant: true,
                    };
                }
                let zz2 = zz[t] * zz[t];
                // ---- Moran (spdep moran.test)
                let i_stat = (m / s0) * si[t] / zz[t];
                let k_i = nf * z4[t] / zz2;
                let mut vi = m * (s1 * (nn - 3.0 * m + 3.0) - m * s2 + 3.0 * s02);
                let tmp = k_i * (s1 * (nn - m) - 2.0 * m * s2 + 6.0 * s02);
                vi = (vi - tmp) / (n1 * n2 * n3 * s02) - ei * ei;
                let zi = (i_stat - ei) / vi.sqrt();
                let zi_n = (i_stat - ei) / vi_norm.sqrt();
                // ---- Geary (spdep geary.test)
                let c_stat = (n1 / (2.0 * s0)) * sc[t] / zz[t];
                let k_c = m * z4[t] / zz2;
                let mut vc = n1 * s1 * (nn - 3.0 * nf + 3.0 - k_c * n1);
                vc -= 0.25 * (n1 * s2 * (nn + 3.0 * nf - 6.0 - k_c * (nn - nf + 2.0)));
                vc += s02 * (nn - 3.0 - k_c * n1 * n1);
                vc /= nf * n2 * n3 * s02;
                let zc = (1.0 - c_stat) / vc.sqrt();
                let zc_n = (1.0 - c_stat) / vc_norm.sqrt();
                let (pm, pg) = if n_perm > 0 {
                    // Geary: small C = positive autocorrelation = "greater"
                    (Some(perm_p(ge[t], le[t])), Some(perm_p(cle[t], cge[t])))
                } else {
                    (None, None)
                };
                GeneAutocorr {
                    moran: AutocorrStats {
                        statistic: i_stat,
                        expected: ei,
                        variance_normal: vi_norm,
                        variance_randomisation: vi,
                        z: zi,
                        p_value: p_from_z(zi, alt),
                        z_normal: zi_n,
                        p_value_normal: p_from_z(zi_n, alt),
                        p_value_perm: pm,
                    },
                    geary: AutocorrStats {
                        statistic: c_stat,
                        expected: 1.0,
                        variance_normal: vc_norm,
                        variance_randomisation: vc,
                        z: zc,
                        p_value: p_from_z(zc, alt),
                        z_normal: zc_n,
                        p_value_normal: p_from_z(zc_n, alt),
                        p_value_perm: pg,
                    },
                    constant: false,
                }
            })
            .collect()
    })
}

/// Test helper: a dense genes × cells matrix as the slots (p, i, x) of an R dgCMatrix.
#[cfg(test)]
pub(crate) fn dense_to_csc(x: &ndarray::Array2<f64>) -> (Vec<i32>, Vec<i32>, Vec<f64>) {
    let (mut p, mut i, mut xs) = (vec![0i32], vec![], vec![]);
    for c in 0..x.ncols() {
        for g in 0..x.nrows() {
            if x[[g, c]] != 0.0 {
                i.push(g as i32);
                xs.push(x[[g, c]]);
            }
        }
        p.push(i.len() as i32);
    }
    (p, i, xs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::knn::knn_indices;
    use ndarray::{Array2, ShapeBuilder};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    /// 4-cell line 0-1-2-3 with symmetric binary neighbours, x = (1, 2, 3, 4):
    /// z = (−1.5, −.5, .5, 1.5), Σz² = 5, S0 = 6, Σ w z_i z_j = 2(.75 − .25 + .75) = 2.5,
    /// I = 4/6 · 2.5/5 = 1/3; Σ w (x_i−x_j)² = 6 → C = 3/(2·6) · 6/5 = 0.3.
    fn line4() -> (Array2<f64>, SpatialWeights) {
        let w =
            SpatialWeights::from_knn(&[vec![1], vec![0, 2], vec![1, 3], vec![2]], true).unwrap();
        (
            Array2::from_shape_vec((1, 4), vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
            w,
        )
    }

    #[test]
    fn hand_computed_line() {
        let (x, w) = line4();
        let g = GeneMatrix::Dense(x.view());
        let r = moran_geary(&g, &w, &AutocorrOptions::default()).unwrap();
        assert!(close(r[0].moran.statistic, 1.0 / 3.0, 1e-14));
        assert!(close(r[0].geary.statistic, 0.3, 1e-14));
        assert!(close(r[0].moran.expected, -1.0 / 3.0, 1e-14));
        // normality variance: S1 = 12, S2 = Σ (2 k_i)² = 4+16+16+4 = 40
        // VI = (16·12 − 4·40 + 3·36)/(36·15) − 1/9 = 140/540 − 1/9
        assert!(close(
            r[0].moran.variance_normal,
            140.0 / 540.0 - 1.0 / 9.0,
            1e-14
        ));
        // VC = ((24 + 40)·3 − 144)/(2·5·36) = 48/360
        assert!(close(r[0].geary.variance_normal, 48.0 / 360.0, 1e-14));
        assert_eq!(morans_i(&g, &w).unwrap()[0], r[0].moran.statistic);
        assert_eq!(gearys_c(&g, &w).unwrap()[0], r[0].geary.statistic);
    }

    #[test]
    fn grid_checkerboard_negative_autocorrelation() {
        // 3x3 rook grid, checkerboard x: every neighbour pair differs -> I = −1 (scaled), C large
        let mut knn = vec![];
        for i in 0..9usize {
            let (r, c) = (i / 3, i % 3);
            let mut v = vec![];
            if r > 0 {
                v.push(i - 3)
            }
            if r < 2 {
                v.push(i + 3)
            }
            if c > 0 {
                v.push(i - 1)
            }
            if c < 2 {
                v.push(i + 1)
            }
            knn.push(v);
        }
        let w = SpatialWeights::from_knn(&knn, true).unwrap();
        let x = Array2::from_shape_fn((1, 9), |(_, i)| ((i / 3 + i % 3) % 2) as f64);
        let r = moran_geary(
            &GeneMatrix::Dense(x.view()),
            &w,
            &AutocorrOptions::default(),
        )
        .unwrap();
        // z: 5 zeros-ish (x=0 -> −4/9), 4 ones (5/9); Σz² = 5·16/81 + 4·25/81 = 180/81
        // every edge (24 directed) joins a 0 and a 1: Σ w z_i z_j = 24·(−20/81); S0 = 24
        // I = 9/24 · (−480/81)/(180/81) = −1.0 ; C = 8/48 · 24 / (180/81) = 1.8
        assert!(close(r[0].moran.statistic, -1.0, 1e-13));
        assert!(close(r[0].geary.statistic, 1.8, 1e-13));
        assert!(r[0].moran.z < 0.0 && r[0].geary.z < 0.0 && r[0].moran.p_value > 0.5);
    }

    fn random_case(g: usize, n: usize, seed: u64) -> (Array2<f64>, SpatialWeights) {
        let mut rng = SeededRng::new(seed);
        let coords = Array2::from_shape_fn((n, 2), |_| (rng.next_u64() >> 11) as f64 / 9e15);
        let w = SpatialWeights::from_knn(&knn_indices(coords.view(), 5).unwrap(), true).unwrap();
        let x = Array2::from_shape_fn((g, n), |(gi, c)| {
            let u = (rng.next_u64() >> 11) as f64 / 9e15;
            if u < 0.6 {
                0.0
            } else {
                (u * 10.0 + coords[[c, 0]] * gi as f64).ln_1p()
            }
        });
        (x, w)
    }

    /// Plain per-gene reference (scanpy's formulas).
    fn reference(x: &Array2<f64>, w: &SpatialWeights) -> Vec<(f64, f64)> {
        let n = x.ncols() as f64;
        let s0: f64 = w.values.iter().sum();
        x.outer_iter()
            .map(|row| {
                let mean = row.sum() / n;
                let z: Vec<f64> = row.iter().map(|v| v - mean).collect();
                let zz: f64 = z.iter().map(|v| v * v).sum();
                let (mut a, mut b) = (0.0, 0.0);
                for i in 0..w.n {
                    let (c, v) = w.row(i);
                    for (&j, &wij) in c.iter().zip(v) {
                        a += wij * z[i] * z[j];
                        b += wij * (row[i] - row[j]).powi(2);
                    }
                }
                (n / s0 * a / zz, (n - 1.0) * b / (2.0 * s0 * zz))
            })
            .collect()
    }

    #[test]
    fn dense_layouts_sparse_and_reference_agree() {
        let (x, w) = random_case(19, 200, 5);
        // a constant gene and an all-zero gene
        let mut x = x;
        x.row_mut(3).fill(2.5);
        x.row_mut(7).fill(0.0);
        let refv = reference(&x, &w);
        // row-major, column-major (R layout) views
        let rm = GeneMatrix::Dense(x.view());
        let mut cm_data = vec![0.0; x.len()];
        for c in 0..x.ncols() {
            for g in 0..x.nrows() {
                cm_data[g + c * x.nrows()] = x[[g, c]];
            }
        }
        let cm_view =
            ndarray::ArrayView2::from_shape((x.nrows(), x.ncols()).f(), &cm_data).unwrap();
        let cm = GeneMatrix::Dense(cm_view);
        // dgCMatrix
        let (p, i, xs) = dense_to_csc(&x);
        let sp = GeneMatrix::SparseCsc {
            nrow: x.nrows(),
            ncol: x.ncols(),
            p: &p,
            i: &i,
            x: &xs,
        };
        let opts = AutocorrOptions {
            n_perm: 49,
            seed: 3,
            ..Default::default()
        };
        let a = moran_geary(&rm, &w, &opts).unwrap();
        let b = moran_geary(&cm, &w, &opts).unwrap();
        let c = moran_geary(&sp, &w, &opts).unwrap();
        assert_eq!(format!("{a:?}"), format!("{b:?}")); // NaN-aware equality
        for (g, ((ra, rc), rf)) in a.iter().zip(&c).zip(&refv).enumerate() {
            if g == 3 || g == 7 {
                assert!(ra.constant && rc.constant && ra.moran.statistic.is_nan());
                assert!(rc.geary.p_value_perm.unwrap().is_nan());
                continue;
            }
            assert!(!ra.constant);
            assert!(close(ra.moran.statistic, rc.moran.statistic, 1e-12));
            assert!(close(ra.geary.statistic, rc.geary.statistic, 1e-12));
            assert!(close(ra.moran.statistic, rf.0, 1e-12), "{g}");
            assert!(close(ra.geary.statistic, rf.1, 1e-12), "{g}");
            assert!(close(
                ra.moran.variance_randomisation,
                rc.moran.variance_randomisation,
                1e-10
            ));
            assert_eq!(ra.moran.p_value_perm, rc.moran.p_value_perm);
        }
        let mi = morans_i(&sp, &w).unwrap();
        assert!(mi[3].is_nan() && close(mi[0], refv[0].0, 1e-12));
    }

    #[test]
    fn permutation_deterministic_and_sensible() {
        let (x, w) = random_case(10, 150, 8);
        let g = GeneMatrix::Dense(x.view());
        let o = AutocorrOptions {
            n_perm: 99,
            seed: 42,
            ..Default::default()
        };
        let a = moran_geary(&g, &w, &o).unwrap();
        let b = moran_geary(&g, &w, &o).unwrap();
        assert_eq!(a, b);
        // same p-values when the gene is alone (independent of tiling/other genes)
        let x5 = x.slice(ndarray::s![5..6, ..]).to_owned();
        let single = moran_geary(&GeneMatrix::Dense(x5.view()), &w, &o).unwrap();
        assert_eq!(single[0], a[5]);
        // different thread count
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let c = pool.install(|| moran_geary(&g, &w, &o).unwrap());
        assert_eq!(a, c);
        let d = moran_geary(&g, &w, &AutocorrOptions { seed: 43, ..o }).unwrap();
        assert_ne!(a, d);
        for r in &a {
            let p = r.moran.p_value_perm.unwrap();
            assert!(p > 0.0 && p <= 1.0);
        }
        // strong pattern -> smallest possible permutation p-value
        let coords = Array2::from_shape_fn((100, 2), |(i, d)| {
            if d == 0 {
                (i % 10) as f64
            } else {
                (i / 10) as f64
            }
        });
        let w2 = SpatialWeights::from_knn(&knn_indices(coords.view(), 4).unwrap(), true).unwrap();
        let xs = Array2::from_shape_fn((1, 100), |(_, i)| coords[[i, 0]]);
        let r = moran_geary(&GeneMatrix::Dense(xs.view()), &w2, &o).unwrap();
        assert_eq!(r[0].moran.p_value_perm, Some(0.01));
        assert_eq!(r[0].geary.p_value_perm, Some(0.01));
        assert!(r[0].moran.p_value < 1e-10 && r[0].geary.p_value < 1e-10);
    }

    #[test]
    fn matches_spdep_moran_geary_test() {
        // R (spdep 1.2.7): co <- cbind(c(0,1,2,0,1,2.5,0.3), c(0,0,0,1,1,1.2,2));
        // x <- c(1,2,2,5,3,0.5,4); lw <- nb2listw(knn2nb(knearneigh(co, k = 2)), style = "B")
        // moran.test(x, lw, randomisation = TRUE / FALSE); geary.test(x, lw, randomisation = TRUE / FALSE)
        let co = ndarray::array![
            [0.0, 0.0],
            [1.0, 0.0],
            [2.0, 0.0],
            [0.0, 1.0],
            [1.0, 1.0],
            [2.5, 1.2],
            [0.3, 2.0]
        ];
        let knn = knn_indices(co.view(), 2).unwrap();
        assert_eq!(
            knn,
            vec![
                vec![1, 3],
                vec![0, 2],
                vec![1, 5],
                vec![0, 4],
                vec![1, 3],
                vec![2, 4],
                vec![3, 4]
            ]
        );
        let w = SpatialWeights::from_knn(&knn, true).unwrap();
        let x = Array2::from_shape_vec((1, 7), vec![1.0, 2.0, 2.0, 5.0, 3.0, 0.5, 4.0]).unwrap();
        let r = moran_geary(
            &GeneMatrix::Dense(x.view()),
            &w,
            &AutocorrOptions::default(),
        )
        .unwrap()[0];
        let m = r.moran;
        let g = r.geary;
        let t = 1e-12;
        assert!(
            close(m.statistic, 0.07258064516129033, t)
                && close(m.expected, -0.16666666666666666, t)
        );
        assert!(close(m.variance_randomisation, 0.07783393621062716, t));
        assert!(close(m.z, 0.8575561576386828, t) && close(m.p_value, 0.19556879644431832, t));
        assert!(close(m.variance_normal, 0.07043650793650794, t));
        assert!(
            close(m.z_normal, 0.9014635238778319, t)
                && close(m.p_value_normal, 0.18367095972416173, t)
        );
        assert!(close(g.statistic, 0.7707373271889402, t) && g.expected == 1.0);
        assert!(close(g.variance_randomisation, 0.0714285714285715, t));
        assert!(close(g.z, 0.8578223732350388, t) && close(g.p_value, 0.19549527680875198, t));
        assert!(
            close(g.variance_normal, 0.07142857142857142, t)
                && close(g.p_value_normal, 0.1954952768087519, t)
        );
    }

    #[test]
    fn sparse_cursor_blocks_many_genes_any_thread_count() {
        let (x, w) = random_case(150, 120, 21);
        let (p, i, xs) = dense_to_csc(&x);
        let sp = GeneMatrix::SparseCsc {
            nrow: x.nrows(),
            ncol: x.ncols(),
            p: &p,
            i: &i,
            x: &xs,
        };
        let refv = reference(&x, &w);
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (a, b) = pool.install(|| {
                (
                    morans_i(&sp, &w).unwrap(),
                    gearys_c(&GeneMatrix::Dense(x.view()), &w).unwrap(),
                )
            });
            for g in 0..150 {
                assert!(close(a[g], refv[g].0, 1e-12), "threads {threads} gene {g}");
                assert!(close(b[g], refv[g].1, 1e-12), "threads {threads} gene {g}");
            }
        }
    }

    #[test]
    fn errors_and_normal_tail() {
        let (x, w) = line4();
        let x3 = Array2::<f64>::zeros((1, 3));
        assert!(moran_geary(&GeneMatrix::Dense(x3.view()), &w, &Default::default()).is_err());
        let mut xn = x.clone();
        xn[[0, 2]] = f64::NAN;
        assert!(matches!(
            morans_i(&GeneMatrix::Dense(xn.view()), &w),
            Err(DpvaeError::Input(_))
        ));
        let bad = GeneMatrix::SparseCsc {
            nrow: 2,
            ncol: 4,
            p: &[0, 1, 1, 1, 2],
            i: &[0, 5],
            x: &[1.0, 1.0],
        };
        assert!(morans_i(&bad, &w).is_err());
        let mut broken = w.clone();
        broken.indices[0] = 99;
        assert!(matches!(
            morans_i(&GeneMatrix::Dense(x.view()), &broken),
            Err(DpvaeError::Input(_))
        ));
        // R: pnorm(c(1.96, 0, -1, 3, 5, 8, 10), lower.tail = FALSE)
        let want = [
            (1.96, 0.024997895148220435),
            (0.0, 0.5),
            (-1.0, 0.8413447460685429),
            (3.0, 0.0013498980316300946),
            (5.0, 2.866515718791939e-07),
            (8.0, 6.220960574271785e-16),
            (10.0, 7.619853024160527e-24),
            (3.4, 0.0003369292656768808),
        ];
        for (z, p) in want {
            assert!(
                (norm_sf(z) - p).abs() <= 1e-12 * p,
                "{z}: {} vs {p}",
                norm_sf(z)
            );
        }
    }
}
