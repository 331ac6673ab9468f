//! Exact k-nearest neighbours of 2-D/3-D coordinates (a small k-d tree), for the spatial weights
//! of the metrics and the kNN mask of a fit.
//!
//! Everything here is pure Rust on plain slices / ndarray views; no R types.

use crate::error::{DpvaeError, Result};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
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
}
