//! dpvae: distance-preserving VAE for spatial reconstruction. This file only registers.
use extendr_api::prelude::*;

pub mod bindings;
pub mod blas;
pub mod error;
pub mod geometry;
pub mod memory;
pub mod metrics;
pub mod rng;
pub mod threads;
pub mod vae;

// extendr_module! wants bare module names; these aliases keep them distinct from the cores.
use bindings::{
    blas as blas_bindings, geometry as geometry_bindings, metrics as metrics_bindings,
    threads as threads_bindings, torch as torch_bindings, vae as vae_bindings,
};

extendr_module! {
    mod dpvae;
    use vae_bindings;
    use metrics_bindings;
    use torch_bindings;
    use geometry_bindings;
    use blas_bindings;
    use threads_bindings;
}
