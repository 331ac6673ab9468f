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

/// Runs `f`; a panic (an invariant broken inside tch or libtorch) becomes a `Libtorch` error,
/// so R gets a classed condition rather than extendr's plain one.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown cause".into());
        Err(DpvaeError::Libtorch(format!(
            "internal error in the Rust/libtorch core ({what}); please report it with the call that caused it"
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_classed_error() {
        let r: Result<()> = catch_panic(|| {
            // a shape error inside tch panics
            let a = tch::Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu));
            let _ = a.matmul(&a);
            Ok(())
        });
        let e = r.expect_err("the panic must be caught");
        assert_eq!(e.kind(), "libtorch");
        assert!(e.to_string().contains("internal error"), "{e}");
        assert_eq!(catch_panic(|| Ok(3)).ok(), Some(3));
    }
}
