//! Spatial primitives shared by the metrics: exact k-nearest neighbours (a small k-d tree),
//! sparse spatial weights in CSR form, and a seeded deterministic PRNG plus pair sampling
//! (used by `autocorrelation`, `correlation` and `distortion`).
//!
//! Everything here is pure Rust on plain slices / ndarray views; no R types.

use crate::error::{DpvaeError, Result};
use crate::rng::SeededRng;
use ndarray::ArrayView2;
use rayon::prelude::*;

// ---------------------------------------------------------------------------------------------
// k nearest neighbours
// ---------------------------------------------------------------------------------------------

const LEAF_SIZE: usize = 12;

/// Squared Euclidean distance of padded 3-D points, always summed in the same order
/// (x, then y, then z) so that tree search and brute force agree bit for bit.
#[inline(always)]
fn dist2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let dx = a[0] - b[0];
    let dy = a[1] - b[1];
    let dz = a[2] - b[2];
    dx * dx + dy * dy + dz * dz
}

struct Node {
    lo: [f64; 3],
    hi: [f64; 3],
    /// Range into `KdTree::perm` (leaves) — internal nodes keep it too (unused).
    start: usize,
    end: usize,
    /// Children (indices into `nodes`); `usize::MAX` for leaves.
    left: usize,
    right: usize,
}

struct KdTree {
    pts: Vec<[f64; 3]>,
    perm: Vec<usize>,
    nodes: Vec<Node>,
}

impl KdTree {
    fn build(pts: Vec<[f64; 3]>) -> Self {
        let n = pts.len();
        let mut tree = KdTree {
            pts,
            perm: (0..n).collect(),
            nodes: Vec::with_capacity(2 * n / LEAF_SIZE + 2),
        };
        if n > 0 {
            tree.build_node(0, n);
        }
        tree
    }

    fn build_node(&mut self, start: usize, end: usize) -> usize {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for &p in &self.perm[start..end] {
            for d in 0..3 {
                lo[d] = lo[d].min(self.pts[p][d]);
                hi[d] = hi[d].max(self.pts[p][d]);
            }
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            lo,
            hi,
            start,
            end,
            left: usize::MAX,
            right: usize::MAX,
        });
        if end - start <= LEAF_SIZE {
            return id;
        }
        let mut dim = 0;
        for d in 1..3 {
            if hi[d] - lo[d] > hi[dim] - lo[dim] {
                dim = d;
            }
        }
        if hi[dim] - lo[dim] <= 0.0 {
            // all points identical: keep as a (large) leaf
            return id;
        }
        let mid = start + (end - start) / 2;
        let pts = &self.pts;
        // total order: coordinate, then index (deterministic; coordinates are finite)
        self.perm[start..end].select_nth_unstable_by(mid - start, |&a, &b| {
            pts[a][dim].total_cmp(&pts[b][dim]).then(a.cmp(&b))
        });
        let l = self.build_node(start, mid);
        let r = self.build_node(mid, end);
        self.nodes[id].left = l;
        self.nodes[id].right = r;
        id
    }

    /// Squared distance from `q` to the node's bounding box; never larger than the
    /// (floating-point) distance to any point inside it.
    #[inline]
    fn box_dist2(node: &Node, q: &[f64; 3]) -> f64 {
        let mut s = 0.0;
        for ((&qd, &lo), &hi) in q.iter().zip(&node.lo).zip(&node.hi) {
            let v = if qd < lo {
                lo - qd
            } else if qd > hi {
                qd - hi
            } else {
                0.0
            };
            s += v * v;
        }
        s
    }

    /// Exact k nearest neighbours of point `qi` (excluding itself), ordered by (distance, index).
    fn query(&self, qi: usize, k: usize, best: &mut Vec<(f64, usize)>, stack: &mut Vec<usize>) {
        best.clear();
        stack.clear();
        let q = &self.pts[qi];
        stack.push(0);
        while let Some(id) = stack.pop() {
            let node = &self.nodes[id];
            if best.len() == k {
                let worst = best[k - 1].0;
                // `>` (not `>=`): an equally distant point with a lower index may still win
                if Self::box_dist2(node, q) > worst {
                    continue;
                }
            }
            if node.left == usize::MAX {
                for &j in &self.perm[node.start..node.end] {
                    if j == qi {
                        continue;
                    }
                    let d = dist2(q, &self.pts[j]);
                    insert_best(best, k, d, j);
                }
            } else {
                let (l, r) = (node.left, node.right);
                let dl = Self::box_dist2(&self.nodes[l], q);
                let dr = Self::box_dist2(&self.nodes[r], q);
                // push the farther child first so the nearer one is searched first
                if dl <= dr {
                    stack.push(r);
                    stack.push(l);
                } else {
                    stack.push(l);
                    stack.push(r);
                }
            }
        }
    }
}

