#' dpvae: distance-preserving VAEs for spatial reconstruction
#'
#' Reconstructs spatial coordinates of cells from gene expression with the
#' distance-preserving variational autoencoder (dp-VAE) of Zhou and Du (2024).
#' Start with [dpvae_reconstruct()]; [dpvae_fit()] and [predict.dpvae_model()]
#' give finer control, [procrustes_distance()] measures the result.
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
