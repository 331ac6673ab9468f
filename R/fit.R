#' Fit a distance-preserving VAE
#'
#' Trains a dp-VAE (Zhou and Du, 2024) on spatial transcriptomics: an MLP
#' variational autoencoder whose loss adds `lambda` times the mean squared
#' difference between pairwise latent distances and `c` times pairwise spatial
#' distances, with the scale `c` learned. The latent is 8-dimensional by
#' default; coordinates are read from its top principal axes (classical MDS
#' of the latent distances), divided by `c` and mapped onto the reference
#' coordinates by a similarity transform fitted on the training cells. With
#' `latent_dim` equal to the number of spatial dimensions the encoder mean
#' itself is the position.
#'
#' The reconstruction and KL terms are divided by the number of genes, so
#' `lambda` means the same whatever the gene count, and coordinates are
#' standardised (centred, one isotropic scale), so it does not depend on the
#' coordinate units either. `lambda = 0` gives the plain VAE baseline.
#'
#' @param x Expression, genes x cells: a matrix, `dgCMatrix` or on-disk
#'   `DelayedMatrix` (e.g. HDF5-backed; read in blocks of cells, never whole)
#'   of raw counts (log-normalised internally) or of normalised values; or a
#'   Seurat, SingleCellExperiment or SpatialExperiment object.
#' @param coords Spatial coordinates, a cells x 2 or 3 numeric matrix (row
#'   names matched to cells when present). For Seurat objects, meta.data
#'   column names or `NULL` to find them. Cells whose row is `NA` are not used
#'   for training.
#' @param ... Passed on to methods.
#' @param n_genes Number of highly variable genes used.
#' @param normalize `"auto"` (log-normalise when `x` holds counts),
#'   `"lognorm"` or `"none"`.
#' @param hidden Units of the hidden layer of encoder and decoder.
#' @param latent_dim Latent dimensions, at least the spatial dimensions.
#'   `NULL` means 8: on held-out cells of all 16 benchmark sets a wider
#'   latent was as good as or better than a 2-/3-D one, most on single-cell
#'   sets with few genes (MERFISH 0.82 vs 0.89 test error, STARmap 0.63 vs
#'   0.68; `bench/RESULTS-accuracy.md`). Coordinates are read from the top
#'   principal axes of the latent means.
#' @param likelihood `"gaussian"` on log-normalised standardised genes (the
#'   paper's experiments), or `"nb"` / `"zinb"` (negative binomial, zero-
#'   inflated) on raw counts with the library size as offset and per-gene
#'   dispersion (the paper's dp-scVI).
#' @param mask Which pairs enter the distance-preserving term: `NULL` (all
#'   pairs), `"knn"` (union of each cell's `k` nearest spatial neighbours), a
#'   vector of group labels, one per cell (only pairs within a group, e.g. one
#'   tissue section), or a two-column matrix of cell indices / a cells x cells
#'   sparse matrix whose non-zeros are the pairs.
#' @param k Neighbours for `mask = "knn"`.
#' @param batch_size Cells per minibatch; `NULL` chooses full batch up to
#'   4000 training cells and 1024 above (memory then grows linearly with
#'   cells: the dp term uses the pairs inside each batch, or each batch's share
#'   of the mask's pairs). The training expression is held in single
#'   precision up to `options(dpvae.tensor_mb = 1000)` MB (500,000 cells at
#'   500 genes) and in half precision above, which halves the fit's largest
#'   allocation (`Inf`: never); `predict()` rounds new cells the same way.
#'   Minibatch fits of at least 256 genes on a CPU with native bfloat16
#'   arithmetic (AVX512-BF16 or AMX) multiply each batch's expression by the
#'   weights in bfloat16 with single-precision sums, which takes 15-35 % off
#'   an epoch with the same held-out accuracy; coordinates are still computed
#'   in double precision. `options(dpvae.bf16 = FALSE)` turns it off, `TRUE` uses it for
#'   every fit, `"auto"` (the default) as described.
#' @param validation Fraction of the training cells held out to choose the
#'   best epoch (by their stress); 0 uses the training cells' stress. `NULL`
#'   holds out 10 % above 2000 training cells and none below: on the large
#'   single-cell sets of the benchmark the training stress keeps falling while
#'   held-out cells get worse (osmFISH test error 0.70 without, 0.57 with), on
#'   small sets the held-out cells are missed more than the signal helps
#'   (`bench/RESULTS-accuracy.md`). The validation cells also calibrate the
#'   uncertainty of the mean placement; without them a cross-fit does (see
#'   [dpvae_reconstruct()], "Positional uncertainty").
#' @param scale A fixed scale `c` instead of a learned one.
#' @param lambda Weight of the distance-preserving term (0 = plain VAE). The
#'   default, 10, was chosen on held-out cells of the shared benchmark sets
#'   (`bench/RESULTS-accuracy.md`): test error is flat for `lambda` between 3
#'   and 100 and rises below 1, where sets with few genes stop fitting the
#'   training coordinates.
#' @param beta Weight of the KL term.
#' @param alpha Weight of the reconstruction term.
#' @param dp_loss `"squared"` (the paper's) or `"absolute"` difference of
#'   distances.
#' @param dp_latent Which latent value enters the distance-preserving term:
#'   `"mean"` (the encoder mean) or `"sample"` (the reparameterised sample, as
#'   the public reproduction).
#' @param epochs Maximum number of epochs (passes over the training cells).
#' @param lr Adam learning rate.
#' @param warmup Epochs trained without the distance-preserving term. `NULL`:
#'   50, or fewer with many minibatches, so that warm-up takes at most about
#'   1,250 optimiser steps (at least 5 epochs); fits of up to ~28,000
#'   training cells keep 50.
#' @param patience Stop after this many epochs without a better stress (0 =
#'   never stop early). The state with the lowest stress is kept. `NULL`: 100,
#'   or fewer with many minibatches, so that waiting takes at most about 2,500
#'   optimiser steps (at least 10 epochs): at 100,000 cells an epoch is 88
#'   steps, and minibatch fits stop improving within ~15 epochs of the
#'   warm-up's end. The values used are in the model's `config`.
#' @param seed Random seed; by default drawn from R's generator, so
#'   [set.seed()] makes fits reproducible.
#' @param device `"auto"`, `"cpu"` or `"cuda"`.
#' @param num.threads libtorch threads for this fit (`NULL` keeps the current
#'   setting); the previous setting is restored afterwards.
#' @param verbose Show a progress bar.
#' @return A `dpvae_model`: weights, settings, genes, preprocessing, training
#'   history and the reconstructed coordinates of the training cells. It
#'   survives [saveRDS()] / [readRDS()]. `history` has one row per epoch: the
#'   loss and its terms (`recon`, `kl`, `dp`), the scale `c`, the monitored
#'   `stress` and `seconds` since training started (so the time per epoch,
#'   without the fit's one-off costs, is `diff(fit$history$seconds)`).
#' @seealso [dpvae_reconstruct()], [predict.dpvae_model()]
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' fit <- dpvae_fit(mob$counts, mob$coords, epochs = 100, seed = 1, verbose = FALSE)
#' fit
dpvae_fit <- function(x, ...) UseMethod("dpvae_fit")

