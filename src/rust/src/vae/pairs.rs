//! Which pairs of cells enter the distance-preserving term (the mask M of the paper), and the
//! term itself for a full batch or a minibatch. Memory stays linear in the cells for minibatches.
use std::collections::BTreeMap;

use ndarray::ArrayView2;
use tch::{Device, Tensor};

use crate::error::{DpvaeError, Result};
use crate::metrics::knn::knn_indices;

/// The mask, on the training cells.
#[derive(Debug, Clone)]
pub enum PairSet {
    /// Every pair.
    All,
    /// Only pairs with the same label (e.g. the same tissue section).
    Groups(Vec<i64>),
    /// These pairs (i < j), e.g. spatial k-nearest neighbours or a user's sparse matrix.
    Explicit { i: Vec<i64>, j: Vec<i64> },
}

impl PairSet {
    /// The kNN mask: the union of each cell's `k` nearest spatial neighbours among `coords`, as
    /// pairs i < j, sorted, each once. Built on the cells given (a cross-fit on a subset rebuilds it
    /// there, so every kept cell has its `k` neighbours).
    pub fn knn(coords: ArrayView2<f64>, k: usize, threads: usize) -> Result<PairSet> {
        let nn = crate::threads::in_pool(threads, || knn_indices(coords, k))?;
        let mut pairs: Vec<(i64, i64)> = nn
            .iter()
            .enumerate()
            .flat_map(|(a, row)| row.iter().map(move |&b| (a.min(b) as i64, a.max(b) as i64)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let (i, j) = pairs.into_iter().unzip();
        Ok(PairSet::Explicit { i, j })
    }

    pub fn validate(&self, n: usize) -> Result<()> {
        match self {
            PairSet::All => Ok(()),
            PairSet::Groups(g) if g.len() != n => Err(DpvaeError::Input(format!(
                "the group labels have {} entries for {n} training cells",
                g.len()
            ))),
            PairSet::Groups(_) => Ok(()),
            PairSet::Explicit { i, j } => {
                if i.len() != j.len() {
                    return Err(DpvaeError::Input(
                        "pair index vectors differ in length".into(),
                    ));
                }
                if i.is_empty() {
                    return Err(DpvaeError::Input(
                        "the mask selects no pairs of training cells".into(),
                    ));
                }
                if i.iter().chain(j.iter()).any(|&v| v < 0 || v as usize >= n) {
                    return Err(DpvaeError::Input(format!(
                        "pair indices must lie in 1..{n} (the training cells)"
                    )));
                }
                if i.iter().zip(j).any(|(a, b)| a == b) {
                    return Err(DpvaeError::Input("a pair joins a cell with itself".into()));
                }
                Ok(())
            }
        }
    }

    /// The same mask restricted to the cells `keep` (in that order), e.g. after a validation split.
    pub fn subset(&self, keep: &[usize], n: usize) -> PairSet {
        match self {
            PairSet::All => PairSet::All,
            PairSet::Groups(g) => PairSet::Groups(keep.iter().map(|&k| g[k]).collect()),
            PairSet::Explicit { i, j } => {
                let mut new_index = vec![-1i64; n];
                for (pos, &k) in keep.iter().enumerate() {
                    new_index[k] = pos as i64;
                }
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for (&p, &q) in i.iter().zip(j) {
                    let (np, nq) = (new_index[p as usize], new_index[q as usize]);
                    if np >= 0 && nq >= 0 {
                        a.push(np.min(nq));
                        b.push(np.max(nq));
                    }
                }
                PairSet::Explicit { i: a, j: b }
            }
        }
    }
}

/// Rows of each label among `rows` (positions into `rows`), groups of one cell left out.
pub fn group_members(labels: &[i64], rows: &[i64]) -> Vec<Vec<i64>> {
    let mut by: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (pos, &r) in rows.iter().enumerate() {
        by.entry(labels[r as usize]).or_default().push(pos as i64);
    }
    by.into_values().filter(|v| v.len() > 1).collect()
}

/// Condensed distances of the pairs of a batch that the mask keeps: all pairs, or all pairs
/// within each group. `x` holds the batch's rows, `rows` their cell indices. `None` for explicit
/// pairs (handled edge by edge) or when no pair is left.
pub fn batch_distances(x: &Tensor, rows: &[i64], pairs: &PairSet) -> Option<Tensor> {
    match pairs {
        PairSet::All => Some(x.pdist(2.0)),
        PairSet::Groups(labels) => {
            let d: Vec<Tensor> = group_members(labels, rows)
                .into_iter()
                .map(|members| {
                    x.index_select(0, &Tensor::from_slice(&members).to_device(x.device()))
                        .pdist(2.0)
                })
                .collect();
            (!d.is_empty()).then(|| Tensor::cat(&d, 0))
        }
        PairSet::Explicit { .. } => None,
    }
}

/// Pair indices as tensors on `device`.
pub fn pair_tensors(i: &[i64], j: &[i64], device: Device) -> (Tensor, Tensor) {
    (
        Tensor::from_slice(i).to_device(device),
        Tensor::from_slice(j).to_device(device),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vae::config::DpLoss;
    use crate::vae::loss::distance_preserving as penalty;

    #[test]
    fn knn_mask_is_the_sorted_union_of_neighbour_pairs() {
        // a line 0 - 1 - 2 ----- 3: with k = 1, cell 3's nearest is 2, so (2, 3) counts once
        let coords = ndarray::array![[0.0, 0.0], [1.0, 0.0], [2.1, 0.0], [9.0, 0.0]];
        let PairSet::Explicit { i, j } = PairSet::knn(coords.view(), 1, 1).unwrap() else {
            panic!("a kNN mask is explicit pairs");
        };
        assert_eq!((i, j), (vec![0, 1, 2], vec![1, 2, 3]));
        assert!(PairSet::knn(coords.view(), 4, 1).is_err());
    }

    #[test]
    fn masks_change_which_pairs_count() {
        // 4 cells on a line; latent = 2 * space except cell 3, which is far off
        let s = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0]).reshape([4, 1]);
        let mu = Tensor::from_slice(&[0.0f32, 2.0, 4.0, 20.0]).reshape([4, 1]);
        let c = Tensor::from(2.0f32);
        let rows = [0i64, 1, 2, 3];
        let d = |x: &Tensor, p: &PairSet| batch_distances(x, &rows, p).unwrap();
        assert!(
            penalty(
                &d(&mu, &PairSet::All),
                &d(&s, &PairSet::All),
                &c,
                DpLoss::Squared
            )
            .double_value(&[])
                > 1.0
        );
        // grouping cell 3 alone removes every pair that involves it: no penalty left
        let g = PairSet::Groups(vec![0, 0, 0, 1]);
        assert_eq!(d(&mu, &g).size(), vec![3]);
        assert!(penalty(&d(&mu, &g), &d(&s, &g), &c, DpLoss::Squared).double_value(&[]) < 1e-10);
    }

    #[test]
    fn subset_renumbers_pairs_and_validation_catches_bad_ones() {
        let p = PairSet::Explicit {
            i: vec![0, 1, 2],
            j: vec![3, 2, 3],
        };
        match p.subset(&[3, 2, 1], 4) {
            PairSet::Explicit { i, j } => {
                assert_eq!(i, vec![1, 0]);
                assert_eq!(j, vec![2, 1]);
            }
            _ => unreachable!(),
        }
        assert!(PairSet::Explicit {
            i: vec![0],
            j: vec![9]
        }
        .validate(4)
        .is_err());
        assert!(PairSet::Explicit {
            i: vec![1],
            j: vec![1]
        }
        .validate(4)
        .is_err());
        assert!(PairSet::Groups(vec![1, 2]).validate(4).is_err());
        assert!(PairSet::Explicit {
            i: vec![],
            j: vec![]
        }
        .validate(4)
        .is_err());
    }
}
