//! Exact `k` nearest reference rows of each query row in a latent space (2–64-D), by a scan in
//! parallel over query rows: at these dimensions a tree prunes little, and the scan needs no
//! more memory than one distance row per thread. The cell → location map and the
//! out-of-reference score are built from these neighbours.
use ndarray::{Array2, ArrayView2};
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
    let (nq, n_ref) = (query.nrows(), reference.nrows());
    let reference = reference.as_standard_layout();
    let query = query.as_standard_layout();
    let mut index = Array2::<usize>::zeros((nq, k));
    let mut distance = Array2::<f64>::zeros((nq, k));
    for start in (0..nq).step_by(BLOCK) {
        if !keep_going() {
            return Err(DpvaeError::Interrupted);
        }
        let end = (start + BLOCK).min(nq);
        let rows: Vec<(Vec<usize>, Vec<f64>)> = pool.install(|| {
            (start..end)
                .into_par_iter()
                .map_init(
                    || Vec::with_capacity(n_ref),
                    |d2: &mut Vec<(f64, usize)>, i| {
                        let q = query.row(i);
                        d2.clear();
                        for (j, r) in reference.outer_iter().enumerate() {
                            if exclude_self && i == j {
                                continue;
                            }
                            let s: f64 =
                                q.iter().zip(r.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
                            d2.push((s, j));
                        }
                        // ties broken by index so the result does not depend on thread timing
                        let cmp = |a: &(f64, usize), b: &(f64, usize)| {
                            a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                        };
                        if d2.len() > k {
                            d2.select_nth_unstable_by(k - 1, cmp);
                            d2.truncate(k);
                        }
                        d2.sort_unstable_by(cmp);
                        (
                            d2.iter().map(|p| p.1).collect(),
                            d2.iter().map(|p| p.0.sqrt()).collect(),
                        )
                    },
                )
                .collect()
        });
        for (offset, (idx, dist)) in rows.into_iter().enumerate() {
            for r in 0..k {
                index[[start + offset, r]] = idx[r];
                distance[[start + offset, r]] = dist[r];
            }
        }
    }
    Ok(Neighbours { index, distance })
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