/// Keep `best` sorted by (distance, index) with at most `k` entries.
#[inline]
fn insert_best(best: &mut Vec<(f64, usize)>, k: usize, d: f64, j: usize) {
    let better = |a: (f64, usize), b: (f64, usize)| a.0 < b.0 || (a.0 == b.0 && a.1 < b.1);
    if best.len() == k && !better((d, j), best[k - 1]) {
        return;
    }
    let mut pos = best.len();
    while pos > 0 && better((d, j), best[pos - 1]) {
        pos -= 1;
    }
    if best.len() == k {
        best.pop();
    }
    best.insert(pos, (d, j));
}

/// Validate an `n × d` coordinate matrix (d in 1..=3, finite) and pad it to 3-D points.
pub(crate) fn padded_points(coords: ArrayView2<f64>, what: &str) -> Result<Vec<[f64; 3]>> {
    let (n, d) = coords.dim();
    if d == 0 || d > 3 {
        return Err(DpvaeError::Input(format!(
            "{what} must have 2 or 3 columns (one row per cell), got {d} columns"
        )));
    }
    let mut pts = Vec::with_capacity(n);
    for (i, row) in coords.outer_iter().enumerate() {
        let mut p = [0.0; 3];
        for (c, &v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(DpvaeError::Input(format!(
                    "{what} has a non-finite value (NA/NaN/Inf) in row {} column {}; remove or fix such cells",
                    i + 1,
                    c + 1
                )));
            }
            p[c] = v;
        }
        pts.push(p);
    }
    Ok(pts)
}

/// Exact k nearest neighbours of every point, excluding the point itself.
///
/// `coords` is `n × d` (d = 2 or 3; d = 1 also works). Row `i` of the result lists the `k`
/// neighbours of point `i` ordered by increasing distance; equal distances are broken by the
/// lower index. Points at identical positions are neighbours at distance 0 (only the point
/// itself is excluded, by index). Deterministic and identical to brute force.
///
/// Errors: `k == 0`, `k >= n`, non-finite coordinates, d not in 1..=3.
pub fn knn_indices(coords: ArrayView2<f64>, k: usize) -> Result<Vec<Vec<usize>>> {
    let n = coords.nrows();
    if k == 0 {
        return Err(DpvaeError::Input("k must be at least 1".into()));
    }
    if k >= n {
        return Err(DpvaeError::Input(format!(
            "k = {k} neighbours requested but there are only {n} cells; use k < number of cells"
        )));
    }
    let pts = padded_points(coords, "coordinates")?;
    let tree = KdTree::build(pts);
    let out: Vec<Vec<usize>> = (0..n)
        .into_par_iter()
        .map_init(
            || (Vec::with_capacity(k + 1), Vec::with_capacity(64)),
            |(best, stack), i| {
                tree.query(i, k, best, stack);
                best.iter().map(|&(_, j)| j).collect()
            },
        )
        .collect();
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Spatial weights (CSR)
// ---------------------------------------------------------------------------------------------

/// A sparse `n × n` spatial weight matrix in CSR form: the weights of row `i` are
/// `values[indptr[i]..indptr[i+1]]` at columns `indices[..]` (sorted, no duplicates).
/// `w_ij` is the weight of neighbour `j` for cell `i` (not necessarily symmetric, as spdep's
/// `knn2nb` and scanpy's kNN graph).
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialWeights {
    pub n: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<usize>,
    pub values: Vec<f64>,
}

/// The constants of a weight matrix used by Moran's I / Geary's C tests (as spdep's
/// `spweights.constants`): `s0 = Σ w_ij`, `s1 = Σ (w_ij² + w_ij w_ji)` (= ½ Σ (w_ij + w_ji)²),
/// `s2 = Σ_i (row_i + col_i)²`, `n_nonempty` = number of rows with at least one stored entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightConstants {
    pub s0: f64,
    pub s1: f64,
    pub s2: f64,
    pub n_nonempty: usize,
}

