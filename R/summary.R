#' Summarise a fitted dp-VAE
#'
#' Data, settings, training length, final and best losses, device and time
#' of a `dpvae_model`.
#'
#' @param object A `dpvae_model` from [dpvae_fit()].
#' @param x A `summary.dpvae_model`.
#' @param ... Unused.
#' @return A `summary.dpvae_model` list: `data` (cells, genes, spatial
#'   dimensions, normalisation), `settings` (the training configuration),
#'   `training` (epochs run, best epoch, whether interrupted, scale, device,
#'   seconds), `final` (the last epoch's losses), `best_stress` and
#'   `diverged` (why training failed, or `NULL`).
#' @seealso [plot_history()] for the loss curves.
#' @method summary dpvae_model
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' fit <- dpvae_fit(mob$counts, mob$coords, epochs = 50, seed = 1, verbose = FALSE)
#' summary(fit)
summary.dpvae_model <- function(object, ...) {
  validate_model(object)
  h <- object$history
  last <- if (NROW(h)) as.list(h[nrow(h), intersect(c("loss", "recon", "kl", "dp", "stress"), names(h))]) else list()
  best_stress <- if (isTRUE(object$best_epoch > 0) && "stress" %in% names(h)) h$stress[object$best_epoch] else NA_real_
  cfg <- object$config
  structure(list(
    data = list(cells = length(object$train_cells), genes = length(object$preprocess$genes),
                spatial_dims = object$spatial_dims,
                normalisation = if (isTRUE(object$preprocess$lognorm)) "library size + log1p" else "none (as given)"),
    settings = cfg[intersect(names(cfg), c("hidden", "latent_dim", "lambda", "beta", "alpha", "dp_loss", "epochs",
                                           "lr", "warmup", "patience", "seed", "likelihood", "batch_size"))],
    training = list(epochs_run = object$epochs_run, best_epoch = object$best_epoch,
                    interrupted = isTRUE(object$interrupted), scale = object$scale,
                    device = object$device %||% NA_character_, seconds = object$seconds %||% NA_real_,
                    version = object$version %||% NA_character_),
    final = last,
    best_stress = best_stress,
    diverged = object$diverged
  ), class = "summary.dpvae_model")
}

#' @rdname summary.dpvae_model
#' @method print summary.dpvae_model
#' @export
print.summary.dpvae_model <- function(x, ...) {
  d <- x$data
  t <- x$training
  s <- x$settings
  cat("dp-VAE model (dpvae ", t$version, ")\n", sep = "")
  cat(sprintf("Data:     %d training cells x %d genes, %d-D coordinates; normalisation: %s\n",
              d$cells, d$genes, d$spatial_dims, d$normalisation))
  fmt <- vapply(s, function(v) if (is.numeric(v)) format(v, digits = 4) else as.character(v), character(1))
  cat(strwrap(paste("Settings:", paste(sprintf("%s = %s", names(fmt), fmt), collapse = ", ")),
              width = max(40L, getOption("width")), exdent = 10), sep = "\n")
  cat(sprintf("Training: %d epochs (best %d)%s; device %s; %.1f s\n", t$epochs_run, t$best_epoch,
              if (t$interrupted) ", interrupted by the user" else "", t$device, t$seconds))
  if (length(x$final)) {
    f <- unlist(x$final)
    f <- f[is.finite(f)]
    cat("Final:   ", paste(sprintf("%s %.4f", names(f), f), collapse = ", "), "\n")
  }
  cat(sprintf("Scale c = %.4g; best training stress %s\n", t$scale,
              if (is.finite(x$best_stress)) sprintf("%.4f", x$best_stress) else "n/a (no dp term)"))
  if (!is.null(x$diverged)) cat("WARNING: training diverged (", x$diverged, "); positions are not meaningful.\n", sep = "")
  invisible(x)
}
