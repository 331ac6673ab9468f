//! Sparse spatial weights in CSR form (spdep's conventions) and their test constants, for Moran's I
//! and Geary's C.
use crate::error::{DpvaeError, Result};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