#' @rdname dpvae_fit
#' @method dpvae_fit default
#' @export
dpvae_fit.default <- function(x, coords, ..., n_genes = 2000, normalize = c("auto", "lognorm", "none"),
                              likelihood = c("gaussian", "nb", "zinb"), hidden = 124, latent_dim = NULL,
                              lambda = 10, beta = 1, alpha = 1, dp_loss = c("squared", "absolute"),
                              dp_latent = c("mean", "sample"), mask = NULL, k = 10, epochs = 1000, batch_size = NULL, lr = 5e-3, warmup = NULL,
                              patience = NULL, validation = NULL, scale = NULL, seed = NULL, device = "auto",
                              num.threads = NULL, verbose = interactive()) {
  fork_guard()
  rlang::check_dots_empty()
  call <- match.call()
  x <- as_expression(x)
  coords <- as_coords(coords, colnames(x))
  known <- stats::complete.cases(coords)
  if (sum(known) < 3L) {
    dpvae_abort(c("Training needs at least 3 cells with coordinates; found {sum(known)}.",
                  i = "Check {.arg coords}: rows that are NA are not used for training."))
  }
  likelihood <- check_choice(likelihood, "likelihood")
  dp_loss <- check_choice(dp_loss, "dp_loss")
  dp_latent <- check_choice(dp_latent, "dp_latent")
  normalize <- check_choice(normalize, "normalize")
  settings <- fit_settings(
    n_genes = n_genes, hidden = hidden, latent_dim = latent_dim %||% max(8L, ncol(coords)), lambda = lambda,
    beta = beta, alpha = alpha, dp_loss = dp_loss, dp_latent = dp_latent, epochs = epochs, lr = lr, warmup = warmup,
    patience = patience, seed = seed, num.threads = num.threads, spatial_dims = ncol(coords),
    likelihood = likelihood, batch_size = batch_size, validation = validation, scale = scale,
    n_train = sum(known)
  )
  xt <- if (all(known)) x else x[, known, drop = FALSE] # a subset would copy all of a large matrix
  ct <- coords[known, , drop = FALSE]
  pp <- fit_preprocess(xt, n_genes = settings$n_genes, normalize = normalize)
  if (likelihood != "gaussian" && !pp$lognorm) {
    dpvae_abort(c("{.code likelihood = \"{likelihood}\"} needs raw counts, but {.arg x} is not a count matrix.",
                  i = "Use {.code likelihood = \"gaussian\"} for normalised data."))
  }
  data <- training_data(xt, pp, likelihood)
  settings$rust$n_genes <- length(pp$genes)
  settings$rust$half_input <- half_input(sum(known), length(pp$genes), call = call)
  settings$rust$bf16_products <- bf16_products(settings$rust, sum(known), call = call)
  pairs <- build_mask(mask, ct, known, k)
  settings$mask <- mask_label(mask)
  # group labels are sections: the map keeps each cell within one (map.R, one_section())
  if (identical(settings$mask, "groups")) settings$sections <- as.character(mask[known])
  preprocess <- function(xk) fit_preprocess(xk, n_genes = settings$n_genes, normalize = normalize)
  train_model(data, ct, pairs, settings, pp, device = device, verbose = verbose, call = call, x = xt,
              preprocess = preprocess)
}

