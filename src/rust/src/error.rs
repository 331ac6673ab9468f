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
        DpvaeError::Libtorch(libtorch_message(&e.to_string()))
    }
}

/// A libtorch exception as a user reads it: its first lines without the C++ backtrace (several KB of
/// "frame #" lines), and for a failed allocation what to change.
pub fn libtorch_message(raw: &str) -> String {
    let cut = ["Exception raised from", "frame #0"]
        .iter()
        .filter_map(|m| raw.find(m))
        .min()
        .unwrap_or(raw.len());
    let mut head = raw[..cut].trim();
    // tch's Debug form escapes the newlines: "...bytes.\\nException raised from..."
    while let Some(rest) = head.strip_suffix("\\n") {
        head = rest.trim_end();
    }
    let mut msg: String = head.chars().take(500).collect();
    if msg.is_empty() {
        msg = "libtorch failed without a message".into();
    }
    if raw.contains("not enough memory") || raw.contains("out of memory") {
        msg.push_str(
            " (memory: train with minibatches, e.g. batch_size = 1024, or on fewer genes, n_genes)",
        );
    }
    msg
}

pub type Result<T> = std::result::Result<T, DpvaeError>;

/// An input error at the first NA, NaN or Inf of `a` (`what` names it in the message, e.g. "`coords`").
pub fn check_finite(a: ndarray::ArrayView2<f64>, what: &str) -> Result<()> {
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((i, j), v)) => Err(DpvaeError::Input(format!(
            "{what} contains {v} (first at row {}, column {}); remove or impute those values",
            i + 1,
            j + 1
        ))),
        None => Ok(()),
    }
}

/// Runs `f`; a panic (an invariant broken inside tch or libtorch) becomes a `Libtorch` error,
/// so R gets a classed condition rather than extendr's plain one.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .map(|m| libtorch_message(&m))
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

    #[test]
    fn libtorch_backtraces_are_cut() {
        let raw = "Torch(\"[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you tried to allocate 40 bytes.\\nException raised from alloc_cpu at x.cpp:1 (most recent call first):\\nframe #0: c10::Error\\nframe #1: more\")";
        let msg = libtorch_message(raw);
        assert!(msg.contains("not enough memory"), "{msg}");
        assert!(!msg.contains("frame #"), "{msg}");
        assert!(!msg.contains("Exception raised"), "{msg}");
        assert!(msg.contains("batch_size"), "{msg}");
        assert_eq!(libtorch_message("plain"), "plain");
    }
}
