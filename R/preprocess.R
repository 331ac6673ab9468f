# Expression preprocessing, fitted on the training cells and replayed on any new cells:
# library-size normalisation + log1p (for counts), top variable genes, per-gene standardisation.
# Sparse input stays sparse until the selected genes are densified.

as_expression <- function(x, call = rlang::caller_call()) {
  if (methods::is(x, "Matrix") && !methods::is(x, "dgCMatrix")) x <- methods::as(x, "CsparseMatrix")
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!is.matrix(x) && !methods::is(x, "dgCMatrix") && !(is_delayed(x) && length(dim(x)) == 2L)) {
    dpvae_abort("Expression must be a genes x cells matrix, dgCMatrix or DelayedMatrix, not {.cls {class(x)}}.",
                call = call)
  }
  numeric <- if (is_delayed(x)) DelayedArray::type(x) %in% c("double", "integer") else is.numeric(if (is.matrix(x)) x else x@x)
  if (!numeric) {
    dpvae_abort("The expression matrix must be numeric.", call = call)
  }
  if (is.null(rownames(x))) {
    dpvae_abort(c("The expression matrix needs gene names as row names.",
                  i = "Set {.code rownames(x) <- gene_names}."), call = call)
  }
  if (!all_values(x, function(v) all(is.finite(v)))) {
    dpvae_abort(c("The expression matrix contains NA, NaN or Inf values.",
                  i = "Remove or impute them before fitting (e.g. {.code x[is.na(x)] <- 0})."), call = call)
  }
  if (anyDuplicated(rownames(x))) {
    rownames(x) <- make.unique(rownames(x))
  }
  x
}

is_count_matrix <- function(x) {
  all_values(x, function(v) all(v >= 0) && all(v == round(v)))
}

# `f(values)` on consecutive chunks of the stored values of x (a matrix, a dgCMatrix, or a DelayedMatrix read
# one block of cells at a time), a list of the results; stops after a result identical to `stop_at`. The
# temporaries stay the size of a chunk, whatever the size of x.
VALUE_CHUNK <- 2^22
value_chunks <- function(x, f, stop_at = NULL, chunk = VALUE_CHUNK) {
  results <- list()
  parts <- if (is_delayed(x)) cell_blocks(ncol(x), block_cells()) else list(NULL)
  for (cells in parts) {
    m <- if (is.null(cells)) x else cell_block(x, cells)
    v <- if (is.matrix(m)) m else m@x
    n <- length(v)
    for (start in if (n <= chunk) 1 else seq(1, n, by = chunk)) {
      if (length(results)) between_blocks()
      results[[length(results) + 1L]] <- r <- f(if (n <= chunk) v else v[start:min(n, start + chunk - 1)])
      if (identical(r, stop_at)) return(results)
    }
  }
  results
}

# TRUE if `test(values)` holds for every chunk of the stored values of x.
all_values <- function(x, test, chunk = VALUE_CHUNK) all(unlist(value_chunks(x, test, stop_at = FALSE, chunk)))

# Library-size normalisation + log1p; `rows`: only these genes of the result (library sizes use all genes).
lognormalise <- function(x, target_sum, rows = NULL) {
  lib <- Matrix::colSums(x)
  f <- ifelse(lib > 0, target_sum / lib, 0)
  if (!is.null(rows)) x <- x[rows, , drop = FALSE]
  if (is.matrix(x)) log1p(sweep(x, 2, f, `*`)) else {
    x <- x %*% Matrix::Diagonal(x = f)
    x@x <- log1p(x@x)
    x
  }
}

row_mean_var <- function(x) {
  n <- ncol(x)
  m <- Matrix::rowMeans(x)
  ex2 <- if (is.matrix(x)) rowMeans(x * x) else Matrix::rowMeans(x * x)
  list(mean = m, var = pmax(ex2 - m^2, 0) * n / max(n - 1, 1))
}