impl SpatialWeights {
    /// Weights from a kNN list (as returned by [`knn_indices`]): `w_ij = 1` if `j` is one of the
    /// neighbours of `i` (`binary = true`, spdep style "B", scanpy), else `w_ij = 1/k_i`
    /// (row-standardised, spdep style "W"). Not symmetrised.
    pub fn from_knn(knn: &[Vec<usize>], binary: bool) -> Result<Self> {
        let n = knn.len();
        let mut indptr = Vec::with_capacity(n + 1);
        let mut indices = Vec::with_capacity(knn.iter().map(|r| r.len()).sum());
        let mut values = Vec::with_capacity(indices.capacity());
        indptr.push(0);
        for (i, row) in knn.iter().enumerate() {
            let mut r: Vec<usize> = row.clone();
            r.sort_unstable();
            if r.windows(2).any(|w| w[0] == w[1]) {
                return Err(DpvaeError::Input(format!(
                    "neighbour list of cell {} has duplicates",
                    i + 1
                )));
            }
            if let Some(&j) = r.iter().find(|&&j| j >= n) {
                return Err(DpvaeError::Input(format!(
                    "neighbour {} of cell {} is out of range (there are {n} cells)",
                    j + 1,
                    i + 1
                )));
            }
            let w = if binary || r.is_empty() {
                1.0
            } else {
                1.0 / r.len() as f64
            };
            values.resize(values.len() + r.len(), w);
            indices.extend(r);
            indptr.push(indices.len());
        }
        Ok(SpatialWeights {
            n,
            indptr,
            indices,
            values,
        })
    }

