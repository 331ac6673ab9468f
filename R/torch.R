#' Which libtorch dpvae uses
#'
#' Reports the libtorch version and folder this installation was linked
#' against, whether CUDA devices are visible, and the number of threads
#' libtorch uses. Set the threads for one call with `num.threads` in
#' [dpvae_fit()], or here for the session.
#'
#' @param num.threads If given, set libtorch's intra-op threads to this
#'   number first.
#' @return A list with `version` (read from the linked libtorch's `build-version`
#'   or `VERSION` file), `path`, `cuda_available`, `cuda_device_count`,
#'   `devices`, `threads`, `interop_threads`, `bf16_native` (whether this CPU
#'   has native bfloat16 arithmetic, used for minibatch fits: see
#'   `batch_size` in [dpvae_fit()]), and R's BLAS, which runs
#'   libtorch's matrix products inside R: `blas_core` (OpenBLAS's kernel
#'   family, `NA` for another BLAS) and `blas_retuned_from` (the generic
#'   kernels dpvae switched away from when it was loaded, else `NA`).
#' @export
#' @examples
#' libtorch_info()
libtorch_info <- function(num.threads = NULL) {
  if (!is.null(num.threads)) {
    check_number(num.threads, "num.threads", min = 1, integer = TRUE)
    set_threads_impl(as.integer(num.threads))
  }
  info <- libtorch_info_impl()
  path <- libtorch_path()
  c(list(version = libtorch_version(path), path = path),
    info[c("cuda_available", "cuda_device_count")],
    list(devices = c("cpu", if (info$cuda_available) paste0("cuda:", seq_len(info$cuda_device_count) - 1L))),
    info[c("threads", "interop_threads", "bf16_native")], blas_report())
}

# The version written in a libtorch folder (`build-version` in official archives, `VERSION` in Python wheels).
libtorch_version <- function(path) {
  if (is.na(path)) return(NA_character_)
  for (file in c("build-version", "VERSION")) {
    f <- file.path(path, file)
    if (file.exists(f)) return(trimws(readLines(f, n = 1L, warn = FALSE)))
  }
  NA_character_
}

# The folder of the libtorch_cpu.so actually loaded into this process.
libtorch_path <- function() {
  maps <- tryCatch(readLines("/proc/self/maps", warn = FALSE), error = function(e) character())
  hit <- grep("libtorch_cpu\\.so", maps, value = TRUE)
  if (!length(hit)) return(NA_character_)
  dirname(dirname(sub("^.*\\s(/\\S*libtorch_cpu\\.so)$", "\\1", hit[[1]])))
}