# Encoder input as a block source (expression_source()), and for count likelihoods raw counts of the same
# genes plus library sizes.
training_data <- function(x, pp, likelihood) {
  out <- list(x = expression_source(x, pp), counts = NULL, library = NULL)
  if (likelihood != "gaussian") {
    counts <- x[pp$genes, , drop = FALSE]
    if (is_delayed(counts)) counts <- methods::as(counts, "dgCMatrix")
    out$counts <- as.matrix(Matrix::t(counts))
    out$library <- as.numeric(Matrix::colSums(x)) # a DelayedArray sums block by block itself
  }
  out
}

mask_label <- function(mask) {
  if (is.null(mask)) "all pairs" else if (is.character(mask) && length(mask) == 1L) mask
  else if (is.matrix(mask) || methods::is(mask, "Matrix")) "user pairs" else "groups"
}

# The mask as Rust wants it: NULL, kNN settings (JSON; Rust finds the neighbours on the cells it trains
# on), integer group labels, or a 2-column 1-based pair matrix, all on the training cells (`known` selects
# them from every cell).
build_mask <- function(mask, coords, known, k, call = rlang::caller_call()) {
  n_all <- length(known)
  n <- nrow(coords)
  if (is.null(mask)) return(NULL)
  if (is.character(mask) && length(mask) == 1L) {
    if (mask != "knn") dpvae_abort("{.arg mask} must be NULL, \"knn\", group labels or pairs, not {.val {mask}}.", call = call)
    check_number(k, "k", min = 1, max = n - 1, integer = TRUE, call = call)
    return(as_json(list(knn = as.integer(k))))
  }
  if (methods::is(mask, "sparseMatrix") || (is.matrix(mask) && nrow(mask) == n_all && ncol(mask) == n_all)) {
    if (nrow(mask) != n_all || ncol(mask) != n_all) {
      dpvae_abort("A pair matrix {.arg mask} must be cells x cells ({n_all} x {n_all}).", call = call)
    }
    tr <- Matrix::summary(methods::as(mask, "TsparseMatrix"))
    mask <- cbind(tr$i, tr$j)[tr$x != 0 & tr$i != tr$j, , drop = FALSE]
  }
  if (is.matrix(mask) && ncol(mask) == 2L && is.numeric(mask)) {
    if (anyNA(mask) || any(mask < 1 | mask > n_all) || any(mask != round(mask))) {
      dpvae_abort("Pair indices in {.arg mask} must be whole numbers between 1 and {n_all}.", call = call)
    }
    # renumber onto the training cells and drop pairs that involve cells without coordinates
    pos <- cumsum(known)
    keep <- known[mask[, 1]] & known[mask[, 2]]
    pairs <- cbind(pos[mask[keep, 1]], pos[mask[keep, 2]])
    pairs <- pairs[pairs[, 1] != pairs[, 2], , drop = FALSE]
    if (!nrow(pairs)) dpvae_abort("{.arg mask} selects no pair of cells that both have coordinates.", call = call)
    storage.mode(pairs) <- "integer"
    return(pairs)
  }
  if (is.atomic(mask) && length(mask) == n_all) {
    if (anyNA(mask[known])) dpvae_abort("Group labels in {.arg mask} must not be NA for cells with coordinates.", call = call)
    return(as.integer(factor(mask[known])))
  }
  dpvae_abort(c("{.arg mask} must be NULL, \"knn\", one group label per cell ({n_all}), a two-column pair matrix or a cells x cells sparse matrix.",
                i = "Got {.cls {class(mask)}} of length {length(mask)}."), call = call)
}

