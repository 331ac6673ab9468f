//! Exact `k` nearest reference rows of each query row in a latent space (2–64-D). At these
//! dimensions a tree prunes little, so every pair is scored — but as matrix products: squared
//! distances |q|² + |r|² − 2 q·r for a tile of query rows against a tile of reference rows at a
//! time (one GEMM each), keeping each query's best candidates, whose distances are then computed
//! directly so that the result is exact and its order does not depend on the tiling. Memory is one
//! tile of products per thread. The cell → location map and the out-of-reference score are built
//! from these neighbours.
use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::{DpvaeError, Result};

/// Neighbours of every query row, sorted by distance: `index[[i, r]]` is the reference row of
/// query `i`'s `r`-th nearest neighbour (0-based), `distance[[i, r]]` its Euclidean distance.
#[derive(Debug, Clone)]
pub struct Neighbours {
    pub index: Array2<usize>,
    pub distance: Array2<f64>,
}

/// Query rows per block: between blocks the caller may check for an interrupt.
pub const BLOCK: usize = 2048;
/// Query rows per task (the blocks' parallel unit) and reference rows per product: a 256 × 4096
/// tile of f64 products is 8 MB.
const QUERY_TILE: usize = 256;
const REFERENCE_TILE: usize = 4096;
/// Candidates kept beyond `k` while scanning: the product form loses a few ulps to cancellation,
/// the exact distances computed at the end settle the order among them.
const SPARE: usize = 8;

/// `k` nearest rows of `reference` for each row of `query`. With `exclude_self` the query *is*
/// the reference (same row order) and each row's own index is skipped (leave-one-out).
/// Work runs on `threads` threads (0 = rayon's default). `keep_going` is called on the calling
/// thread between blocks of [`BLOCK`] rows (so it may talk to R); returning false stops with
/// [`DpvaeError::Interrupted`].
pub fn nearest_rows(
    query: ArrayView2<f64>,
    reference: ArrayView2<f64>,
    k: usize,
    exclude_self: bool,
    threads: usize,
    mut keep_going: impl FnMut() -> bool,
) -> Result<Neighbours> {
    check_inputs(query, reference, k, exclude_self)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(crate::threads::usable(threads))
        .build()
        .map_err(|e| DpvaeError::Numeric(format!("could not start a thread pool: {e}")))?;
    let nq = query.nrows();
    let reference = reference.as_standard_layout();
    let query = query.as_standard_layout();
    let scan = Scan {
        reference: reference.view(),
        reference_sq: squared_norms(reference.view()),
        k,
        exclude_self,
    };
    let mut index = Array2::<usize>::zeros((nq, k));
    let mut distance = Array2::<f64>::zeros((nq, k));
    for start in (0..nq).step_by(BLOCK) {
        if !keep_going() {
            return Err(DpvaeError::Interrupted);
        }
        let end = (start + BLOCK).min(nq);
        let tiles: Vec<Vec<Vec<(f64, usize)>>> = pool.install(|| {
            (start..end)
                .step_by(QUERY_TILE)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|first| {
                    let last = (first + QUERY_TILE).min(end);
                    scan.tile(query.slice(ndarray::s![first..last, ..]), first)
                })
                .collect()
        });
        for (offset, best) in tiles.into_iter().flatten().enumerate() {
            for (r, (d2, j)) in best.into_iter().enumerate() {
                index[[start + offset, r]] = j;
                distance[[start + offset, r]] = d2.sqrt();
            }
        }
    }
    Ok(Neighbours { index, distance })
}

fn squared_norms(m: ArrayView2<f64>) -> Vec<f64> {
    m.outer_iter().map(|r| r.dot(&r)).collect()
}

fn squared_distance(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Ties broken by index, so the result does not depend on thread timing or tiling.
fn closer(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// Keeps the `keep` best of `v` (unordered).
fn prune(v: &mut Vec<(f64, usize)>, keep: usize) {
    if v.len() > keep {
        v.select_nth_unstable_by(keep - 1, closer);
        v.truncate(keep);
    }
}

struct Scan<'a> {
    reference: ArrayView2<'a, f64>,
    reference_sq: Vec<f64>,
    k: usize,
    exclude_self: bool,
}

impl Scan<'_> {
    /// The `k` nearest reference rows (squared distance, row) of each row of `q`, whose first row
    /// is query row `first`, sorted.
    fn tile(&self, q: ArrayView2<f64>, first: usize) -> Vec<Vec<(f64, usize)>> {
        let keep = (self.k + SPARE).min(self.reference.nrows());
        let q_sq = squared_norms(q);
        let mut best: Vec<Vec<(f64, usize)>> = vec![Vec::with_capacity(2 * keep); q.nrows()];
        // a candidate must beat the worst kept one; pruning to `keep` whenever the list doubles
        let mut bound = vec![f64::INFINITY; q.nrows()];
        for (t, r_tile) in self
            .reference
            .axis_chunks_iter(Axis(0), REFERENCE_TILE)
            .enumerate()
        {
            let offset = t * REFERENCE_TILE;
            let products = q.dot(&r_tile.t());
            for (i, row) in products.outer_iter().enumerate() {
                let list = &mut best[i];
                for (jj, &p) in row.iter().enumerate() {
                    let j = offset + jj;
                    let d2 = (q_sq[i] + self.reference_sq[j] - 2.0 * p).max(0.0);
                    if d2 <= bound[i] && !(self.exclude_self && first + i == j) {
                        list.push((d2, j));
                        if list.len() >= 2 * keep {
                            prune(list, keep);
                            bound[i] = list.iter().map(|c| c.0).fold(f64::MIN, f64::max);
                        }
                    }
                }
            }
        }
        best.into_iter()
            .enumerate()
            .map(|(i, mut list)| {
                for c in list.iter_mut() {
                    c.0 = squared_distance(q.row(i), self.reference.row(c.1));
                }
                prune(&mut list, self.k);
                list.sort_unstable_by(closer);
                list
            })
            .collect()
    }
}

