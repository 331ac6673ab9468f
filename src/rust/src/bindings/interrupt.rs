//! Ctrl-C: extendr 0.9 has no helper, so use the C idiom — run R_CheckUserInterrupt inside
//! R_ToplevelExec, which returns FALSE when R wanted to jump (the user interrupted).
use std::os::raw::{c_int, c_void};

extern "C" {
    fn R_ToplevelExec(fun: Option<unsafe extern "C" fn(*mut c_void)>, data: *mut c_void) -> c_int;
    fn R_CheckUserInterrupt();
}

unsafe extern "C" fn check(_: *mut c_void) {
    R_CheckUserInterrupt();
}

/// True when the user pressed Ctrl-C since the last check.
pub fn interrupted() -> bool {
    // SAFETY: called on R's main thread from an .Call entry point; R_ToplevelExec catches
    // the jump so it never crosses Rust frames.
    unsafe { R_ToplevelExec(Some(check), std::ptr::null_mut()) == 0 }
}
