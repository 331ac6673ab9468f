//! Rust errors become a small R list of class `dpvae_rust_error`; the R side turns it into a
//! classed condition (`dpvae_error_<kind>`). Returning instead of raising keeps R's longjmp
//! away from Rust frames.
use extendr_api::prelude::*;

use crate::error::{catch_panic, DpvaeError, Result};

/// The value R receives: the result, or an error record the R glue re-raises.
fn to_robj(res: Result<Robj>) -> Robj {
    match res {
        Ok(v) => v,
        Err(e) => error_record(&e),
    }
}

/// A binding's body, run with panics caught (see `catch_panic`).
pub fn guarded(f: impl FnOnce() -> Result<Robj>) -> Robj {
    to_robj(catch_panic(f))
}

fn error_record(e: &DpvaeError) -> Robj {
    let rec = list!(kind = e.kind(), message = e.to_string());
    let mut robj: Robj = rec.into();
    // Setting the class of a fresh list cannot fail.
    let _ = robj.set_class(["dpvae_rust_error"]);
    robj
}
