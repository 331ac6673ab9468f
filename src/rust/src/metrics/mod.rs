//! Quality measures of reconstructed coordinates and spatial statistics of expression.
pub mod autocorrelation;
pub mod correlation;
pub mod distortion;
pub mod knn;
pub mod pairs;
pub mod procrustes;
pub mod weights;