fn check_inputs(
    query: ArrayView2<f64>,
    reference: ArrayView2<f64>,
    k: usize,
    exclude_self: bool,
) -> Result<()> {
    if query.ncols() != reference.ncols() {
        return Err(DpvaeError::Input(format!(
            "query and reference have different dimensions ({} vs {})",
            query.ncols(),
            reference.ncols()
        )));
    }
    let available = reference.nrows() - usize::from(exclude_self && reference.nrows() > 0);
    if k == 0 || k > available {
        return Err(DpvaeError::Input(format!(
            "k must be between 1 and {available} (the reference rows available), got {k}"
        )));
    }
    if exclude_self && query.nrows() != reference.nrows() {
        return Err(DpvaeError::Input(
            "leave-one-out needs the query to be the reference".into(),
        ));
    }
    if query.iter().chain(reference.iter()).any(|v| !v.is_finite()) {
        return Err(DpvaeError::Input("latent values must be finite".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn brute(q: &Array2<f64>, r: &Array2<f64>, k: usize, skip_self: bool) -> Vec<Vec<usize>> {
        q.outer_iter()
            .enumerate()
            .map(|(i, a)| {
                let mut d: Vec<(f64, usize)> = r
                    .outer_iter()
                    .enumerate()
                    .filter(|(j, _)| !(skip_self && *j == i))
                    .map(|(j, b)| ((&a - &b).mapv(|v| v * v).sum(), j))
                    .collect();
                d.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                d.iter().take(k).map(|p| p.1).collect()
            })
            .collect()
    }

    fn pseudo_random(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut s = seed;
        Array2::from_shape_fn((n, d), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
    }

    #[test]
    fn matches_brute_force_across_blocks() {
        let r = pseudo_random(300, 8, 1);
        let q = pseudo_random(BLOCK + 17, 8, 2);
        let nb = nearest_rows(q.view(), r.view(), 7, false, 1, || true).unwrap();
        let want = brute(&q, &r, 7, false);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(nb.index.row(i).to_vec(), *w, "row {i}");
            let d0 = (&q.row(i) - &r.row(w[0])).mapv(|v| v * v).sum().sqrt();
            assert!((nb.distance[[i, 0]] - d0).abs() < 1e-12);
        }
        assert!(nb
            .distance
            .rows()
            .into_iter()
            .all(|row| row.windows(2).into_iter().all(|w| w[0] <= w[1])));
    }

    #[test]
    fn matches_brute_force_across_tiles_with_leave_one_out() {
        // more reference rows than one product tile, more query rows than one query tile
        let r = pseudo_random(REFERENCE_TILE + 45, 5, 4);
        let q = pseudo_random(QUERY_TILE + 30, 5, 5);
        let nb = nearest_rows(q.view(), r.view(), 12, false, 2, || true).unwrap();
        let want = brute(&q, &r, 12, false);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(nb.index.row(i).to_vec(), *w, "row {i}");
        }
        let nb = nearest_rows(r.view(), r.view(), 4, true, 2, || true).unwrap();
        let want = brute(&r, &r, 4, true);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(nb.index.row(i).to_vec(), *w, "row {i}");
        }
    }

    #[test]
    fn leave_one_out_skips_the_row_itself() {
        let r = pseudo_random(50, 3, 3);
        let nb = nearest_rows(r.view(), r.view(), 5, true, 2, || true).unwrap();
        assert_eq!(
            nb.index
                .rows()
                .into_iter()
                .map(|x| x.to_vec())
                .collect::<Vec<_>>(),
            brute(&r, &r, 5, true)
        );
        assert!(nb
            .index
            .outer_iter()
            .enumerate()
            .all(|(i, row)| !row.iter().any(|&j| j == i)));
        assert!(nb.distance.iter().all(|&d| d > 0.0));
    }

    #[test]
    fn bad_inputs_and_interrupt() {
        let r = array![[0.0, 0.0], [1.0, 1.0]];
        let q = array![[0.5, 0.5]];
        assert!(matches!(
            nearest_rows(q.view(), r.view(), 3, false, 1, || true),
            Err(DpvaeError::Input(_))
        ));
        assert!(matches!(
            nearest_rows(r.view(), r.view(), 2, true, 2, || true),
            Err(DpvaeError::Input(_))
        ));
        let q3 = array![[0.5, 0.5, 0.0]];
        assert!(matches!(
            nearest_rows(q3.view(), r.view(), 1, false, 1, || true),
            Err(DpvaeError::Input(_))
        ));
        let qn = array![[f64::NAN, 0.5]];
        assert!(matches!(
            nearest_rows(qn.view(), r.view(), 1, false, 1, || true),
            Err(DpvaeError::Input(_))
        ));
        assert!(matches!(
            nearest_rows(q.view(), r.view(), 1, false, 1, || false),
            Err(DpvaeError::Interrupted)
        ));
    }
}
