//! One error type for the whole crate. Each variant maps to an R condition class
//! (`dpvae_error_<kind>`) in `bindings::conditions`, so R users can catch by class.

/// Everything that can go wrong inside the Rust core.
#[derive(Debug, thiserror::Error)]
pub enum DpvaeError {
    /// Bad user input (shapes, NA/Inf, too few cells, ...). Class `dpvae_error_input`.
    #[error("{0}")]
    Input(String),
    /// Training diverged or could not proceed. Class `dpvae_error_training`.
    #[error("{0}")]
    Training(String),
    /// A stored model could not be read. Class `dpvae_error_model`.
    #[error("{0}")]
    Model(String),
    /// libtorch itself failed (device, allocation). Class `dpvae_error_libtorch`.
    #[error("{0}")]
    Libtorch(String),
    /// A numerical routine failed (SVD did not converge, ...). Class `dpvae_error_numeric`.
    #[error("{0}")]
    Numeric(String),
    /// The user pressed Ctrl-C. Class `dpvae_error_interrupt`.
    #[error("interrupted by the user")]
    Interrupted,
}

impl DpvaeError {
    /// The suffix of the R condition class, `dpvae_error_<kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            DpvaeError::Input(_) => "input",
            DpvaeError::Training(_) => "training",
            DpvaeError::Model(_) => "model",
            DpvaeError::Libtorch(_) => "libtorch",
            DpvaeError::Numeric(_) => "numeric",
            DpvaeError::Interrupted => "interrupt",
        }
    }
}

impl From<tch::TchError> for DpvaeError {
    fn from(e: tch::TchError) -> Self {
        DpvaeError::Libtorch(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, DpvaeError>;
