#' Plot measured and reconstructed coordinates side by side
#'
#' @param coords Measured coordinates (cells x 2 matrix or data frame).
#' @param reconstructed Reconstructed coordinates, same cells and order.
#' @param color Optional vector (one value per cell) to colour by, e.g. a
#'   region or cluster label, or a gene's expression.
#' @param color_name Legend title.
#' @param align Show both configurations standardised and Procrustes-aligned
#'   instead of in the measured coordinates' units (use it for
#'   reconstructions that are only defined up to rotation).
#' @return A ggplot object (needs the ggplot2 package), with the Procrustes
#'   distance in the subtitle.
#' @export
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   mob <- dpvae_example_data()
#'   res <- dpvae_reconstruct(mob$counts, coords = mob$coords, epochs = 100, seed = 1, verbose = FALSE)
#'   plot_reconstruction(mob$coords, res[, c("dpvae_x", "dpvae_y")], color = mob$region)
#' }
plot_reconstruction <- function(coords, reconstructed, color = NULL, color_name = "region", align = FALSE) {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    dpvae_abort("Plotting needs the {.pkg ggplot2} package: {.code install.packages(\"ggplot2\")}.", kind = "dependency")
  }
  a <- as_numeric_matrix(coords, "coords")
  b <- as_numeric_matrix(reconstructed, "reconstructed")
  if (!identical(dim(a), dim(b)) || ncol(a) < 2L) {
    dpvae_abort("{.arg coords} and {.arg reconstructed} must have the same shape (cells x 2 or 3).")
  }
  ok <- stats::complete.cases(a) & stats::complete.cases(b)
  disp <- procrustes_distance(a[ok, , drop = FALSE], b[ok, , drop = FALSE], aligned = TRUE)
  # dpvae predictions are already in the reference frame; other inputs may need aligning.
  panel <- function(m, what) data.frame(x = m[, 1], y = m[, 2], panel = what)
  second <- if (align) "reconstructed (aligned)" else "reconstructed"
  df <- if (align) rbind(panel(disp$x, "measured"), panel(disp$y, second))
        else rbind(panel(a[ok, , drop = FALSE], "measured"), panel(b[ok, , drop = FALSE], second))
  df$panel <- factor(df$panel, levels = c("measured", second))
  if (!is.null(color)) df$color <- rep(color[ok], 2L)
  aes <- if (is.null(color)) ggplot2::aes(.data$x, .data$y) else ggplot2::aes(.data$x, .data$y, colour = .data$color)
  ggplot2::ggplot(df, aes) +
    ggplot2::geom_point(size = 1.6) +
    ggplot2::facet_wrap(~panel) +
    ggplot2::coord_equal() +
    ggplot2::labs(x = NULL, y = NULL, colour = color_name,
                  subtitle = sprintf("Procrustes distance %.3f (%d cells)", disp$disparity, sum(ok))) +
    ggplot2::theme_bw()
}
