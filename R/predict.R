#' Predict coordinates of new cells with a fitted dp-VAE
#'
#' Encodes cells with the model's encoder (its mean, no sampling), divides by
#' the learned scale and maps the result onto the reference coordinates with
#' the transform fitted on the training cells. The new cells are preprocessed
#' with the training parameters (genes matched by name).
#'
#' @param object A `dpvae_model` from [dpvae_fit()].
#' @param newdata Expression, genes x cells (matrix or `dgCMatrix`), or a
#'   Seurat, SingleCellExperiment or SpatialExperiment object. Missing: the
#'   training cells.
#' @param type `"coords"` (cells x spatial dims) or `"latent"` (encoder
#'   means).
#' @param device `"cpu"`, `"cuda"` or `"auto"`.
#' @param ... For objects: `assay` and `layer` (Seurat) or `assay.type`
#'   (SingleCellExperiment) choosing the expression (default: counts).
#' @return A numeric matrix with one row per cell, named by cell.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' fit <- dpvae_fit(mob$counts, mob$coords, epochs = 100, seed = 1, verbose = FALSE)
#' head(predict(fit, mob$counts))
predict.dpvae_model <- function(object, newdata, type = c("coords", "latent"), device = "cpu", ...) {
  type <- match.arg(type)
  validate_model(object)
  if (missing(newdata)) {
    return(if (type == "coords") object$fitted_coords else object$fitted_latent)
  }
  x <- object_expression(newdata, ...)
  xs <- apply_preprocess(x, object$preprocess)
  res <- rust_result(predict_impl(object$weights, object$config_json, object$frame_json, xs, device))
  out <- if (type == "coords") res$coords else res$latent
  colnames(out) <- if (type == "coords") c("x", "y", "z")[seq_len(ncol(out))] else paste0("latent_", seq_len(ncol(out)))
  rownames(out) <- colnames(x)
  out
}

# A model read from disk or built by hand must look like one before Rust sees it.
validate_model <- function(model, call = rlang_caller()) {
  need <- c("weights", "config_json", "frame_json", "preprocess")
  ok <- inherits(model, "dpvae_model") && all(need %in% names(model)) && is.raw(model$weights) &&
    is.character(model$config_json) && length(model$config_json) == 1L &&
    is.character(model$frame_json) && length(model$frame_json) == 1L &&
    is.list(model$preprocess) && is.character(model$preprocess$genes)
  if (!ok) {
    dpvae_abort(c("This is not a valid {.cls dpvae_model} (fields missing or of the wrong type).",
                  i = "Fit a new one with {.fn dpvae_fit}, or load it with {.fn readRDS} from the file {.fn saveRDS} wrote."),
                kind = "model", call = call)
  }
  invisible(model)
}