fit_settings <- function(n_genes, hidden, latent_dim, lambda, beta, alpha, dp_loss, epochs, lr, warmup,
                         patience, seed, num.threads, spatial_dims, likelihood = "gaussian", batch_size = NULL,
                         dp_latent = "mean",
                         validation = NULL, scale = NULL, n_train = Inf, call = rlang::caller_call()) {
  check_number(n_genes, "n_genes", min = 2, integer = TRUE, call = call)
  check_number(hidden, "hidden", min = 1, integer = TRUE, call = call)
  check_number(latent_dim, "latent_dim", min = spatial_dims, max = 64, integer = TRUE, call = call)
  if (is.null(batch_size)) batch_size <- if (n_train > 4000) 1024L else 0L
  if (is.null(validation)) validation <- if (n_train > 2000) 0.1 else 0
  check_number(batch_size, "batch_size", min = 0, integer = TRUE, call = call)
  check_number(validation, "validation", min = 0, max = 0.5, call = call)
  steps <- steps_per_epoch(n_train, validation, batch_size)
  warmup <- warmup %||% epochs_within(WARMUP_EPOCHS, WARMUP_STEPS, steps, 5L)
  patience <- patience %||% epochs_within(PATIENCE_EPOCHS, PATIENCE_STEPS, steps, 10L)
  check_full_batch(batch_size, n_train, call = call)
  if (!is.null(scale)) {
    bounds <- scale_bounds_impl()
    check_number(scale, "scale", min = bounds[1], max = bounds[2], call = call)
  }
  for (nm in c("lambda", "beta", "alpha")) check_number(get(nm), nm, min = 0, call = call)
  check_number(epochs, "epochs", min = 1, integer = TRUE, call = call)
  check_number(lr, "lr", min = .Machine$double.xmin, call = call)
  check_number(warmup, "warmup", min = 0, integer = TRUE, call = call)
  check_number(patience, "patience", min = 0, integer = TRUE, call = call)
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L)
  check_number(seed, "seed", min = 0, integer = TRUE, call = call)
  threads <- 0L
  if (!is.null(num.threads)) {
    check_number(num.threads, "num.threads", min = 1, integer = TRUE, call = call)
    threads <- as.integer(num.threads)
  }
  list(n_genes = as.integer(n_genes), rust = list(
    n_genes = 0L, hidden = as.integer(hidden), latent_dim = as.integer(latent_dim), alpha = alpha,
    beta = beta, lambda = lambda, dp_loss = dp_loss, dp_latent = dp_latent, epochs = as.integer(epochs), lr = lr,
    warmup = as.integer(warmup), patience = as.integer(patience), seed = as.integer(seed),
    num_threads = threads, report_every = 5L, likelihood = likelihood, batch_size = as.integer(batch_size),
    validation = validation, scale = scale
  ))
}

