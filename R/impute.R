#' Impute positions of cells without coordinates
#'
#' Cells whose coordinates are known stay exactly where they are (their rows
#' of the result are identical to the input); every cell without coordinates
#' (`NA` row) is placed among them by constrained MDS on the dp-VAE latent
#' space: its distances to the measured cells are matched to its latent
#' distances divided by the model's learned scale `c` (latent distance / `c`
#' approximates spatial distance in the model's standardised units, see
#' [dpvae_fit()]).
#'
#' The placement is per cell (out-of-sample MDS against landmarks, in
#' parallel), so memory grows linearly with the number of cells: with more
#' than `max_landmarks` measured cells a seeded random subset of them serves
#' as landmarks, and no cells x cells matrix is formed. For small problems
#' (`refine`) the placement is then refined by a joint SMACOF of all cells
#' with the measured ones held fixed ([smacof()] with `fixed`), so new cells
#' also keep their distances to each other.
#'
#' The coordinates must be in the units the model was trained on (with
#' `model = NULL` the model is trained here, on the measured cells).
#'
#' @param object Expression, genes x cells (matrix or `dgCMatrix`), or a
#'   fitted `dpvae_model` (then give the expression as `x`).
#' @param coords Coordinates, cells x 2 (or 3), `NA` rows for the cells to
#'   place (see [dpvae_fit()]).
#' @param model Optional fitted `dpvae_model`; `NULL` fits one on the cells
#'   with coordinates, with the settings in `...`.
#' @param x For the `dpvae_model` method: the expression, genes x cells.
#' @param ... Training settings for [dpvae_fit()] when `model = NULL`
#'   (`epochs`, `lambda`, ...).
#' @param k Use only each cell's `k` nearest measured cells in latent space
#'   as its anchors (local placement). `NULL`: all landmarks up to 2000 cells
#'   (then refined jointly), the 10 nearest above, where local anchors placed
#'   held-out cells of the large single-cell benchmark sets better (osmFISH
#'   test Procrustes 0.52-0.54 vs 0.61-0.66, STARmap 0.59 vs 0.79).
#' @param max_landmarks At most this many measured cells are used as
#'   landmarks (a random subset, from `seed`).
#' @param refine Refine jointly by constrained SMACOF: `TRUE`, `FALSE`, or
#'   `NULL` (default) for `TRUE` when there are at most 2000 cells and `k`
#'   is `NULL`. The refinement builds a cells x cells matrix; it is skipped
#'   when `k` is given.
#' @param max_iter,eps Iteration limit (per cell) and relative tolerance of
#'   the placement.
#' @param seed Seed of the fit (when `model = NULL`) and of the landmark
#'   subset; by default drawn from R's generator by [dpvae_fit()], and the
#'   model's seed is used for the subset.
#' @param device Device used to encode the cells.
#' @param BPPARAM `NULL` or a BiocParallel parameter object: the cells are
#'   encoded in blocks on its workers (as in [predict.dpvae_model()]); the
#'   placement itself runs in this process on `num.threads` threads. The result
#'   is the same as serially.
#' @param verbose Show progress.
#' @return A numeric matrix, cells x dimensions, named by cell: measured rows
#'   are the input coordinates unchanged, the other rows the imputed
#'   positions. Attributes: `imputed` (logical, which rows were placed),
#'   `stress1` (per cell, the normalised stress of its placement, `NA` for
#'   measured cells; larger = less certain), `dpvae_model` (the model used).
#' @seealso [smacof()], [dpvae_reconstruct()] (`impute = "mds"` does this for
#'   the cells without coordinates).
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' co <- mob$coords
#' hide <- seq(1, nrow(co), by = 4)
#' co[hide, ] <- NA
#' imp <- dpvae_impute(mob$counts, co, epochs = 100, seed = 1, verbose = FALSE)
#' identical(imp[-hide, ], co[-hide, ]) # measured cells are untouched
#' head(imp[hide, ])
dpvae_impute <- function(object, ...) UseMethod("dpvae_impute")

#' @rdname dpvae_impute
#' @export
dpvae_impute.default <- function(object, coords, model = NULL, ..., k = NULL, max_landmarks = 5000,
                                 refine = NULL, max_iter = 100, eps = 1e-6, seed = NULL, device = "auto",
                                 verbose = interactive(), BPPARAM = NULL) {
  fork_guard()
  call <- sys.call()
  check_bpparam(BPPARAM, call = call)
  x <- as_expression(object, call = call)
  coords <- as_coords(coords, colnames(x), call = call)
  known <- stats::complete.cases(coords)
  if (is.null(model)) {
    model <- dpvae_fit(x, coords, ..., seed = seed, device = device, verbose = verbose)
  } else {
    validate_model(model, call = call)
    if (...length()) dpvae_abort("Training settings ({.arg {names(list(...))}}) have no effect with {.arg model}.", call = call)
  }
  opts <- impute_options(k = k, max_landmarks = max_landmarks, refine = refine, max_iter = max_iter,
                         eps = eps, seed = seed %||% model$config$seed, call = call)
  latent <- encode_cells(model, x, device = device, BPPARAM = BPPARAM, call = call)$latent
  res <- impute_cells(latent, coords, model, opts, verbose = verbose, call = call)
  out <- coords
  out[!known, ] <- res$coords
  attr(out, "imputed") <- !known
  attr(out, "stress1") <- res$stress1
  attr(out, "dpvae_model") <- model
  out
}

