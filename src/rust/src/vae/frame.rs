//! The coordinate frame: training coordinates are centred and divided by one isotropic scale
//! (so distances keep their shape), and predictions are mapped back onto the reference image
//! by a similarity transform fitted on the training cells.
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{DpvaeError, Result};
use crate::metrics::procrustes::{fit_similarity, Similarity};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Frame {
    /// Mean of the training coordinates.
    pub centre: Vec<f64>,
    /// Root mean squared distance to the centre per axis.
    pub unit: f64,
    /// Latent/c (standardised units) → reference coordinates.
    pub align: Option<Similarity>,
    /// Latent wider than the coordinates: principal axes of the training cells' latent means
    /// (classical MDS of Euclidean latent distances), applied to every later cell too.
    #[serde(default)]
    pub projection: Option<Projection>,
}

/// Centre and top principal axes (latent_dim × spatial dims, row-major) of the training latent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Projection {
    pub mean: Vec<f64>,
    pub axes: Vec<f64>,
}

impl Frame {
    /// A stored frame (the model's `frame_json`); an unreadable one is a damaged model.
    pub fn from_json(json: &str) -> Result<Frame> {
        serde_json::from_str(json)
            .map_err(|e| DpvaeError::Model(format!("the stored coordinate frame is corrupt: {e}")))
    }

    pub fn fit(coords: ArrayView2<f64>) -> Result<Frame> {
        let n = coords.nrows();
        let centre = coords
            .mean_axis(Axis(0))
            .ok_or_else(|| DpvaeError::Input("no coordinates".into()))?;
        let c = &coords - &centre;
        let unit = (c.iter().map(|v| v * v).sum::<f64>() / (n * coords.ncols()) as f64).sqrt();
        if !(unit > 0.0 && unit.is_finite()) {
            return Err(DpvaeError::Input(
                "all training cells have the same coordinates; spatial positions must differ"
                    .into(),
            ));
        }
        Ok(Frame {
            centre: centre.to_vec(),
            unit,
            align: None,
            projection: None,
        })
    }

    /// Fit the projection of a wider latent onto its top `dims` principal axes.
    pub fn fit_projection(&mut self, mu: ArrayView2<f64>) -> Result<()> {
        let dims = self.centre.len();
        if mu.ncols() <= dims {
            self.projection = None;
            return Ok(());
        }
        let mean = mu
            .mean_axis(Axis(0))
            .ok_or_else(|| DpvaeError::Input("no cells".into()))?;
        let c = &mu - &mean;
        let cov = c.t().dot(&c);
        let m = nalgebra::DMatrix::from_fn(cov.nrows(), cov.ncols(), |i, j| cov[[i, j]]);
        let eig = m.symmetric_eigen();
        let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let l = mu.ncols();
        let axes = (0..l)
            .flat_map(|r| order[..dims].iter().map(move |&k| (r, k)))
            .map(|(r, k)| eig.eigenvectors[(r, k)]);
        self.projection = Some(Projection {
            mean: mean.to_vec(),
            axes: axes.collect(),
        });
        Ok(())
    }

    /// Latent means → standardised coordinates: mu / c, projected first when the latent is wider.
    pub fn latent_to_std(&self, mu: ArrayView2<f64>, scale: f64) -> Result<Array2<f64>> {
        let dims = self.centre.len();
        match &self.projection {
            None if mu.ncols() == dims => Ok(&mu / scale),
            None => Err(DpvaeError::Model(format!(
                "the latent has {} dimensions but the coordinates {dims} and no projection is stored",
                mu.ncols()
            ))),
            Some(p) => {
                let l = mu.ncols();
                if p.mean.len() != l || p.axes.len() != l * dims {
                    return Err(DpvaeError::Model("the stored latent projection does not fit the model".into()));
                }
                let axes = Array2::from_shape_vec((l, dims), p.axes.clone()).map_err(|e| DpvaeError::Model(e.to_string()))?;
                Ok((&mu - &Array1::from(p.mean.clone())).dot(&axes) / scale)
            }
        }
    }

    pub fn standardise(&self, coords: ArrayView2<f64>) -> Array2<f64> {
        (&coords - &Array1::from(self.centre.clone())) / self.unit
    }

    /// Fit the alignment from predicted (standardised) to true training coordinates.
    pub fn fit_alignment(
        &mut self,
        predicted_std: ArrayView2<f64>,
        true_coords: ArrayView2<f64>,
    ) -> Result<()> {
        let target = self.standardise(true_coords);
        self.align = Some(fit_similarity(predicted_std, target.view())?);
        Ok(())
    }

    /// Standardised predictions → reference coordinates.
    pub fn to_reference(&self, predicted_std: ArrayView2<f64>) -> Result<Array2<f64>> {
        let aligned = match &self.align {
            Some(t) => t.apply(predicted_std)?,
            None => predicted_std.to_owned(),
        };
        Ok(aligned * self.unit + &Array1::from(self.centre.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn standardise_then_back_is_identity_and_alignment_undoes_rotation() {
        let s = array![[10.0, 0.0], [12.0, 0.0], [10.0, 5.0], [13.0, 4.0]];
        let mut f = Frame::fit(s.view()).unwrap();
        let std = f.standardise(s.view());
        let back = f.to_reference(std.view()).unwrap();
        assert!((&back - &s).iter().all(|v| v.abs() < 1e-12));
        // a rotated, shrunk prediction is put back on the true positions
        let rot = array![[0.0, 1.0], [-1.0, 0.0]];
        let pred = std.dot(&rot) * 0.3;
        f.fit_alignment(pred.view(), s.view()).unwrap();
        let placed = f.to_reference(pred.view()).unwrap();
        assert!((&placed - &s).iter().all(|v| v.abs() < 1e-10));
    }

    #[test]
    fn identical_coordinates_are_refused() {
        let s = array![[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]];
        assert!(matches!(Frame::fit(s.view()), Err(DpvaeError::Input(_))));
    }
}