# Default warm-up and patience, in epochs, capped in optimiser steps: with minibatches an epoch is many steps
# (88 at 100,000 cells), and minibatch fits stop improving within ~15 epochs of the warm-up's end (starmap_3d,
# 21 steps per epoch: best epoch 57-66 of 150-166). The caps leave every fit of up to ~28,000 training cells
# as it was (bench/RESULTS-scale.md: how they were chosen).
WARMUP_EPOCHS <- 50L
WARMUP_STEPS <- 1250L
PATIENCE_EPOCHS <- 100L
PATIENCE_STEPS <- 2500L
epochs_within <- function(epochs, max_steps, steps_per_epoch, at_least) {
  as.integer(min(epochs, max(at_least, ceiling(max_steps / steps_per_epoch))))
}

# Optimiser steps per epoch: one per minibatch of the training cells left after the validation share
# (full batch: one).
steps_per_epoch <- function(n_train, validation, batch_size) {
  if (!is.finite(n_train) || batch_size <= 0) return(1)
  n_fit <- n_train - floor(validation * n_train)
  max(1, ceiling(n_fit / batch_size))
}

# Whether the training expression is held in half precision: it is the fit's largest allocation (4 bytes per
# cell and gene in single precision: 2 GB at a million cells x 500 genes), so above
# options(dpvae.tensor_mb) MB (default 1000: 500,000 cells at 500 genes, 125,000 at 2000) it takes 2 bytes.
# Rounding is below 0.05 % of each standardised value; the model remembers the choice and predict() rounds
# new cells the same way, so it reproduces the fitted coordinates.
DEFAULT_TENSOR_MB <- 1000
half_input <- function(n_cells, n_genes, call = rlang::caller_call()) {
  4 * n_cells * n_genes > budget_mb("dpvae.tensor_mb", DEFAULT_TENSOR_MB, call = call) * 1e6 # Inf: never
}

# Whether a batch's products of expression and weights (encoder input layer, fused Gaussian term) run in
# bfloat16 with single-precision sums (src/rust/src/vae/precision.rs). options(dpvae.bf16): "auto" (default)
# for minibatch fits of at least BF16_MIN_GENES genes on a CPU with native bfloat16 arithmetic, where those
# products are 3-5x faster: an epoch 15-20 % shorter at 300-400 genes, ~30 % at 500-2000, nothing gained
# below ~250 (bench/RESULTS-speed.md, session 9); held-out accuracy unchanged. Small full-batch fits stay as
# they were. Without native support libtorch emulates bfloat16, slowly.
BF16_MIN_GENES <- 256L
bf16_products <- function(rust_settings, n_train, call = rlang::caller_call()) {
  choice <- getOption("dpvae.bf16", "auto")
  if (!(identical(choice, "auto") || isTRUE(choice) || isFALSE(choice))) {
    dpvae_abort(c("{.code options(dpvae.bf16)} must be \"auto\", TRUE or FALSE.",
                  i = "Got {.val {format(choice)}}; \"auto\" uses bfloat16 products for minibatch fits on CPUs that support them."),
                call = call)
  }
  if (!identical(choice, "auto")) return(choice)
  minibatch <- steps_per_epoch(n_train, rust_settings$validation, rust_settings$batch_size) > 1
  minibatch && rust_settings$n_genes >= BF16_MIN_GENES && isTRUE(libtorch_info_impl()$bf16_native)
}

