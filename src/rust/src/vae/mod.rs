//! The dp-VAE: network, likelihoods, losses, pair masks, training, persistence and the
//! coordinate frame.
pub mod checkpoint;
pub mod config;
pub mod dp_term;
pub mod dpkernel;
pub mod early_stop;
pub mod encoder;
pub mod fit;
pub mod fit_rows;
pub mod frame;
pub mod gaussian_fused;
pub mod likelihood;
pub mod loss;
pub mod model;
pub mod monitor;
pub mod pairs;
pub mod train;
