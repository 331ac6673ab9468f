#' dpvae: distance-preserving VAEs for spatial reconstruction
#'
#' Reconstructs spatial coordinates of cells from gene expression with the
#' distance-preserving variational autoencoder (dp-VAE) of Zhou and Du (2024).
#' Start with [dpvae_reconstruct()]; [dpvae_fit()] and [predict.dpvae_model()]
#' give finer control, [procrustes_distance()] measures the result.
#'
#' @section Options:
#' Memory and speed of large data sets (defaults in brackets; see the
#' installation vignette, "Memory"):
#' * `dpvae.block_cells` \[10000\]: cells per block in preprocessing,
#'   prediction, imputation and the metrics' reads of on-disk data.
#' * `dpvae.tensor_mb` \[1000\]: above this many MB in single precision, the
#'   training expression is held in half precision (`Inf`: never).
#' * `dpvae.bf16` \[`"auto"`\]: products of expression and weights in
#'   bfloat16 for minibatch fits of at least 256 genes on CPUs with native
#'   bfloat16 (`libtorch_info()$bf16_native`); `TRUE` always, `FALSE` never.
#' * `dpvae.map_locations` \[50000\]: at most this many training cells serve
#'   as the cell -> location map's locations.
#' * `dpvae.crossfit` \[`TRUE`\]: fits of 50-4000 cells without validation
#'   cells refit on folds of their training cells to calibrate the mean
#'   placement's uncertainty (see [dpvae_reconstruct()]); `FALSE` skips it.
#' * `dpvae.metric_block_mb` \[1000\]: memory for each block of genes the
#'   metrics read from a `DelayedArray`.
#' * `dpvae.tune_blas` \[`TRUE`\]: `FALSE` before loading keeps R's OpenBLAS
#'   kernels as they are.
#'
#' @references Zhou W, Du J-H (2024). Distance-Preserving Representations for
#'   Genomic Spatial Reconstruction. arXiv:2408.00911.
#' @keywords internal
#' @useDynLib dpvae, .registration = TRUE
#' @importFrom rlang %||%
#' @importClassesFrom Matrix dgCMatrix
#' @importMethodsFrom Matrix "[" "%*%" t
"_PACKAGE"
utils::globalVariables(".data")

.onLoad <- function(libname, pkgname) {
  threads_record_load_impl()
  tune_blas()
}

.onAttach <- function(libname, pkgname) {
  message <- blas_startup_message()
  if (!is.null(message)) packageStartupMessage(message)
}