# A full-batch epoch costs n^2 pair distances: ~90 s at 40k cells on one core of the development machine
# (issue 12), hours at a million. Above FULL_BATCH_MAX cells it is refused with the estimate and the fix.
FULL_BATCH_MAX <- 20000
check_full_batch <- function(batch_size, n_train, call = rlang::caller_call()) {
  if (batch_size > 0 || !is.finite(n_train) || n_train <= FULL_BATCH_MAX) return(invisible())
  per_epoch <- 90 * (n_train / 4e4)^2
  dpvae_abort(c("A full-batch fit ({.code batch_size = 0}) on {format(n_train, big.mark = ',')} cells would take about {duration_text(per_epoch)} per epoch ({format(n_train^2 / 2, digits = 2)} cell pairs).",
                i = "Train in minibatches: {.code batch_size = 1024} (the default above 4000 cells) keeps an epoch linear in cells."),
              call = call)
}
duration_text <- function(s) {
  if (s < 120) sprintf("%.0f s", s) else if (s < 7200) sprintf("%.0f min", s / 60) else sprintf("%.1f h", s / 3600)
}

# Runs the Rust fit with a cli progress bar and builds the dpvae_model.
# `x`, `preprocess`: the training cells' expression (genes x cells) and how the fit preprocessed it
# (crossfit_refit()), for the cross-fit of the uncertainty calibration.
train_model <- function(data, coords, pairs, settings, pp, device, verbose, call, init = NULL, frame_json = "",
                        x = NULL, preprocess = NULL) {
  if (!is.character(device) || length(device) != 1L) dpvae_abort("{.arg device} must be \"auto\", \"cpu\" or \"cuda\".")
  reporter <- progress_reporter("Training dp-VAE", settings$rust$epochs, verbose)
  t0 <- proc.time()[["elapsed"]]
  res <- run_fit(data, coords, pairs, settings, device, reporter$callback, init, frame_json, call)
  reporter$done()
  train_seconds <- proc.time()[["elapsed"]] - t0
  if (isTRUE(res$interrupted)) {
    cli::cli_warn("Training was interrupted at epoch {res$epochs_run}; the model holds the best state so far.",
                  class = "dpvae_warning_interrupted")
  }
  history <- as.data.frame(res$history)
  diverged <- divergence(history, res$scale)
  if (!is.null(diverged)) {
    cli::cli_warn(c("Training diverged: {diverged}; the model's positions are not meaningful.",
                    i = "Lower {.arg lr} (default 5e-3), or check that the expression and coordinates belong together."),
                  class = "dpvae_warning_diverged")
  }
  pred <- res$prediction
  atlas <- map_atlas(data$x)
  loo <- loo_map(atlas$profiles, coords, sections = settings$sections, call = call)
  calibration <- calibrate_radius(loo)
  honest <- validation_honest(loo, res, pred)
  if (is.null(honest) && !is.null(preprocess) && !isTRUE(res$interrupted)) {
    refit <- crossfit_refit(x, coords, pairs, settings, preprocess, device, init, frame_json, call)
    honest <- crossfit_honest(refit, atlas$profiles, coords, settings$sections, verbose = verbose, call = call)
  }
  dimnames(pred$coords) <- list(rownames(coords), colnames(coords))
  dimnames(pred$latent) <- list(rownames(coords), paste0("latent_", seq_len(ncol(pred$latent))))
  model <- structure(list(
    weights = res$weights,
    config = jsonlite::fromJSON(res$config),
    config_json = res$config,
    frame_json = res$frame,
    preprocess = pp,
    history = history,
    diverged = diverged,
    scale = res$scale,
    epochs_run = res$epochs_run,
    best_epoch = res$best_epoch,
    interrupted = res$interrupted,
    spatial_dims = ncol(coords),
    train_cells = rownames(coords),
    validation_cells = rownames(coords)[res$validation],
    mask = settings$mask,
    sections = settings$sections,
    train_coords = coords,
    fitted_coords = pred$coords,
    fitted_latent = pred$latent,
    atlas = atlas,
    radius_factor = calibration[["factor"]],
    radius_rms = calibration[["rms"]],
    radius_mean_factor = calibrate_mean_radius(honest),
    device = device,
    seconds = proc.time()[["elapsed"]] - t0, # training and calibration
    call = call,
    version = as.character(utils::packageVersion("dpvae"))
  ), class = "dpvae_model")
  if (isTRUE(verbose)) {
    best <- if (res$best_epoch > 0) sprintf(", best training stress %.3f at epoch %d", res$history$stress[res$best_epoch], res$best_epoch) else ""
    cli::cli_inform("dp-VAE: {res$epochs_run} epoch{?s} in {sprintf('%.1f', train_seconds)} s{best}.")
  }
  model
}

