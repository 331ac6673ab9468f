//! The dp-VAE: network, losses, training, persistence and the coordinate frame.
pub mod checkpoint;
pub mod config;
pub mod fit;
pub mod frame;
pub mod loss;
pub mod model;
pub mod train;
