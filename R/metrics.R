#' Procrustes distance between two configurations
#'
#' The normalised Procrustes disparity, identical to
#' `scipy.spatial.procrustes(x, y)[2]`: both configurations are centred and
#' scaled to unit Frobenius norm, `y` is rotated (reflections allowed) and
#' scaled onto `x`, and the sum of squared differences is returned. 0 means
#' identical up to a similarity transform; about 1 means unrelated.
#'
#' @param x,y Numeric matrices or data frames with the same shape (points x
#'   dimensions), e.g. true and reconstructed coordinates.
#' @param aligned Return the standardised `x` and aligned `y` too.
#' @return The disparity, or with `aligned = TRUE` a list with `disparity`,
#'   `x` and `y`.
#' @export
#' @examples
#' x <- cbind(c(1, 1, 1, 2), c(3, 2, 1, 1))
#' y <- cbind(c(4, 4, 4, 2), c(-2, -4, -6, -6))
#' procrustes_distance(x, y)          # 0: y is x rotated and scaled
#' procrustes_distance(x, y[4:1, ])   # > 0
procrustes_distance <- function(x, y, aligned = FALSE) {
  x <- as_numeric_matrix(x, "x")
  y <- as_numeric_matrix(y, "y")
  res <- rust_result(procrustes_impl(x, y))
  if (aligned) res else res$disparity
}

as_numeric_matrix <- function(x, name, call = rlang_caller()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!is.matrix(x) || !is.numeric(x)) {
    dpvae_abort("{.arg {name}} must be a numeric matrix or data frame, not {.cls {class(x)}}.", call = call)
  }
  storage.mode(x) <- "double"
  x
}
