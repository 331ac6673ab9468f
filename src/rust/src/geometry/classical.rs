//! Classical (Torgerson–Gower) metric MDS: B = −½ J D⁽²⁾ J, coordinates = top eigenvectors of
//! B scaled by √λ (negative eigenvalues clamped to 0).
//!
//! Small problems (n ≤ 256) use a full `nalgebra::SymmetricEigen`; larger ones a matrix-free
//! block subspace iteration with Rayleigh–Ritz (B is applied from the dissimilarities on the
//! fly, so no second n × n matrix is formed), which is O(n² · b) per sweep with b = ndim + 8.

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::{check_dissimilarity, input_err, std_slice};
use crate::error::Result;
use crate::rng::SeededRng;

/// Problems up to this size are solved with a dense symmetric eigendecomposition.
const DENSE_MAX: usize = 256;

/// Classical (Torgerson) MDS of a dissimilarity matrix into `ndim` dimensions.
///
/// Exact (up to rotation/reflection and rounding) when `delta` holds Euclidean distances of a
/// configuration of dimension ≤ `ndim`. Columns are ordered by decreasing eigenvalue; the sign
/// of each column is fixed so that its largest-magnitude entry is positive. Dimensions whose
/// eigenvalue is ≤ 0 come back as zero columns.
pub fn classical_mds(delta: ArrayView2<f64>, ndim: usize) -> Result<Array2<f64>> {
    if ndim == 0 {
        return Err(input_err("`ndim` must be at least 1"));
    }
    let d = check_dissimilarity(delta, "delta")?;
    if ndim > d.n {
        return Err(input_err(format!(
            "`ndim` ({ndim}) must not exceed the number of points ({})",
            d.n
        )));
    }
    classical_core(std_slice(&d.data)?, d.n, ndim)
}

/// Classical MDS on a validated, symmetric, row-major `n × n` slice.
pub(crate) fn classical_core(delta: &[f64], n: usize, ndim: usize) -> Result<Array2<f64>> {
    let block = (ndim + 8).min(n);
    let (vals, vecs) = if n <= DENSE_MAX || 2 * block >= n {
        dense_eigen(delta, n)
    } else {
        subspace_eigen(delta, n, ndim, block)
    };
    // vals sorted decreasingly; vecs: column k is the eigenvector for vals[k] (n × ncol, col-major)
    let mut out = Array2::<f64>::zeros((n, ndim));
    for k in 0..ndim.min(vals.len()) {
        let lam = vals[k];
        if lam <= 0.0 || !lam.is_finite() {
            continue;
        }
        let col = &vecs[k * n..(k + 1) * n];
        let mut big = 0.0f64;
        let mut sign = 1.0;
        for &v in col {
            if v.abs() > big {
                big = v.abs();
                sign = if v < 0.0 { -1.0 } else { 1.0 };
            }
        }
        let s = sign * lam.sqrt();
        for i in 0..n {
            out[[i, k]] = s * col[i];
        }
    }
    Ok(out)
}

/// Row means of D² and the grand mean.
fn sq_means(delta: &[f64], n: usize) -> (Vec<f64>, f64) {
    let rm: Vec<f64> = delta
        .par_chunks(n)
        .map(|row| row.iter().map(|v| v * v).sum::<f64>() / n as f64)
        .collect();
    let gm = rm.iter().sum::<f64>() / n as f64;
    (rm, gm)
}

/// Full eigendecomposition of B; eigenvalues sorted decreasingly, vectors column-major.
fn dense_eigen(delta: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let (rm, gm) = sq_means(delta, n);
    let b = DMatrix::<f64>::from_fn(n, n, |i, j| {
        let d = delta[i * n + j];
        -0.5 * (d * d - rm[i] - rm[j] + gm)
    });
    let eig = SymmetricEigen::new(b);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let vals = order.iter().map(|&k| eig.eigenvalues[k]).collect();
    let mut vecs = Vec::with_capacity(n * n);
    for &k in &order {
        vecs.extend(eig.eigenvectors.column(k).iter().copied());
    }
    (vals, vecs)
}

fn center_columns(q: &mut [f64], n: usize) {
    for col in q.chunks_mut(n) {
        let m = col.iter().sum::<f64>() / n as f64;
        col.iter_mut().for_each(|v| *v -= m);
    }
}

/// Y = B Q for column-major Q (n × b), B = −½ J D² J applied matrix-free.
fn apply_b(delta: &[f64], n: usize, b: usize, q: &[f64]) -> Vec<f64> {
    let mut qc = q.to_vec();
    center_columns(&mut qc, n);
    // rows of Y in row-major (n × b), then transpose
    let mut yr = vec![0.0; n * b];
    yr.par_chunks_mut(b).enumerate().for_each(|(i, yi)| {
        let row = &delta[i * n..(i + 1) * n];
        for (c, y) in yi.iter_mut().enumerate() {
            let col = &qc[c * n..(c + 1) * n];
            *y = row.iter().zip(col).map(|(d, v)| d * d * v).sum::<f64>();
        }
    });
    let mut y = vec![0.0; n * b];
    for i in 0..n {
        for c in 0..b {
            y[c * n + i] = -0.5 * yr[i * b + c];
        }
    }
    center_columns(&mut y, n);
    y
}

