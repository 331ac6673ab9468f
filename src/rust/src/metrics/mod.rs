//! Quality measures of reconstructed coordinates.
pub mod procrustes;
