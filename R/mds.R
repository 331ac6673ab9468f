#' Metric multidimensional scaling by SMACOF
#'
#' Finds coordinates whose Euclidean distances match the dissimilarities
#' `delta` by minimising the (weighted) raw stress
#' \eqn{\sum_{i<j} w_{ij} (d_{ij}(X) - \delta_{ij})^2} with Guttman
#' majorisation (de Leeuw's SMACOF). Every update lowers the stress, which is
#' recorded in `stress_history`.
#'
#' Some points can have known coordinates (imputation, the paper's
#' constrained MDS): give their coordinates in the rows of `init` and mark
#' them in `fixed`.
#' * With `mu = NULL` (default) the fixed rows are held exactly: they are
#'   returned bit-identical and only the other rows move. Every other point
#'   must be linked to some fixed point by pairs with positive weight.
#' * With `mu > 0` the fixed rows are only pulled towards `init` by the
#'   penalty \eqn{\mu \sum_{i \in fixed} \|x_i - init_i\|^2} (the paper's
#'   Lagrangian form); as `mu` grows the solution tends to the hard one.
#'   `stress_history` then records stress plus penalty.
#'
#' Without `fixed`, SMACOF solutions are determined only up to rotation,
#' reflection and translation.
#'
#' @param delta Dissimilarities: a `dist` object or a symmetric, non-negative
#'   numeric matrix with zero diagonal and no `NA` (give a missing pair
#'   weight 0 and any finite value).
#' @param weights Optional matrix of non-negative weights with the shape of
#'   `delta` (or a `dist`); 0 drops a pair. `NULL`: every pair weight 1.
#' @param init Start: `"classical"` (Torgerson MDS, default), `"random"`, or
#'   a points x `ndim` matrix. With `fixed`, a matrix whose fixed rows hold the
#'   known coordinates; its other rows may be `NA` (then the classical start,
#'   aligned onto the fixed rows, is used for them).
#' @param fixed Optional: which points are fixed, as row numbers, row names
#'   of `delta`, or a logical vector, one per point: `TRUE` for points
#'   with known coordinates (taken from `init`).
#' @param ndim Output dimensions.
#' @param ... Must be empty.
#' @param mu `NULL` for hard constraints, or a number > 0 for the penalised
#'   version (needs `fixed`).
#' @param max_iter Maximum number of updates per start.
#' @param eps Stop when one update lowers the objective by at most `eps`
#'   times \eqn{\sum w \delta^2}.
#' @param n_init Number of starts; the first uses `init`, the others are
#'   random; the lowest stress wins.
#' @param seed Seed of the random starts; by default drawn from R's
#'   generator, so [set.seed()] makes runs reproducible.
#' @param verbose Report progress (every 10 updates) and the result.
#' @return A list of class `dpvae_smacof`: `coords` (points x `ndim`, row
#'   names from `delta`), `stress` (raw stress), `stress1` (normalised stress
#'   \eqn{\sqrt{stress / \sum w \delta^2}}), `iterations`, `converged`,
#'   `stress_history` (objective at the start and after every update), and
#'   `fixed`, `mu`.
#' @seealso [dpvae_impute()] places cells from a fitted model without forming
#'   an n x n matrix.
#' @export
#' @examples
#' x <- cbind(runif(30), runif(30))
#' fit <- smacof(dist(x), seed = 1)
#' fit
#' procrustes_distance(x, fit$coords) # ~0: recovered up to rotation
#' # hold the first 10 points at their true positions, place the others
#' init <- x
#' init[-(1:10), ] <- NA
#' fit2 <- smacof(dist(x), init = init, fixed = rep(c(TRUE, FALSE), c(10, 20)))
#' max(abs(fit2$coords - x))
smacof <- function(delta, weights = NULL, init = NULL, fixed = NULL, ndim = 2, ..., mu = NULL,
                   max_iter = 300, eps = 1e-6, n_init = 1, seed = NULL, verbose = FALSE) {
  fork_guard()
  rlang::check_dots_empty()
  call <- sys.call()
  delta <- as_dissimilarity(delta, "delta", call = call)
  n <- nrow(delta)
  check_number(ndim, "ndim", min = 1, max = n - 1, integer = TRUE, call = call)
  check_number(max_iter, "max_iter", min = 0, integer = TRUE, call = call)
  check_number(eps, "eps", min = 0, call = call)
  check_number(n_init, "n_init", min = 1, integer = TRUE, call = call)
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L)
  check_number(seed, "seed", min = 0, integer = TRUE, call = call)
  if (!is.null(weights)) {
    weights <- as_dissimilarity(weights, "weights", check = FALSE, call = call)
    if (!identical(dim(weights), dim(delta))) {
      dpvae_abort("{.arg weights} must be {n} x {n} like {.arg delta}, not {nrow(weights)} x {ncol(weights)}.", call = call)
    }
    if (anyNA(weights)) dpvae_abort("{.arg weights} contains NA; use 0 for pairs to ignore.", call = call)
  }
  init_kind <- "classical"
  if (is.character(init)) {
    if (length(init) != 1L || !init %in% c("classical", "random")) {
      dpvae_abort("{.arg init} must be {.val classical}, {.val random} or a matrix, not {.val {init}}.", call = call)
    }
    init_kind <- init
    init <- NULL
  } else if (!is.null(init)) {
    init <- as_numeric_matrix(init, "init", call = call)
    if (!identical(dim(init), c(n, as.integer(ndim)))) {
      dpvae_abort(c("{.arg init} must be {n} x {ndim} (points x {.arg ndim}), not {nrow(init)} x {ncol(init)}.",
                    i = "Set {.arg ndim} to the number of columns of {.arg init}, or give one row per point."),
                  call = call)
    }
    init_kind <- "given"
  }
  fixed_int <- integer()
  if (!is.null(fixed)) {
    fixed <- fixed_rows(fixed, n, rownames(delta), call = call)
    if (is.null(init) || init_kind != "given") {
      dpvae_abort("{.arg fixed} needs {.arg init}: a matrix whose fixed rows hold the known coordinates.", call = call)
    }
    bad <- which(fixed & !stats::complete.cases(init))
    if (length(bad)) {
      dpvae_abort(c("Fixed point{?s} {.val {bad}} ha{?s/ve} NA coordinates in {.arg init}.",
                    i = "Give every fixed row finite coordinates, or set {.arg fixed} to FALSE for it."), call = call)
    }
    if (!any(fixed)) fixed <- NULL else fixed_int <- as.integer(fixed)
  }
  if (!is.null(init) && is.null(fixed) && anyNA(init)) {
    dpvae_abort("{.arg init} contains NA; NA rows are only allowed for points that are not {.arg fixed}.", call = call)
  }
  if (!is.null(mu)) {
    check_number(mu, "mu", min = .Machine$double.xmin, call = call)
    if (is.null(fixed)) dpvae_abort("{.arg mu} needs {.arg fixed} (the points pulled towards {.arg init}).", call = call)
  }
  report_every <- if (isTRUE(verbose)) 10L else 0L
  progress <- function(iteration, stress) {
    tryCatch(cli::cli_inform("SMACOF update {iteration}: objective {signif(stress, 6)}"), error = function(e) NULL)
    TRUE
  }
  settings <- list(init_kind = init_kind, mu = if (is.null(mu)) 0 else mu, ndim = as.integer(ndim),
                   max_iter = as.integer(max_iter), eps = as.double(eps), n_init = as.integer(n_init),
                   seed = as.double(seed), report_every = report_every)
  res <- rust_result(smacof_impl(delta, weights, init, fixed_int, progress, as_json(settings)), call = call)
  dimnames(res$coords) <- list(rownames(delta), paste0("D", seq_len(ndim)))
  res$fixed <- if (is.null(fixed)) rep(FALSE, n) else fixed
  if (!is.null(fixed) && is.null(mu)) {
    # the core returns the fixed rows untouched; copying them keeps names/attributes out of it
    res$coords[fixed, ] <- init[fixed, ]
  }
  res$mu <- mu
  out <- structure(res, class = "dpvae_smacof")
  if (isTRUE(verbose)) {
    cli::cli_inform("SMACOF: stress-1 {signif(res$stress1, 4)} after {res$iterations} update{?s}{if (res$converged) '' else ' (not converged)'}.")
  }
  out
}