# The Rust fit (`callback`: progress_reporter()'s).
run_fit <- function(data, coords, pairs, settings, device, callback, init, frame_json, call) {
  rust_result(fit_impl(data$x, data$counts, data$library, coords, pairs, as_json(settings$rust), device,
                       init, frame_json, callback), call = call)
}

# For crossfit_honest(): refit(keep) trains as the fit did on the training cells in `keep` (silently; NULL if
# interrupted) and returns the encoder's positions of the others.
# `preprocess(x)`: the fit's preprocessing of training cells x (fit_preprocess() for a fresh fit, so a fold's
# genes and scaling come from its own cells as its model's would; fine-tuning keeps the base model's).
crossfit_refit <- function(x, coords, pairs, settings, preprocess, device, init, frame_json, call) {
  likelihood <- settings$rust$likelihood
  function(keep) {
    xk <- subset_cells(x, which(keep))
    pp <- preprocess(xk)
    settings$rust$n_genes <- length(pp$genes)
    data <- training_data(xk, pp, likelihood)
    reporter <- progress_reporter("Cross-fit", settings$rust$epochs, FALSE)
    res <- run_fit(data, coords[keep, , drop = FALSE], subset_pairs(pairs, keep), settings, device,
                   reporter$callback, init, frame_json, call)
    reporter$done()
    if (isTRUE(res$interrupted)) return(NULL)
    fold_model <- list(weights = res$weights, config_json = res$config, frame_json = res$frame, preprocess = pp)
    threads <- if (settings$rust$num_threads > 0) settings$rust$num_threads
    encode_cells(fold_model, subset_cells(x, which(!keep)), seed = 0, device = device, num.threads = threads,
                 call = call)$coords
  }
}

# build_mask()'s pairs restricted to the training cells in `keep` (logical) and renumbered onto them.
subset_pairs <- function(pairs, keep) {
  if (is.null(pairs) || is.character(pairs)) return(pairs)
  if (!is.matrix(pairs)) return(pairs[keep])
  both <- keep[pairs[, 1]] & keep[pairs[, 2]]
  out <- cbind(cumsum(keep)[pairs[both, 1]], cumsum(keep)[pairs[both, 2]])
  storage.mode(out) <- "integer"
  out
}