#' @rdname dpvae_impute
#' @export
dpvae_impute.dpvae_model <- function(object, x, coords, ..., device = "auto", verbose = interactive(),
                                     BPPARAM = NULL) {
  fork_guard()
  dpvae_impute.default(x, coords, model = object, ..., device = device, verbose = verbose, BPPARAM = BPPARAM)
}

impute_options <- function(k = NULL, max_landmarks = 5000, refine = NULL, max_iter = 100, eps = 1e-6,
                           seed = NULL, call = rlang::caller_call()) {
  if (!is.null(k)) check_number(k, "k", min = 1, integer = TRUE, call = call)
  check_number(max_landmarks, "max_landmarks", min = 1, max = .Machine$integer.max, integer = TRUE, call = call)
  if (!is.null(refine) && !(is.logical(refine) && length(refine) == 1L && !is.na(refine))) {
    dpvae_abort("{.arg refine} must be TRUE, FALSE or NULL (automatic).", call = call)
  }
  check_number(max_iter, "max_iter", min = 1, max = 1e6, integer = TRUE, call = call)
  check_number(eps, "eps", min = 0, call = call)
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L)
  check_number(seed, "seed", min = 0, integer = TRUE, call = call)
  list(k = k, max_landmarks = max_landmarks, refine = refine, max_iter = max_iter, eps = eps, seed = seed)
}

# Place the cells with NA coordinates among the measured ones (latent: all cells' encoder
# means, in cell order). Returns coords (unmeasured cells only) and stress1 for every cell.
impute_cells <- function(latent, coords, model, opts, verbose = FALSE, call = rlang::caller_call()) {
  known <- stats::complete.cases(coords)
  n_new <- sum(!known)
  stress1 <- rep(NA_real_, nrow(coords))
  if (n_new == 0L) return(list(coords = coords[0, , drop = FALSE], stress1 = stress1))
  if (!any(known)) {
    dpvae_abort("No cell has coordinates, so there is nothing to place the others against.", call = call)
  }
  if (!is.null(model$spatial_dims) && ncol(coords) != model$spatial_dims) {
    dpvae_abort("The coordinates have {ncol(coords)} columns but the model is {model$spatial_dims}-D.", call = call)
  }
  refine <- opts$refine %||% (is.null(opts$k) && nrow(coords) <= 2000L)
  # Above 2000 cells (no joint refinement) local anchors place cells better than all landmarks:
  # osmFISH 0.52-0.54 vs 0.61-0.66, STARmap 0.59 vs 0.79 test Procrustes (bench/RESULTS-geometry.md).
  k <- opts$k %||% if (isTRUE(refine) || nrow(coords) <= 2000L) 0L else 10L
  env <- environment()
  bar <- NULL
  progress <- function(done, total) {
    tryCatch({
      if (is.null(bar)) bar <<- cli::cli_progress_bar("Placing cells", total = total, clear = TRUE, auto_terminate = FALSE,
                                                          .envir = env)
      cli::cli_progress_update(id = bar, set = done, .envir = env)
      TRUE
    }, error = function(e) TRUE) # a display problem must not stop the work (FALSE means Ctrl-C)
  }
  settings <- list(scale = as.double(model$scale), max_landmarks = as.integer(opts$max_landmarks), k = as.integer(k),
                   max_iter = as.integer(opts$max_iter), eps = as.double(opts$eps),
                   refine_max = if (isTRUE(refine)) .Machine$integer.max else 0L, refine_iter = 300L,
                   seed = as.double(opts$seed), verbose = isTRUE(verbose))
  res <- rust_result(impute_impl(latent[!known, , drop = FALSE], latent[known, , drop = FALSE],
                                 unname(coords[known, , drop = FALSE]), model$frame_json, progress,
                                 as_json(settings)), call = call)
  if (!is.null(bar)) cli::cli_progress_done(id = bar, .envir = env)
  stress1[!known] <- res$stress1
  dimnames(res$coords) <- list(rownames(coords)[!known], colnames(coords))
  list(coords = res$coords, stress1 = stress1, refined = res$refined)
}
