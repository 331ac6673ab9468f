//! Metric shims.
use extendr_api::prelude::*;

use super::conditions::to_robj;
use super::convert::{matrix_view, to_rmatrix};
use crate::metrics::procrustes::procrustes;

/// @noRd
#[extendr]
fn procrustes_impl(x: RMatrix<f64>, y: RMatrix<f64>) -> Robj {
    to_robj((|| {
        let p = procrustes(matrix_view(&x)?, matrix_view(&y)?)?;
        Ok(list!(
            disparity = p.disparity,
            x = to_rmatrix(&p.x_std),
            y = to_rmatrix(&p.y_aligned)
        )
        .into())
    })())
}

extendr_module! {
    mod metrics_bindings;
    fn procrustes_impl;
}
