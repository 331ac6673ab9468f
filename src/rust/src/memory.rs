//! Handing freed memory back to the system after a large fit or prediction. glibc keeps freed
//! blocks of its heaps for reuse; after a fit that streamed a million cells through minibatches
//! the R process kept gigabytes it no longer used (bench/RESULTS-scale.md).

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

/// Returns the free parts of the C heap to the system (glibc; a no-op elsewhere).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that is free; it has no preconditions.
    unsafe {
        malloc_trim(0);
    }
}