    /// Weights from CSR arrays (0-based), validated: `indptr` has `n + 1` non-decreasing entries
    /// starting at 0 and ending at `indices.len() == values.len()`, column indices `< n` and not
    /// repeated within a row, values finite. Rows are sorted by column on the way in.
    /// (From a `dgCMatrix` W, hand over `t(W)`'s `p`, `i`, `x`: CSC of `Wᵀ` is CSR of `W`.)
    pub fn from_csr(
        n: usize,
        indptr: Vec<usize>,
        indices: Vec<usize>,
        values: Vec<f64>,
    ) -> Result<Self> {
        if indptr.len() != n + 1 {
            return Err(DpvaeError::Input(format!(
                "weights: indptr must have n + 1 = {} entries, got {}",
                n + 1,
                indptr.len()
            )));
        }
        if indptr[0] != 0 || indptr[n] != indices.len() || indices.len() != values.len() {
            return Err(DpvaeError::Input(format!(
                "weights: indptr must start at 0 and end at the number of entries ({}), and indices ({}) and values ({}) must have equal length",
                indices.len(),
                indices.len(),
                values.len()
            )));
        }
        if indptr.windows(2).any(|w| w[0] > w[1]) {
            return Err(DpvaeError::Input(
                "weights: indptr must be non-decreasing".into(),
            ));
        }
        let mut indices = indices;
        let mut values = values;
        for i in 0..n {
            let (a, b) = (indptr[i], indptr[i + 1]);
            let mut pairs: Vec<(usize, f64)> = indices[a..b]
                .iter()
                .copied()
                .zip(values[a..b].iter().copied())
                .collect();
            pairs.sort_unstable_by_key(|p| p.0);
            for (t, &(j, v)) in pairs.iter().enumerate() {
                if j >= n {
                    return Err(DpvaeError::Input(format!(
                        "weights: column index {j} in row {} is out of range 0..{n}",
                        i + 1
                    )));
                }
                if !v.is_finite() {
                    return Err(DpvaeError::Input(format!(
                        "weights: non-finite weight in row {}",
                        i + 1
                    )));
                }
                if t > 0 && pairs[t - 1].0 == j {
                    return Err(DpvaeError::Input(format!(
                        "weights: duplicate entry (row {}, column {}); sum duplicates first",
                        i + 1,
                        j + 1
                    )));
                }
                indices[a + t] = j;
                values[a + t] = v;
            }
        }
        Ok(SpatialWeights {
            n,
            indptr,
            indices,
            values,
        })
    }

