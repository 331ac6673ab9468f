//! Procrustes analysis exactly as `scipy.spatial.procrustes`, and the similarity transform
//! (scale, rotation/reflection, shift) that maps one configuration onto another.
use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView2, Axis};

use crate::error::{DpvaeError, Result};

/// Result of `procrustes`: the disparity and `y` aligned onto standardised `x`.
#[derive(Debug, Clone)]
pub struct Procrustes {
    /// Sum of squared differences after alignment, in [0, 1].
    pub disparity: f64,
    /// `x` centred and scaled to unit Frobenius norm.
    pub x_std: Array2<f64>,
    /// `y` centred, scaled, rotated and rescaled onto `x_std`.
    pub y_aligned: Array2<f64>,
}

/// `y ≈ scale · x · rotation + shift` (row vectors).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Similarity {
    pub scale: f64,
    /// d × d, row-major.
    pub rotation: Vec<f64>,
    pub shift: Vec<f64>,
}

fn check_pair(x: &ArrayView2<f64>, y: &ArrayView2<f64>) -> Result<()> {
    if x.dim() != y.dim() {
        return Err(DpvaeError::Input(format!(
            "the two coordinate matrices must have the same shape, got {:?} and {:?}",
            x.dim(),
            y.dim()
        )));
    }
    if x.nrows() < 2 || x.ncols() < 1 {
        return Err(DpvaeError::Input(
            "Procrustes analysis needs at least 2 points".into(),
        ));
    }
    if x.iter().chain(y.iter()).any(|v| !v.is_finite()) {
        return Err(DpvaeError::Input(
            "coordinates contain NA, NaN or Inf".into(),
        ));
    }
    Ok(())
}

fn centred(x: &ArrayView2<f64>) -> (Array2<f64>, Array1<f64>) {
    let mean = x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(x.ncols()));
    (x - &mean, mean)
}

