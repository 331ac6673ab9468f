//! The only place that sees R types: conversions, conditions, and the `#[extendr]` shims.
pub mod blas;
pub mod conditions;
pub mod convert;
pub mod geometry;
pub mod interrupt;
pub mod metrics;
pub mod threads;
pub mod torch;
pub mod vae;