fn orthonormalise(y: &[f64], n: usize, b: usize) -> Vec<f64> {
    let m = DMatrix::<f64>::from_column_slice(n, b, y);
    let q = m.qr().q();
    q.as_slice().to_vec()
}

/// Top eigenpairs of B by block subspace iteration with Rayleigh–Ritz. Returns the Ritz values
/// sorted decreasingly and the matching Ritz vectors (column-major, n × block).
fn subspace_eigen(delta: &[f64], n: usize, ndim: usize, block: usize) -> (Vec<f64>, Vec<f64>) {
    const MAX_SWEEPS: usize = 500;
    const TOL: f64 = 1e-10;
    const RES_TOL: f64 = 1e-9;
    let mut rng = SeededRng::new(0x5EED_C1A5_51CA_1000 ^ n as u64);
    let mut q0: Vec<f64> = (0..n * block).map(|_| rng.normal()).collect();
    center_columns(&mut q0, n);
    let mut q = orthonormalise(&q0, n, block);
    let mut best = (Vec::new(), Vec::new());
    for _ in 0..MAX_SWEEPS {
        let y = apply_b(delta, n, block, &q);
        // T = Qᵀ Y
        let qm = DMatrix::<f64>::from_column_slice(n, block, &q);
        let ym = DMatrix::<f64>::from_column_slice(n, block, &y);
        let t = qm.transpose() * &ym;
        let t = (&t + t.transpose()) * 0.5;
        let eig = SymmetricEigen::new(t);
        let mut order: Vec<usize> = (0..block).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let w = DMatrix::<f64>::from_fn(block, block, |i, j| eig.eigenvectors[(i, order[j])]);
        let theta: Vec<f64> = order.iter().map(|&k| eig.eigenvalues[k]).collect();
        let ritz = &qm * &w;
        let bw = &ym * &w;
        let scale = theta
            .iter()
            .fold(0.0f64, |a, t| a.max(t.abs()))
            .max(f64::MIN_POSITIVE);
        let mut done = true;
        for (k, &t) in theta.iter().enumerate().take(ndim) {
            if t <= TOL * scale {
                continue; // clamped to zero anyway
            }
            let res = (bw.column(k) - ritz.column(k) * t).norm();
            if res > RES_TOL * scale {
                done = false;
                break;
            }
        }
        best = (theta, ritz.as_slice().to_vec());
        if done {
            break;
        }
        q = orthonormalise(bw.as_slice(), n, block);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DpvaeError;
    use crate::geometry::testutil::*;

    #[test]
    fn exact_on_euclidean_dense_path() {
        let x = gaussian(40, 2, 11);
        let d = dist(&x);
        let y = classical_mds(d.view(), 2).unwrap();
        assert!(procrustes_disparity(&x, &y) < 1e-20 + 1e-12);
        assert!(max_abs_diff(&dist(&y), &d) < 1e-10);
        // 3-D data
        let x3 = gaussian(30, 3, 12);
        let y3 = classical_mds(dist(&x3).view(), 3).unwrap();
        assert!(max_abs_diff(&dist(&y3), &dist(&x3)) < 1e-10);
    }

    #[test]
    fn exact_on_euclidean_subspace_path() {
        let x = gaussian(400, 3, 13);
        let d = dist(&x);
        let y = classical_mds(d.view(), 3).unwrap();
        assert!(max_abs_diff(&dist(&y), &d) < 1e-8);
        // 2 of 10 dimensions: compare with the dense path on the same matrix
        let x10 = gaussian(300, 10, 14);
        let d10 = dist(&x10);
        let ys = classical_mds(d10.view(), 2).unwrap();
        let (vals, vecs) = dense_eigen(d10.as_slice().unwrap(), 300);
        let mut yd = Array2::<f64>::zeros((300, 2));
        for k in 0..2 {
            for i in 0..300 {
                yd[[i, k]] = vecs[k * 300 + i] * vals[k].sqrt();
            }
        }
        assert!(procrustes_disparity(&ys, &yd) < 1e-10);
    }

    #[test]
    fn extra_dimensions_are_zero_and_non_euclidean_is_finite() {
        let x = gaussian(10, 2, 15);
        let y = classical_mds(dist(&x).view(), 4).unwrap();
        assert!(y
            .column(2)
            .iter()
            .chain(y.column(3).iter())
            .all(|v| v.abs() < 1e-6));
        let noisy = perturb(&dist(&x), 0.5, 3);
        let z = classical_mds(noisy.view(), 5).unwrap();
        assert!(z.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_input() {
        let x = gaussian(5, 2, 1);
        let d = dist(&x);
        assert!(matches!(
            classical_mds(d.view(), 0),
            Err(DpvaeError::Input(_))
        ));
        assert!(matches!(
            classical_mds(d.view(), 6),
            Err(DpvaeError::Input(_))
        ));
        let mut a = d.clone();
        a[[0, 1]] += 1.0;
        assert!(matches!(
            classical_mds(a.view(), 2),
            Err(DpvaeError::Input(_))
        ));
    }
}
