//! R's BLAS kernels (see `crate::blas`).
use crate::blas;
use extendr_api::prelude::*;

/// @noRd
#[extendr]
fn blas_core_impl() -> Robj {
    let core = blas::openblas_core();
    list!(
        core = core.clone(),
        suited = blas::suited_core(),
        generic = core.as_deref().is_some_and(blas::is_generic)
    )
    .into()
}

/// @noRd
#[extendr]
fn blas_retune_impl(core: &str) -> Robj {
    blas::retune(core).into()
}

extendr_module! {
    mod blas_bindings;
    fn blas_core_impl;
    fn blas_retune_impl;
}
