#' Predict coordinates of new cells with a fitted dp-VAE
#'
#' Encodes cells with the model's encoder (its mean, no sampling), divides by
#' the learned scale and maps the result onto the reference coordinates with
#' the transform fitted on the training cells. The new cells are preprocessed
#' with the training parameters (genes matched by name).
#'
#' @param object A `dpvae_model` from [dpvae_fit()].
#' @param newdata Expression, genes x cells (matrix, `dgCMatrix` or on-disk
#'   `DelayedMatrix`, read in blocks), or a
#'   Seurat, SingleCellExperiment or SpatialExperiment object. Missing: the
#'   training cells.
#' @param type `"coords"` (cells x spatial dims), `"latent"` (encoder
#'   means), `"map"` (a sparse cells x training-cells matrix whose rows sum to
#'   1: the cell -> location map of [dpvae_reconstruct()], see
#'   [project_genes()]) or `"outlier"` (the out-of-reference
#'   score of [dpvae_reconstruct()]: higher for cells unlike the reference
#'   but like other cells of `newdata`).
#' @param n_samples Draw this many latent samples per cell from q(z|x) and
#'   report the spread of the resulting positions (root mean squared distance
#'   to the encoder-mean position, in the reference's units) as
#'   `attr(, "uncertainty")`. 0 skips it.
#' @param seed Seed for the samples (default from R's RNG).
#' @param device `"cpu"`, `"cuda"` or `"auto"`.
#' @param num.threads libtorch threads for this call (default: as set, see
#'   [libtorch_info()]). In a forked worker (e.g. [parallel::mclapply()])
#'   dpvae always uses one thread: more would hang in OpenMP.
#' @param BPPARAM `NULL` (serial) or a BiocParallel parameter object
#'   (`MulticoreParam()`, `SnowParam()`, `BatchtoolsParam()`): cells are
#'   encoded in blocks of `getOption("dpvae.block_cells", 10000)` and the
#'   blocks go to its workers. Blocks never depend on the workers, so the
#'   result is the same serially and in parallel (latent samples of block
#'   `b` use seed `seed + b - 1`). Only the blocks' dense expression is held
#'   in memory at once.
#' @param ... For objects: `assay` and `layer` (Seurat) or `assay.type`
#'   (SingleCellExperiment) choosing the expression (default: counts).
#' @return A numeric matrix with one row per cell, named by cell; with
#'   `n_samples > 0` it carries `attr(, "uncertainty")`.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' fit <- dpvae_fit(mob$counts, mob$coords, epochs = 100, seed = 1, verbose = FALSE)
#' head(predict(fit, mob$counts))
predict.dpvae_model <- function(object, newdata, type = c("coords", "latent", "map", "outlier"), n_samples = 0,
                                seed = NULL, device = "cpu", num.threads = NULL, BPPARAM = NULL, ...) {
  fork_guard()
  type <- check_choice(type, "type")
  if (!is.null(num.threads)) check_number(num.threads, "num.threads", min = 1, integer = TRUE)
  check_bpparam(BPPARAM)
  validate_model(object)
  if (missing(newdata) && n_samples == 0 && type %in% c("coords", "latent")) {
    return(if (type == "coords") object$fitted_coords else object$fitted_latent)
  }
  if (missing(newdata) && type %in% c("map", "outlier")) dpvae_abort("Give {.arg newdata}: the cells to map.")
  if (missing(newdata)) dpvae_abort("Give {.arg newdata} to draw samples.")
  x <- object_expression(newdata, ...)
  if (type %in% c("map", "outlier")) { # expression profiles only: no encoding
    mapped <- map_cells(object, x)
    return(if (type == "map") mapped$map else mapped$outlier_score)
  }
  res <- encode_cells(object, x, n_samples = n_samples, seed = seed, device = device, num.threads = num.threads,
                      BPPARAM = BPPARAM)
  out <- if (type == "coords") res$coords else res$latent
  if (!is.null(res$uncertainty)) attr(out, "uncertainty") <- stats::setNames(res$uncertainty, colnames(x))
  out
}

# The model's encoder on cells of `x` (genes x cells): latent, coords (and uncertainty), named. Cells go in
# blocks (R/blocks.R), serially or to BiocParallel workers.
encode_cells <- function(model, x, n_samples = 0, seed = NULL, device = "cpu", num.threads = NULL,
                         BPPARAM = NULL, call = rlang::caller_call()) {
  check_number(n_samples, "n_samples", min = 0, integer = TRUE, call = call)
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L)
  check_new_expression(x, model$preprocess, call = call)
  options <- list(n_samples = as.integer(n_samples), seed = floor(abs(as.numeric(seed))),
                  num_threads = as.integer(num.threads %||% 0L))
  # loaded once (which also checks the weights and the device before any work); BiocParallel workers
  # cannot share it (an external pointer) and load their own
  encoder <- load_encoder(model, device, call = call)
  if (!is.null(BPPARAM)) encoder <- NULL
  parts <- over_cell_blocks(x, encode_block, model = model, device = device, options = options,
                            encoder = encoder, BPPARAM = BPPARAM, call = call)
  res <- list(coords = do.call(rbind, lapply(parts, `[[`, "coords")),
              latent = do.call(rbind, lapply(parts, `[[`, "latent")),
              uncertainty = if (n_samples > 0) unlist(lapply(parts, `[[`, "uncertainty")))
  dimnames(res$coords) <- list(colnames(x), c("x", "y", "z")[seq_len(ncol(res$coords))])
  dimnames(res$latent) <- list(colnames(x), paste0("latent_", seq_len(ncol(res$latent))))
  res
}

# The model's weights loaded (checksum checked) and its frame parsed: a handle valid in this process only.
load_encoder <- function(model, device, call = rlang::caller_call()) {
  rust_result(encoder_impl(model$weights, model$config_json, model$frame_json, device), call = call)
}

# One block of cells through the encoder (in a worker too, which loads its own `encoder`): block b draws its
# samples from seed + b - 1.
encode_block <- function(xb, b, model, device, options, encoder = NULL) {
  fork_guard()
  encoder <- encoder %||% load_encoder(model, device)
  xs <- transform_expression(xb, model$preprocess)
  options$seed <- (options$seed + b - 1) %% 2^52
  rust_result(predict_impl(encoder, xs, as_json(options)))
}

# Gene means and sds (one per gene) and the target sum: finite numbers, or the positions would be NaN.
stored_numbers_ok <- function(values, n_genes) {
  is.numeric(values$mean) && is.numeric(values$sd) && length(values$mean) == n_genes &&
    length(values$sd) == n_genes && all(is.finite(unlist(values))) && all(values$sd >= 0)
}

# A model read from disk or built by hand must look like one before Rust sees it.
validate_model <- function(model, call = rlang::caller_call()) {
  need <- c("weights", "config_json", "frame_json", "preprocess")
  ok <- inherits(model, "dpvae_model") && all(need %in% names(model)) && is.raw(model$weights) &&
    is.character(model$config_json) && length(model$config_json) == 1L &&
    is.character(model$frame_json) && length(model$frame_json) == 1L &&
    is.list(model$preprocess) && is.character(model$preprocess$genes) &&
    stored_numbers_ok(model$preprocess[c("mean", "sd", "target_sum")], length(model$preprocess$genes))
  if (!ok) {
    dpvae_abort(c("This is not a valid {.cls dpvae_model} (fields missing or of the wrong type).",
                  i = "Fit a new one with {.fn dpvae_fit}, or load it with {.fn readRDS} from the file {.fn saveRDS} wrote."),
                kind = "model", call = call)
  }
  invisible(model)
}