# row_mean_var() of the normalised expression (lognormalise() when `lognorm`; genes `rows`, default all),
# accumulated over cell blocks: no copy of all of x. One block (the usual case) computes exactly what
# row_mean_var() does.
normalised_mean_var <- function(x, lognorm, target_sum, rows = NULL) {
  blocks <- cell_blocks(ncol(x), block_cells())
  normalised <- function(cells) {
    xb <- cell_block(x, cells)
    if (lognorm) lognormalise(xb, target_sum, rows) else if (is.null(rows)) xb else xb[rows, , drop = FALSE]
  }
  if (length(blocks) == 1L) return(row_mean_var(normalised(blocks[[1]])))
  sums <- sq <- numeric(if (is.null(rows)) nrow(x) else length(rows))
  for (b in seq_along(blocks)) {
    if (b > 1L) between_blocks()
    y <- normalised(blocks[[b]])
    sums <- sums + Matrix::rowSums(y)
    sq <- sq + Matrix::rowSums(y * y)
  }
  n <- ncol(x)
  m <- sums / n
  list(mean = m, var = pmax(sq / n - m^2, 0) * n / max(n - 1, 1))
}

#' @noRd
fit_preprocess <- function(x, n_genes = 2000L, normalize = "auto", target_sum = 1e4, call = rlang::caller_call()) {
  normalize <- match.arg(normalize, c("auto", "lognorm", "none"))
  counts_given <- is_count_matrix(x) # one pass over the values, used three times below
  if (normalize == "auto" && !counts_given) check_negative_counts(x, call = call)
  lognorm <- switch(normalize, auto = counts_given, lognorm = TRUE, none = FALSE)
  if (lognorm && !counts_given) {
    dpvae_abort(c("{.code normalize = \"lognorm\"} needs raw counts, but the matrix has negative or non-integer values.",
                  i = "Pass counts, or use {.code normalize = \"none\"} for already normalised data."), call = call)
  }
  mv <- normalised_mean_var(x, lognorm, target_sum)
  variable <- which(mv$var > 0)
  if (length(variable) < 2L) {
    dpvae_abort(c("Fewer than 2 genes vary across the training cells.",
                  i = "Check that the expression matrix is genes x cells and not empty."), call = call)
  }
  ord <- variable[order(-mv$var[variable], variable)]
  keep <- sort(ord[seq_len(min(as.integer(n_genes), length(ord)))])
  list(genes = rownames(x)[keep], lognorm = lognorm, target_sum = target_sum,
       mean = unname(mv$mean[keep]), sd = unname(sqrt(mv$var[keep])), counts_given = counts_given)
}

# Whole numbers with a few negatives are counts with an error, not normalised values: with "auto" they would
# silently skip log-normalisation.
check_negative_counts <- function(x, call = rlang::caller_call()) {
  if (all_values(x, function(v) all(v >= 0)) || !all_values(x, function(v) all(v == round(v)))) return(invisible())
  negative <- sum(unlist(value_chunks(x, function(v) sum(v < 0))))
  if (negative > 0) {
    dpvae_abort(c("The expression matrix holds whole numbers like counts, but {negative} of them {?is/are} negative.",
                  i = "Fix the counts, or say how to treat them: {.code normalize = \"none\"} uses the values as given."),
                call = call)
  }
}

# A model trained on normalised values (not counts) fed raw counts would standardise counts with the means and
# sds of normalised values: silently wrong positions. Models from before `counts_given` was stored skip this.
check_same_scale <- function(x, pp, call = rlang::caller_call()) {
  if (pp$lognorm || !isFALSE(pp$counts_given) || !is_count_matrix(x)) return(invisible())
  largest <- max(unlist(value_chunks(x, function(v) if (length(v)) max(v) else -Inf)))
  if (largest > 1) {
    dpvae_abort(c("The model was trained on normalised values, but the new data look like raw counts (whole numbers up to {largest}).",
                  i = "Normalise them as the training data were (e.g. the same log-normalisation), or refit on counts."),
                call = call)
  }
}

