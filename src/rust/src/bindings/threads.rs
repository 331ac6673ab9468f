//! Fork-safe thread pools (see `crate::threads`).
use extendr_api::prelude::*;

/// Called when the package loads: remembers this process, so that forked children are recognised.
/// @noRd
#[extendr]
fn threads_record_load_impl() {
    crate::threads::record_load();
}

/// At the start of each verb: in a forked child, every pool on one thread. Returns whether forked.
/// @noRd
#[extendr]
fn threads_after_fork_impl() -> bool {
    crate::threads::single_thread_if_forked()
}

extendr_module! {
    mod threads_bindings;
    fn threads_record_load_impl;
    fn threads_after_fork_impl;
}
