#' Which libtorch dpvae uses
#'
#' Reports the libtorch version and folder this installation was linked
#' against, whether CUDA devices are visible, and the number of threads
#' libtorch uses. Set the threads for one call with `num.threads` in
#' [dpvae_fit()], or here for the session.
#'
#' @param num.threads If given, set libtorch's intra-op threads to this
#'   number first.
#' @return A list with `version`, `path`, `cuda_available`,
#'   `cuda_device_count`, `devices`, `threads` and `interop_threads`.
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
  c(list(version = "2.13.0", path = path),
    info[c("cuda_available", "cuda_device_count")],
    list(devices = c("cpu", if (info$cuda_available) paste0("cuda:", seq_len(info$cuda_device_count) - 1L))),
    info[c("threads", "interop_threads")])
}

# The folder of the libtorch_cpu.so actually loaded into this process.
libtorch_path <- function() {
  maps <- tryCatch(readLines("/proc/self/maps", warn = FALSE), error = function(e) character())
  hit <- grep("libtorch_cpu\\.so", maps, value = TRUE)
  if (!length(hit)) return(NA_character_)
  dirname(dirname(sub("^.*\\s(/\\S*libtorch_cpu\\.so)$", "\\1", hit[[1]])))
}