# A cli progress bar over training epochs, as the callback Rust calls every few epochs (answering FALSE stops
# training as Ctrl-C does; option `dpvae.stop_at_epoch` lets tests simulate an interrupt), and done(), which
# closes the bar and re-raises an error the callback kept (it must not unwind through Rust).
progress_reporter <- function(label, epochs, verbose) {
  env <- environment()
  bar <- NULL
  failure <- NULL
  stop_at <- getOption("dpvae.stop_at_epoch", Inf)
  callback <- function(epoch, loss, recon, kl, dp, scale, stress) {
    if (epoch >= stop_at) return(FALSE)
    if (!isTRUE(verbose)) return(TRUE)
    tryCatch({
      if (is.null(bar)) {
        bar <<- cli::cli_progress_bar(label, total = epochs, clear = TRUE, .envir = env,
          format = "{label} {cli::pb_bar} {cli::pb_current}/{cli::pb_total} | loss {sprintf('%.4f', loss)} | stress {if (is.finite(stress)) sprintf('%.3f', stress) else 'warm-up'} | ETA {cli::pb_eta}")
      }
      env$loss <- loss
      env$stress <- stress
      cli::cli_progress_update(id = bar, set = epoch, .envir = env)
      TRUE
    }, error = function(e) {
      failure <<- e
      FALSE
    })
  }
  done <- function() {
    if (!is.null(bar)) cli::cli_progress_done(id = bar, .envir = env)
    if (!is.null(failure)) stop(failure)
  }
  list(callback = callback, done = done)
}

# Why a fit failed, or NULL: the loss exploded or went non-finite, the learned scale ended pinned at a bound
# (Rust's SCALE_MIN/SCALE_MAX, via scale_bounds_impl()), or the best stress of the monitored cells is no
# better than 1, that of collapsing every cell onto one point.
divergence <- function(history, scale) {
  loss <- history$loss
  if (length(loss) && (!is.finite(loss[length(loss)]) || loss[length(loss)] > 1e3 * max(abs(loss[1]), 1))) {
    return(sprintf("the loss grew from %.3g to %.3g", loss[1], loss[length(loss)]))
  }
  bounds <- scale_bounds_impl()
  if (is.numeric(scale) && length(scale) == 1L && (scale >= bounds[2] * (1 - 1e-6) || scale <= bounds[1] * (1 + 1e-6))) {
    return(sprintf("the distance scale ended at its bound (%g)", scale))
  }
  stress <- history$stress[is.finite(history$stress)]
  if (length(stress) && min(stress) >= 1) {
    return(sprintf("the best stress is %.3f, no better than placing every cell on one point (1)", min(stress)))
  }
  NULL
}

# NULL settings are left out, so Rust uses its default (e.g. a learned scale).
as_json <- function(x) {
  x <- x[!vapply(x, is.null, logical(1))]
  as.character(jsonlite::toJSON(x, auto_unbox = TRUE, digits = NA))
}

#' @method print dpvae_model
#' @export
print.dpvae_model <- function(x, ...) {
  cat("<dpvae_model>\n")
  cat(sprintf("  trained on %d cells x %d genes, %d-D coordinates\n",
              length(x$train_cells), length(x$preprocess$genes), x$spatial_dims))
  if (isTRUE(x$config$half_input)) cat("  expression held in half precision (above options(dpvae.tensor_mb))\n")
  if (isTRUE(x$config$bf16_products)) cat("  expression x weight products in bfloat16 (options(dpvae.bf16))\n")
  cat(sprintf("  %s likelihood; lambda %g, beta %g, alpha %g, hidden %d, latent %d, %s dp loss over %s\n",
              x$config$likelihood, x$config$lambda, x$config$beta, x$config$alpha, x$config$hidden,
              x$config$latent_dim, x$config$dp_loss, x$mask %||% "all pairs"))
  cat(sprintf("  %s, %d validation cells\n",
              if (x$config$batch_size > 0) sprintf("minibatches of %d", x$config$batch_size) else "full batch",
              length(x$validation_cells)))
  cat(sprintf("  %d epochs (best %d) in %.1f s%s; scale c = %.4g\n", x$epochs_run, x$best_epoch, x$seconds,
              if (isTRUE(x$interrupted)) ", interrupted" else "", x$scale))
  h <- x$history
  last <- h[nrow(h), ]
  cat(sprintf("  final loss %.4f (recon %.4f, KL %.4f, dp %.4f)", last$loss, last$recon, last$kl, last$dp))
  if (x$best_epoch > 0) cat(sprintf("; best training stress %.4f", h$stress[x$best_epoch]))
  cat("\n")
  invisible(x)
}