#' @method print dpvae_smacof
#' @export
print.dpvae_smacof <- function(x, ...) {
  n <- nrow(x$coords)
  cat("<dpvae_smacof>\n")
  cat(sprintf("  %d points in %d dimensions%s\n", n, ncol(x$coords),
              if (any(x$fixed)) sprintf(", %d %s", sum(x$fixed),
                                        if (is.null(x$mu)) "fixed" else sprintf("penalised (mu = %g)", x$mu)) else ""))
  cat(sprintf("  stress %.6g, stress-1 %.4g\n", x$stress, x$stress1))
  cat(sprintf("  %d update%s, %s\n", x$iterations, if (x$iterations == 1) "" else "s",
              if (x$converged) "converged" else "not converged (raise max_iter?)"))
  invisible(x)
}

# A dist or a square numeric matrix as a plain double matrix; with check = TRUE also
# symmetric, non-negative, no NA, zero diagonal (messages say what to fix).
as_dissimilarity <- function(x, name, check = TRUE, call = rlang::caller_call()) {
  if (inherits(x, "dist")) {
    x <- as.matrix(x)
  } else if (is.data.frame(x)) {
    x <- as.matrix(x)
  }
  if (!is.matrix(x) || !is.numeric(x)) {
    dpvae_abort("{.arg {name}} must be a {.cls dist} or a numeric square matrix, not {.cls {class(x)}}.", call = call)
  }
  if (nrow(x) != ncol(x)) {
    dpvae_abort("{.arg {name}} must be square (one row and column per point), not {nrow(x)} x {ncol(x)}.", call = call)
  }
  storage.mode(x) <- "double"
  if (!check) return(x)
  if (nrow(x) < 3L) dpvae_abort("{.arg {name}} must describe at least 3 points, not {nrow(x)}.", call = call)
  if (anyNA(x) || any(is.infinite(x))) {
    dpvae_abort(c("{.arg {name}} contains NA or infinite values.",
                  i = "Impute them, or give those pairs weight 0 in {.arg weights} and any finite value here."),
                call = call)
  }
  if (any(x < 0)) dpvae_abort("{.arg {name}} must be non-negative; {sum(x < 0)} entr{?y is/ies are} negative.", call = call)
  tol <- 1e-8 * max(abs(x))
  if (any(abs(diag(x)) > tol)) dpvae_abort("{.arg {name}} must have a zero diagonal.", call = call)
  if (max(abs(x - t(x))) > tol) {
    dpvae_abort(c("{.arg {name}} must be symmetric (entry [i, j] equal to [j, i]).",
                  i = "Symmetrise it, e.g. {.code (d + t(d)) / 2}, if the asymmetry is noise."), call = call)
  }
  x
}

# `fixed` as a logical vector, one per point, from a logical vector, row numbers or row names.
fixed_rows <- function(fixed, n, names, call = rlang::caller_call()) {
  if (is.logical(fixed) && length(fixed) == n && !anyNA(fixed)) return(fixed)
  idx <- if (is.character(fixed)) match(fixed, names)
         else if (is.numeric(fixed) && all(is.finite(fixed)) && all(fixed == round(fixed))) fixed
         else NULL
  if (is.null(idx) || anyNA(idx) || any(idx < 1 | idx > n) || anyDuplicated(idx)) {
    dpvae_abort(c("{.arg fixed} must be a logical vector (one entry per point, {n}), distinct row numbers in 1..{n}, or row names of {.arg delta}.",
                  i = "Got {.cls {class(fixed)}} of length {length(fixed)}."), call = call)
  }
  out <- logical(n)
  out[idx] <- TRUE
  out
}