fn to_na(a: &Array2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// Rotation R (d × d) maximising trace(Rᵀ·aᵀb), i.e. minimising ‖a R − b‖, and the sum of
/// singular values of aᵀb.
fn orthogonal_rotation(a: &Array2<f64>, b: &Array2<f64>) -> Result<(Array2<f64>, f64)> {
    let m = to_na(a).transpose() * to_na(b);
    let svd = m.svd(true, true);
    let (u, vt) = match (svd.u, svd.v_t) {
        (Some(u), Some(vt)) => (u, vt),
        _ => {
            return Err(DpvaeError::Numeric(
                "the SVD in Procrustes analysis failed".into(),
            ))
        }
    };
    let r = u * vt;
    let d = a.ncols();
    let rot = Array2::from_shape_fn((d, d), |(i, j)| r[(i, j)]);
    Ok((rot, svd.singular_values.sum()))
}

/// Normalised Procrustes disparity of `y` against `x`, as scipy.spatial.procrustes(x, y).
pub fn procrustes(x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<Procrustes> {
    check_pair(&x, &y)?;
    let (mut a, _) = centred(&x);
    let (mut b, _) = centred(&y);
    let na = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let nb = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return Err(DpvaeError::Input(
            "Procrustes analysis needs more than one distinct point in each configuration".into(),
        ));
    }
    a /= na;
    b /= nb;
    let (rot, s) = orthogonal_rotation(&b, &a)?;
    let aligned = b.dot(&rot) * s;
    let disparity = (&a - &aligned).iter().map(|v| v * v).sum::<f64>();
    Ok(Procrustes {
        disparity,
        x_std: a,
        y_aligned: aligned,
    })
}

/// Least-squares similarity transform taking `from` onto `to`.
pub fn fit_similarity(from: ArrayView2<f64>, to: ArrayView2<f64>) -> Result<Similarity> {
    check_pair(&from, &to)?;
    let (a, ma) = centred(&from);
    let (b, mb) = centred(&to);
    let ss = a.iter().map(|v| v * v).sum::<f64>();
    if ss == 0.0 {
        return Err(DpvaeError::Input(
            "cannot align a configuration whose points all coincide".into(),
        ));
    }
    let (rot, sv) = orthogonal_rotation(&a, &b)?;
    let scale = sv / ss;
    let shift = &mb - &(ma.dot(&rot) * scale);
    Ok(Similarity {
        scale,
        rotation: rot.iter().copied().collect(),
        shift: shift.to_vec(),
    })
}

impl Similarity {
    pub fn apply(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let d = self.shift.len();
        if x.ncols() != d || self.rotation.len() != d * d {
            return Err(DpvaeError::Model(format!(
                "the stored alignment is for {d} dimensions, the data have {}",
                x.ncols()
            )));
        }
        let rot = Array2::from_shape_vec((d, d), self.rotation.clone())
            .map_err(|e| DpvaeError::Model(e.to_string()))?;
        let shift = Array1::from(self.shift.clone());
        Ok(x.dot(&rot) * self.scale + &shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matches_scipy_example() {
        // scipy docs: procrustes(a, b) with b a rotated, scaled copy of a -> disparity 0
        let a = array![[1.0, 3.0], [1.0, 2.0], [1.0, 1.0], [2.0, 1.0]];
        let b = array![[4.0, -2.0], [4.0, -4.0], [4.0, -6.0], [2.0, -6.0]];
        let p = procrustes(a.view(), b.view()).unwrap();
        assert!(p.disparity.abs() < 1e-12);
    }

    #[test]
    fn matches_scipy_value_on_a_generic_pair() {
        // value from scipy 1.17: procrustes([[0,0],[1,0],[0,1],[1,1]], [[0,0],[2,0.5],[0.2,1],[1,1.7]])[2]
        let a = array![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let b = array![[0.0, 0.0], [2.0, 0.5], [0.2, 1.0], [1.0, 1.7]];
        let p = procrustes(a.view(), b.view()).unwrap();
        // closed form: 1 - (sum of singular values of A'B)^2 with A, B standardised
        let (ca, _) = centred(&a.view());
        let (cb, _) = centred(&b.view());
        let na = ca.iter().map(|v| v * v).sum::<f64>().sqrt();
        let nb = cb.iter().map(|v| v * v).sum::<f64>().sqrt();
        let (_, s) = orthogonal_rotation(&(cb / nb), &(ca / na)).unwrap();
        assert!((p.disparity - (1.0 - s * s)).abs() < 1e-12);
        assert!(
            (p.disparity - 0.107_142_857_142_857_18).abs() < 1e-10,
            "{}",
            p.disparity
        );
    }

    #[test]
    fn similarity_recovers_a_known_transform_in_3d() {
        let x = array![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.3],
            [0.0, 2.0, 1.0],
            [1.0, 1.0, -1.0],
            [0.5, -1.0, 2.0]
        ];
        // rotate 90 degrees about z, reflect y, scale 2.5, shift
        let rot = array![[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        let y = x.dot(&rot) * 2.5 + &array![3.0, -1.0, 7.0];
        let t = fit_similarity(x.view(), y.view()).unwrap();
        let back = t.apply(x.view()).unwrap();
        assert!((&back - &y).iter().all(|v| v.abs() < 1e-10));
        assert!((t.scale - 2.5).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_input_error() {
        let a = array![[0.0, 0.0], [1.0, 1.0]];
        let b = array![[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]];
        assert!(matches!(
            procrustes(a.view(), b.view()),
            Err(DpvaeError::Input(_))
        ));
        let same = array![[1.0, 1.0], [1.0, 1.0]];
        assert!(matches!(
            procrustes(a.view(), same.view()),
            Err(DpvaeError::Input(_))
        ));
        let nan = array![[f64::NAN, 0.0], [1.0, 1.0]];
        assert!(matches!(
            procrustes(a.view(), nan.view()),
            Err(DpvaeError::Input(_))
        ));
    }
}
