# Forked workers (parallel::mclapply(), BiocParallel's MulticoreParam) inherit libtorch's, OpenBLAS's and
# rayon's thread pools without their threads: a parallel region there waits forever. Each verb calls
# fork_guard() first; in a forked child it puts every pool on one thread (src/rust/src/threads.rs), so the
# child works (on one thread each, which is what several workers want anyway) instead of hanging.
fork_guard <- function() invisible(threads_after_fork_impl())