#' Cells x selected genes, standardised with the stored parameters (dense, only the selected genes), or with
#' `scaling = "data"` with the data's own gene means and sds (the cell -> location map).
#' @noRd
apply_preprocess <- function(x, pp, min_overlap = 0.5, scaling = c("model", "data"), call = rlang::caller_call()) {
  scaling <- match.arg(scaling)
  check_new_expression(x, pp, min_overlap, call = call)
  transform_expression(x, pp, scaling)
}

# What new cells must satisfy before a model standardises them, checked once on all of them: enough of the
# model's genes (a classed warning when some are missing) and the same kind of values as the training data.
check_new_expression <- function(x, pp, min_overlap = 0.5, call = rlang::caller_call()) {
  found <- pp$genes %in% rownames(x)
  if (mean(found) < min_overlap) {
    dpvae_abort(c("Only {sum(found)} of the model's {length(pp$genes)} genes are in the data.",
                  i = gene_names_hint(pp$genes, rownames(x))), call = call)
  }
  if (!all(found)) {
    cli::cli_warn("Found {sum(found)} of the model's {length(pp$genes)} genes in the data; the {sum(!found)} missing {?is/are} set to the training mean.",
                  class = "dpvae_warning_genes")
  }
  if (pp$lognorm && !is_count_matrix(x)) {
    dpvae_abort(c("The model was trained on raw counts, but the new data have negative or non-integer values.",
                  i = "Pass raw counts for the new cells."), call = call)
  }
  check_same_scale(x, pp, call = call)
}

# The standardisation itself (cells x the model's genes, dense); missing genes are 0 (the training mean).
# Cells go in blocks (R/blocks.R): normalisation is per cell, so only the result is ever dense in full.
transform_expression <- function(x, pp, scaling = "model") {
  idx <- match(pp$genes, rownames(x))
  found <- which(!is.na(idx))
  if (scaling == "data") pp[c("mean", "sd")] <- own_gene_stats(x, pp, idx, found)
  sds <- ifelse(pp$sd > 0, pp$sd, 1)
  out <- matrix(0, ncol(x), length(pp$genes), dimnames = list(colnames(x), pp$genes))
  if (!length(found)) return(out)
  blocks <- cell_blocks(ncol(x), block_cells())
  for (b in seq_along(blocks)) {
    if (b > 1L) between_blocks()
    cells <- blocks[[b]]
    y <- selected_genes(cell_block(x, cells), pp, idx[found])
    out[cells, found] <- (y - rep(pp$mean[found], each = length(cells))) / rep(sds[found], each = length(cells))
  }
  out
}

# Cells x genes `rows` of x, normalised as the model's training data were, dense.
selected_genes <- function(x, pp, rows) {
  y <- if (pp$lognorm) lognormalise(x, pp$target_sum, rows) else x[rows, , drop = FALSE]
  as.matrix(Matrix::t(y))
}

# The data's own means and sds of the model's genes (0 for genes it lacks), without densifying.
own_gene_stats <- function(x, pp, idx, found) {
  mv <- normalised_mean_var(x, pp$lognorm, pp$target_sum, rows = idx[found])
  mean <- sd <- numeric(length(pp$genes))
  mean[found] <- mv$mean
  sd[found] <- sqrt(mv$var)
  list(mean, sd)
}

# The standardised training expression for Rust, delivered block by block (Rust reads it through `fetch`,
# `expression_tensor()` in bindings/vae.rs), so only one block is ever dense in f64. `rows(i)` gives any
# cells (the map's axes).
expression_source <- function(x, pp) {
  blocks <- cell_blocks(ncol(x), block_cells())
  cells <- function(i) subset_cells(x, i) # transform_expression() reads it in blocks
  list(n = as.numeric(ncol(x)), genes = as.numeric(length(pp$genes)), blocks = as.numeric(length(blocks)),
       names = colnames(x),
       fetch = function(b) {
         if (b > 1L) between_blocks()
         transform_expression(cells(blocks[[b]]), pp)
       },
       rows = function(i) transform_expression(cells(i), pp))
}
