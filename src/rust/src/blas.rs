//! R's BLAS as seen by libtorch. Inside R, libtorch's GEMMs call `sgemm_`, and the dynamic linker resolves it
//! to the BLAS R loaded first (its MKL copy is interposed). Debian's OpenBLAS picks kernels from the CPU
//! model and falls back to generic "Prescott" kernels on virtual CPUs it does not recognise: a DGEMM 6-7x and a
//! dp-VAE epoch 3x slower (issue 12, bench/RESULTS-speed.md). OpenBLAS built with DYNAMIC_ARCH can re-select
//! its kernels at run time; `retune()` does that when the CPU supports better ones than those chosen.
use std::ffi::{c_char, c_void, CStr, CString};

/// Kernels OpenBLAS chooses only as a fallback on an x86-64 CPU with AVX2.
const GENERIC_CORES: &[&str] = &[
    "prescott",
    "core2",
    "penryn",
    "dunnington",
    "nehalem",
    "atom",
    "katmai",
    "coppermine",
    "northwood",
    "banias",
    "sandybridge",
    "unknown",
];

#[cfg(target_os = "linux")]
extern "C" {
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// Address of a symbol anywhere in the process (glibc's RTLD_DEFAULT is the null handle).
#[cfg(target_os = "linux")]
fn symbol(name: &str) -> Option<*mut c_void> {
    let name = CString::new(name).ok()?;
    // SAFETY: dlsym with RTLD_DEFAULT only reads the loaded objects' symbol tables.
    let address = unsafe { dlsym(std::ptr::null_mut(), name.as_ptr()) };
    (!address.is_null()).then_some(address)
}

#[cfg(not(target_os = "linux"))]
fn symbol(_name: &str) -> Option<*mut c_void> {
    None
}

/// The kernel family OpenBLAS uses, or None when R's BLAS is not OpenBLAS.
pub fn openblas_core() -> Option<String> {
    let address = symbol("openblas_get_corename")?;
    // SAFETY: OpenBLAS declares `char *openblas_get_corename(void)`, returning a static string.
    let corename: extern "C" fn() -> *const c_char = unsafe { std::mem::transmute(address) };
    let name = corename();
    if name.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated static string owned by OpenBLAS.
    Some(
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// The best OpenBLAS kernel family this CPU runs (x86-64 only).
pub fn suited_core() -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512cd");
        if avx512 {
            return Some("SkylakeX");
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Some("Haswell");
        }
    }
    None
}

/// Whether OpenBLAS runs generic kernels although the CPU supports `suited_core()`.
pub fn is_generic(core: &str) -> bool {
    suited_core().is_some() && GENERIC_CORES.contains(&core.to_ascii_lowercase().as_str())
}

/// Switch OpenBLAS to `core`'s kernels: what OPENBLAS_CORETYPE does at start-up, redone at run time by
/// OpenBLAS's own dynamic-dispatch entry points. Returns the kernel family in use afterwards, or None when
/// this OpenBLAS cannot switch (not built with DYNAMIC_ARCH). Call it while no BLAS routine runs.
pub fn retune(core: &str) -> Option<String> {
    let quit = symbol("gotoblas_dynamic_quit")?;
    let init = symbol("gotoblas_dynamic_init")?;
    openblas_core()?;
    std::env::set_var("OPENBLAS_CORETYPE", core);
    // SAFETY: both are `void f(void)` in OpenBLAS's dynamic.c; quit clears the kernel table and init selects
    // the one named by OPENBLAS_CORETYPE (its buffers are sized for every kernel of a DYNAMIC_ARCH build).
    unsafe {
        let quit: extern "C" fn() = std::mem::transmute(quit);
        let init: extern "C" fn() = std::mem::transmute(init);
        quit();
        init();
    }
    openblas_core()
}

/// Set the threads of R's OpenBLAS (no-op for another BLAS).
pub fn set_threads(n: i32) {
    if let Some(address) = symbol("openblas_set_num_threads") {
        // SAFETY: OpenBLAS declares `void openblas_set_num_threads(int)`.
        let set: extern "C" fn(i32) = unsafe { std::mem::transmute(address) };
        set(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_cores_are_recognised_only_when_better_ones_run() {
        let generic = is_generic("Prescott");
        assert_eq!(generic, suited_core().is_some());
        assert!(!is_generic("SkylakeX"));
        assert!(!is_generic("Haswell"));
    }
}
