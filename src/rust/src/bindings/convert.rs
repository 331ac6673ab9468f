//! R matrices (column-major) ↔ ndarray, without copying on the way in.
use extendr_api::prelude::*;
use ndarray::{Array2, ArrayView2, ShapeBuilder};

use crate::error::{DpvaeError, Result};

/// A view of an R double matrix: R stores column-major, which is ndarray's Fortran order.
pub fn matrix_view(m: &RMatrix<f64>) -> Result<ArrayView2<'_, f64>> {
    ArrayView2::from_shape((m.nrows(), m.ncols()).f(), m.data())
        .map_err(|e| DpvaeError::Input(format!("not a valid numeric matrix: {e}")))
}

/// An ndarray as a fresh R double matrix.
pub fn to_rmatrix(a: &Array2<f64>) -> Robj {
    RMatrix::new_matrix(a.nrows(), a.ncols(), |r, c| a[[r, c]]).into()
}

/// R's raw vector bytes.
pub fn raw_bytes(r: &Raw) -> &[u8] {
    r.as_slice()
}

/// 0-based Rust indices as R's 1-based integers.
pub fn one_based(idx: &[usize]) -> Vec<i32> {
    idx.iter().map(|&i| i as i32 + 1).collect()
}

/// Settings sent from R as JSON (`as_json()`), parsed with serde, so bindings keep short signatures.
pub fn settings<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| DpvaeError::Input(format!("{what} settings: {e}")))
}

/// The elements of a named R list, to be taken out by name (`Fields::take`; missing = NULL).
pub struct Fields(std::collections::HashMap<String, Robj>);

impl Fields {
    pub fn of(list: List) -> Self {
        Fields(
            list.iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
        )
    }

    pub fn take(&mut self, name: &str) -> Robj {
        self.0.remove(name).unwrap_or_else(|| ().into())
    }
}
