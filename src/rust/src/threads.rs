//! Thread pools that survive fork(). R's `parallel::mclapply()` and BiocParallel's MulticoreParam fork the R
//! process; the child inherits libtorch's and OpenBLAS's OpenMP pools and rayon's global pool without their
//! threads, and the first parallel region waits for them forever. A child is recognised by its process id
//! (recorded when the package loads); in it, work runs on one thread: OpenMP regions of one thread and a
//! rayon pool made of the calling thread need no pool threads.
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{DpvaeError, Result};

/// Process id at load time (0 = never recorded, e.g. in Rust tests: nothing counts as forked).
static LOAD_PID: AtomicU32 = AtomicU32::new(0);
/// The process whose pools were last made single-threaded.
static SINGLE_THREADED_PID: AtomicU32 = AtomicU32::new(0);

/// Remember this process as the one that loaded the package.
pub fn record_load() {
    let _ = LOAD_PID.compare_exchange(0, std::process::id(), Ordering::SeqCst, Ordering::SeqCst);
}

/// Whether this process is a fork of the one that loaded the package.
pub fn forked() -> bool {
    let load = LOAD_PID.load(Ordering::SeqCst);
    load != 0 && load != std::process::id()
}

/// Threads to use for a request (0 = the library's default): one in a forked child.
pub fn usable(requested: usize) -> usize {
    if forked() {
        1
    } else {
        requested
    }
}

#[cfg(target_os = "linux")]
extern "C" {
    fn omp_set_num_threads(n: i32);
}

/// In a forked child, once: libtorch, OpenMP and R's OpenBLAS on one thread, and rayon's work on the calling
/// thread (a one-thread pool that is this thread, kept for the life of the process). Returns whether this
/// process is a forked child.
pub fn single_thread_if_forked() -> bool {
    if !forked() {
        return false;
    }
    let pid = std::process::id();
    if SINGLE_THREADED_PID.swap(pid, Ordering::SeqCst) == pid {
        return true;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: sets the calling thread's OpenMP thread-count variable; starts no threads.
    unsafe {
        omp_set_num_threads(1)
    };
    tch::set_num_threads(1);
    crate::blas::set_threads(1);
    if let Ok(pool) = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build()
    {
        // The calling thread stays registered in this pool only while the pool lives.
        Box::leak(Box::new(pool));
    }
    true
}

/// Run `f` in a fresh pool of `threads` threads (0 = rayon's default size; one in a forked child).
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    let threads = usable(threads);
    if threads > 0 {
        builder = builder.num_threads(threads);
    }
    let pool = builder
        .build()
        .map_err(|e| DpvaeError::Numeric(format!("could not start a thread pool: {e}")))?;
    pool.install(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loading_process_is_not_a_fork() {
        record_load();
        assert!(!forked());
        assert_eq!(usable(3), 3);
        assert!(!single_thread_if_forked());
        assert_eq!(in_pool(2, || Ok(rayon::current_num_threads())).unwrap(), 2);
    }
}