    /// Check the CSR invariants (the fields are public, so a hand-built value may break them):
    /// `indptr` of length `n + 1`, non-decreasing from 0 to `nnz`, column indices `< n`,
    /// finite values. Called by the metrics before use; O(nnz).
    pub fn check(&self) -> Result<()> {
        let n = self.n;
        let ok = self.indptr.len() == n + 1
            && self.indptr.first() == Some(&0)
            && self.indptr.last() == Some(&self.indices.len())
            && self.values.len() == self.indices.len()
            && self.indptr.windows(2).all(|w| w[0] <= w[1])
            && self.indices.iter().all(|&j| j < n)
            && self.values.iter().all(|v| v.is_finite());
        if ok {
            Ok(())
        } else {
            Err(DpvaeError::Input(
                "invalid spatial weights (CSR arrays inconsistent, index out of range or non-finite weight); \
                 build them with SpatialWeights::from_csr or from_knn"
                    .into(),
            ))
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row `i`: (column indices, weights).
    #[inline]
    pub fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// Each row divided by its sum (spdep style "W"); rows summing to 0 are left unchanged.
    pub fn row_standardise(&self) -> SpatialWeights {
        let mut out = self.clone();
        for i in 0..self.n {
            let (a, b) = (self.indptr[i], self.indptr[i + 1]);
            let s: f64 = self.values[a..b].iter().sum();
            if s != 0.0 {
                for v in &mut out.values[a..b] {
                    *v /= s;
                }
            }
        }
        out
    }

    /// The transpose (CSR of `Wᵀ`), rows sorted.
    pub fn transpose(&self) -> SpatialWeights {
        let n = self.n;
        let mut counts = vec![0usize; n + 1];
        for &j in &self.indices {
            counts[j + 1] += 1;
        }
        for i in 0..n {
            counts[i + 1] += counts[i];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0usize; self.nnz()];
        let mut values = vec![0.0; self.nnz()];
        for i in 0..n {
            let (cols, vals) = self.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                let p = next[j];
                indices[p] = i;
                values[p] = v;
                next[j] += 1;
            }
        }
        SpatialWeights {
            n,
            indptr,
            indices,
            values,
        }
    }

    /// S0, S1, S2 and the number of rows with neighbours (spdep `spweights.constants`).
    pub fn constants(&self) -> WeightConstants {
        let t = self.transpose();
        let n = self.n;
        let mut s0 = 0.0;
        let mut s1 = 0.0;
        let mut s2 = 0.0;
        let mut n_nonempty = 0;
        for i in 0..n {
            let (cols, vals) = self.row(i);
            let (tcols, tvals) = t.row(i); // (j, w_ji)
            if !cols.is_empty() {
                n_nonempty += 1;
            }
            let rs: f64 = vals.iter().sum();
            let cs: f64 = tvals.iter().sum();
            s0 += rs;
            s2 += (rs + cs) * (rs + cs);
            let mut p = 0;
            for (&j, &w) in cols.iter().zip(vals) {
                while p < tcols.len() && tcols[p] < j {
                    p += 1;
                }
                let wji = if p < tcols.len() && tcols[p] == j {
                    tvals[p]
                } else {
                    0.0
                };
                s1 += w * w + w * wji;
            }
        }
        WeightConstants {
            s0,
            s1,
            s2,
            n_nonempty,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pair sampling
// ---------------------------------------------------------------------------------------------

/// The pairs `(i, j)`, `i < j`, to evaluate among `n` points: all `n(n−1)/2` pairs when that
/// is at most `max_pairs`, else `max_pairs` pairs drawn uniformly (with replacement, `i ≠ j`)
/// with a [`SeededRng`] seeded by `seed`. Returns the pairs and whether they were sampled.
pub fn pairs_for(n: usize, max_pairs: usize, seed: u64) -> Result<(Vec<(u32, u32)>, bool)> {
    if n < 2 {
        return Err(DpvaeError::Input(format!("need at least 2 cells, got {n}")));
    }
    if n > u32::MAX as usize {
        return Err(DpvaeError::Input("too many cells (more than 2^32)".into()));
    }
    if max_pairs == 0 {
        return Err(DpvaeError::Input("max_pairs must be at least 1".into()));
    }
    let total = (n as u128) * (n as u128 - 1) / 2;
    if total <= max_pairs as u128 {
        let mut v = Vec::with_capacity(total as usize);
        for i in 0..n {
            for j in (i + 1)..n {
                v.push((i as u32, j as u32));
            }
        }
        Ok((v, false))
    } else {
        let mut rng = SeededRng::new(seed);
        let mut v = Vec::with_capacity(max_pairs);
        while v.len() < max_pairs {
            let a = rng.below(n);
            let b = rng.below(n);
            if a != b {
                v.push((a.min(b) as u32, a.max(b) as u32));
            }
        }
        Ok((v, true))
    }
}

#[cfg(test)]
#[allow(clippy::excessive_precision, clippy::needless_range_loop)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn brute(coords: &Array2<f64>, k: usize) -> Vec<Vec<usize>> {
        let pts = padded_points(coords.view(), "c").unwrap();
        (0..pts.len())
            .map(|i| {
                let mut v: Vec<(f64, usize)> = (0..pts.len())
                    .filter(|&j| j != i)
                    .map(|j| (dist2(&pts[i], &pts[j]), j))
                    .collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                v.into_iter().take(k).map(|p| p.1).collect()
            })
            .collect()
    }

    #[test]
    fn knn_matches_brute_force_random_2d_3d() {
        let mut rng = SeededRng::new(1);
        for &(n, d, k) in &[
            (500usize, 2usize, 5usize),
            (300, 3, 7),
            (50, 2, 49),
            (40, 1, 3),
        ] {
            let c = Array2::from_shape_fn((n, d), |_| {
                (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 100.0
            });
            assert_eq!(
                knn_indices(c.view(), k).unwrap(),
                brute(&c, k),
                "n={n} d={d} k={k}"
            );
        }
    }

    #[test]
    fn knn_ties_grid_and_duplicates() {
        // integer grid: many exact ties, broken by index
        let mut c = Array2::zeros((100, 2));
        for i in 0..100 {
            c[[i, 0]] = (i % 10) as f64;
            c[[i, 1]] = (i / 10) as f64;
        }
        assert_eq!(knn_indices(c.view(), 6).unwrap(), brute(&c, 6));
        // a hexagonal-ish lattice with duplicated points
        let mut c2 = Array2::zeros((60, 2));
        for i in 0..60 {
            c2[[i, 0]] = ((i % 20) % 7) as f64 + 0.5 * ((i / 7) % 2) as f64;
            c2[[i, 1]] = ((i % 20) / 7) as f64;
        }
        assert_eq!(knn_indices(c2.view(), 5).unwrap(), brute(&c2, 5));
        // all identical
        let c3 = Array2::from_elem((30, 3), 2.0);
        let r = knn_indices(c3.view(), 3).unwrap();
        assert_eq!(r[0], vec![1, 2, 3]);
        assert_eq!(r[5], vec![0, 1, 2]);
    }

    #[test]
    fn knn_errors() {
        let c = Array2::<f64>::zeros((5, 2));
        assert!(knn_indices(c.view(), 0).is_err());
        assert!(knn_indices(c.view(), 5).is_err());
        let mut c2 = Array2::<f64>::zeros((5, 2));
        c2[[2, 1]] = f64::NAN;
        assert!(matches!(
            knn_indices(c2.view(), 2),
            Err(DpvaeError::Input(_))
        ));
        let c4 = Array2::<f64>::zeros((5, 4));
        assert!(knn_indices(c4.view(), 2).is_err());
    }

    #[test]
    fn weights_constants_and_validation() {
        // path 0-1-2 (symmetric binary) plus an asymmetric edge 2->0
        let knn = vec![vec![1], vec![0, 2], vec![1, 0]];
        let w = SpatialWeights::from_knn(&knn, true).unwrap();
        let c = w.constants();
        assert_eq!(c.s0, 5.0);
        // S1 = Σ w² + w w^T : pairs (0,1),(1,0),(1,2),(2,1) symmetric: 2 each; (2,0): 1
        assert_eq!(c.s1, 4.0 * 2.0 + 1.0);
        // row sums 1,2,2 ; col sums 2,2,1 -> (3,4,3)^2 = 9+16+9
        assert_eq!(c.s2, 34.0);
        assert_eq!(c.n_nonempty, 3);
        let rs = w.row_standardise();
        assert_eq!(rs.row(1).1, &[0.5, 0.5]);
        assert_eq!(SpatialWeights::from_knn(&knn, false).unwrap(), rs);
        assert!(SpatialWeights::from_csr(3, vec![0, 1, 2], vec![1, 0], vec![1.0, 1.0]).is_err());
        assert!(SpatialWeights::from_csr(2, vec![0, 2, 2], vec![1, 1], vec![1.0, 1.0]).is_err());
        assert!(SpatialWeights::from_csr(2, vec![0, 1, 2], vec![1, 5], vec![1.0, 1.0]).is_err());
        assert!(
            SpatialWeights::from_csr(2, vec![0, 1, 2], vec![1, 0], vec![1.0, f64::NAN]).is_err()
        );
        let ok = SpatialWeights::from_csr(3, vec![0, 2, 2, 3], vec![2, 1, 0], vec![3.0, 1.0, 2.0])
            .unwrap();
        assert_eq!(ok.row(0), (&[1usize, 2][..], &[1.0, 3.0][..]));
        assert_eq!(ok.transpose().transpose(), ok);
    }

    #[test]
    fn rng_deterministic_and_uniformish() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut counts = [0usize; 6];
        let mut r = SeededRng::stream(3, 11);
        for _ in 0..60000 {
            counts[r.below(6)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9000..11000).contains(&c)),
            "{counts:?}"
        );
        let (p, s) = pairs_for(5, 100, 0).unwrap();
        assert!(!s);
        assert_eq!(p.len(), 10);
        let (p2, s2) = pairs_for(1000, 50, 9).unwrap();
        assert!(s2 && p2.len() == 50 && p2 == pairs_for(1000, 50, 9).unwrap().0);
        assert!(p2.iter().all(|&(i, j)| i < j));
    }
}
