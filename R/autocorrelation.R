#' Spatial autocorrelation of genes: Moran's I and Geary's C
#'
#' Per gene, Moran's I and Geary's C with spatial weights from the cells'
#' k nearest neighbours (exact, k-d tree, 2-D or 3-D) or given weights, with
#' the analytic tests of spdep's [spdep::moran.test()] /
#' [spdep::geary.test()] (identical values), optional permutation p-values,
#' and Benjamini-Hochberg adjusted p-values. Sparse expression stays sparse.
#' `morans_i()` and `gearys_c()` compute one statistic;
#' `spatial_autocorrelation()` both in one pass (the cost of one).
#'
#' With `n` cells, `z = x - mean(x)`, weights `w_ij` and `S0 = sum(w_ij)`:
#' `I = n / S0 * sum_ij w_ij z_i z_j / sum_i z_i^2` and
#' `C = (n - 1) / (2 S0) * sum_ij w_ij (x_i - x_j)^2 / sum_i z_i^2` (`n`
#' counts only cells with at least one neighbour, as spdep's `adjust.n`).
#' `I` above its expectation `-1/(n - 1)` and `C` below 1 mean positive
#' spatial autocorrelation (similar values next to each other); for both,
#' `alternative = "greater"` tests for it, and `z` is positive then (for
#' Geary `z = (1 - C) / sd`, spdep's sign).
#'
#' Weights: binary kNN weights (`w_ij = 1` if `j` is one of the `k` nearest
#' neighbours of `i`, not symmetrised: spdep's
#' `nb2listw(knn2nb(knearneigh(coords, k)), style = "B")`, and scanpy's
#' `morans_i`/`gearys_c` on a kNN graph); `style = "W"` row-standardises
#' them (`1/k`). Equal distances are broken by the lower cell index, as spdep.
#'
#' Constant genes (all values equal, e.g. never detected) have no defined
#' statistic: their values are `NA` and `constant` is `TRUE`; they are not an
#' error and do not count in the p-value adjustment.
#'
#' @param x Expression, genes x cells: a matrix or `dgCMatrix` (used as given,
#'   e.g. log-normalised), a Seurat object (v4 or v5) or a
#'   SingleCellExperiment / SpatialExperiment. An on-disk `DelayedArray`
#'   (e.g. HDF5-backed) is read a block of genes at a time, each block's
#'   reading at most `options(dpvae.metric_block_mb = 1000)` MB in memory,
#'   and never loaded whole.
#' @param coords Spatial coordinates, cells x 2 or 3 (not needed with
#'   `weights`). For objects: `NULL` for the measured positions
#'   (SpatialExperiment `spatialCoords()`, Seurat image coordinates or
#'   `x`/`y`-like meta.data / colData columns), meta.data / colData column
#'   names, or the name of a reduction such as `"dpvae"` (the positions
#'   reconstructed by [dpvae_reconstruct()]).
#' @param k Number of nearest neighbours.
#' @param weights Instead of kNN: spatial weights, a cells x cells matrix or
#'   sparse `Matrix` (`w_ij` = weight of neighbour `j` for cell `i`), or an
#'   spdep `listw` / `nb` object.
#' @param style `"B"` (binary) or `"W"` (row-standardised). Default: `"B"`
#'   for kNN weights; user `weights` are used as given unless `style` is set
#'   (`"B"` turns non-zero weights into 1).
#' @param randomisation Report the variance, `z` and p-value under
#'   randomisation (`TRUE`, spdep's default) or under normality.
#' @param alternative `"greater"` (positive autocorrelation, spdep's
#'   default), `"less"` or `"two.sided"`.
#' @param n_perm Number of permutations for permutation p-values (0: none).
#'   Permutation `k` is the same for every gene, so a gene's p-value depends
#'   only on its values, the weights and `seed`.
#' @param seed Seed of the permutations; by default drawn from R's generator,
#'   so [set.seed()] makes results reproducible.
#' @param p.adjust.method Method of [stats::p.adjust()] for `p_adj`.
#' @param features Genes to test (names, indices or a logical vector); all
#'   by default. For objects, other genes get `NA`.
#' @param assay,layer Seurat assay and layer (default: the default assay's
#'   `"data"`, or `"counts"` when there is no `"data"` layer).
#' @param assay.type SingleCellExperiment assay (default `"logcounts"` if
#'   present, else `"counts"`).
#' @param name For objects: prefix of the feature-metadata columns.
#' @param num.threads Threads (default: all cores). Results do not depend on
#'   it.
#' @param BPPARAM `NULL`, or a BiocParallel parameter object: the genes are
#'   split into one block per worker, or more for a `DelayedArray` (each
#'   worker then reads its own genes); each gene's statistic and permutations
#'   do not depend on the others, so results equal the serial ones.
#' @return For a matrix: a data frame with one row per gene and columns
#'   `gene`, `statistic`, `expected`, `variance`, `z`, `p_value`, `p_adj`
#'   (and `p_perm`, `p_perm_adj` with `n_perm > 0`) and `constant`;
#'   `spatial_autocorrelation()` has these columns prefixed `moran_` and
#'   `geary_`. The settings are in `attr(, "parameters")`. For a Seurat object
#'   or SingleCellExperiment: the object, with the columns (without `gene` and
#'   `constant`, prefixed `<name>_`) added to the assay's feature metadata
#'   (`object[[assay]][[]]`) / `rowData()`.
#' @seealso [spatial_expression_correlation()], spdep's
#'   [spdep::moran.test()], [spdep::geary.test()].
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' x <- log1p(mob$counts[1:200, ])
#' res <- morans_i(x, mob$coords, k = 5, num.threads = 1)
#' head(res[order(-res$statistic), ])
#' gearys_c(x[1:5, ], mob$coords, n_perm = 99, seed = 1, num.threads = 1)
#' both <- spatial_autocorrelation(x, mob$coords, style = "W", num.threads = 1)
#' plot(both$moran_statistic, both$geary_statistic)
morans_i <- function(x, coords = NULL, k = 5, weights = NULL, style = NULL, randomisation = TRUE,
                     alternative = c("greater", "less", "two.sided"), n_perm = 0, seed = NULL,
                     p.adjust.method = "BH", features = NULL, assay = NULL, layer = NULL,
                     assay.type = NULL, name = "moran_i", num.threads = NULL, BPPARAM = NULL) {
  alternative <- check_choice(alternative, "alternative")
  autocorrelation_verb("moran", x, coords, k, weights, style, randomisation, alternative, n_perm,
                       seed, p.adjust.method, features, assay, layer, assay.type, name, num.threads, BPPARAM)
}

#' @rdname morans_i
#' @export
gearys_c <- function(x, coords = NULL, k = 5, weights = NULL, style = NULL, randomisation = TRUE,
                     alternative = c("greater", "less", "two.sided"), n_perm = 0, seed = NULL,
                     p.adjust.method = "BH", features = NULL, assay = NULL, layer = NULL,
                     assay.type = NULL, name = "geary_c", num.threads = NULL, BPPARAM = NULL) {
  alternative <- check_choice(alternative, "alternative")
  autocorrelation_verb("geary", x, coords, k, weights, style, randomisation, alternative, n_perm,
                       seed, p.adjust.method, features, assay, layer, assay.type, name, num.threads, BPPARAM)
}

#' @rdname morans_i
#' @export
spatial_autocorrelation <- function(x, coords = NULL, k = 5, weights = NULL, style = NULL,
                                    randomisation = TRUE, alternative = c("greater", "less", "two.sided"),
                                    n_perm = 0, seed = NULL, p.adjust.method = "BH", features = NULL,
                                    assay = NULL, layer = NULL, assay.type = NULL,
                                    name = c("moran_i", "geary_c"), num.threads = NULL, BPPARAM = NULL) {
  alternative <- check_choice(alternative, "alternative")
  autocorrelation_verb(c("moran", "geary"), x, coords, k, weights, style, randomisation, alternative, n_perm,
                       seed, p.adjust.method, features, assay, layer, assay.type, name, num.threads, BPPARAM)
}

autocorrelation_verb <- function(stats, x, coords, k, weights, style, randomisation, alternative, n_perm,
                                 seed, p.adjust.method, features, assay, layer, assay.type, name,
                                 num.threads, BPPARAM = NULL, call = rlang::caller_call()) {
  check_bpparam(BPPARAM, call = call)
  if (!is.null(style) && !(is.character(style) && length(style) == 1L && style %in% c("B", "W"))) {
    dpvae_abort("{.arg style} must be {.val B} (binary) or {.val W} (row-standardised), not {.val {format(style)}}.",
                call = call)
  }
  if (!isTRUE(randomisation) && !isFALSE(randomisation)) {
    dpvae_abort("{.arg randomisation} must be TRUE or FALSE.", call = call)
  }
  check_number(n_perm, "n_perm", min = 0, max = 1e7, integer = TRUE, call = call)
  if (!is.character(p.adjust.method) || length(p.adjust.method) != 1L ||
      !p.adjust.method %in% stats::p.adjust.methods) {
    dpvae_abort("{.arg p.adjust.method} must be one of {.val {stats::p.adjust.methods}}.", call = call)
  }
  if (!is.character(name) || length(name) != length(stats) || anyNA(name)) {
    dpvae_abort("{.arg name} must be {length(stats)} string{?s}.", call = call)
  }
  threads <- metric_threads(num.threads, call = call)
  object_input <- is_seurat(x) || is_sce(x)
  if (is.null(weights)) {
    check_number(k, "k", min = 1, max = .Machine$integer.max, integer = TRUE, call = call)
    inp <- metric_input(x, coords, features = features, assay = assay, layer = layer,
                        assay.type = assay.type, lazy = TRUE, call = call)
    n <- ncol(inp$expr)
    if (k >= n) {
      dpvae_abort("{.arg k} = {k} neighbours, but there are only {n} cells: use {.arg k} < {n}.", call = call)
    }
    w <- list(coords = inp$coords, k = as.integer(k), p = NULL, j = NULL, x = NULL)
    style_used <- style %||% "B"
  } else {
    if (!is.null(coords)) {
      dpvae_abort("Give either {.arg coords} (kNN weights) or {.arg weights}, not both.", call = call)
    }
    inp <- metric_input(x, coords = matrix(0, ncol(x), 2, dimnames = list(colnames(x), NULL)),
                        features = features, assay = assay, layer = layer, assay.type = assay.type,
                        lazy = TRUE, call = call)
    n <- ncol(inp$expr)
    w <- c(list(coords = NULL, k = 0L), weights_csr(weights, n, call = call))
    style_used <- style %||% ""
  }
  seed <- metric_seed(seed, n_perm > 0, call = call)
  settings <- list(style = style_used, n_perm = as.integer(n_perm), seed = seed, alternative = alternative,
                   num_threads = threads)
  res <- autocorrelation_by_genes(inp$expr, w, as_json(settings), BPPARAM, call = call)
  genes <- rownames(inp$expr)
  one <- function(s) {
    r <- res[[s]]
    na <- function(v) replace(v, is.nan(v), NA_real_)
    v <- if (randomisation) "randomisation" else "normal"
    out <- data.frame(gene = genes, statistic = na(r$statistic), expected = na(r$expected),
                      variance = na(r[[paste0("variance_", v)]]), z = na(r[[paste0("z_", v)]]),
                      p_value = na(r[[paste0("p_", v)]]), stringsAsFactors = FALSE)
    out$p_adj <- stats::p.adjust(out$p_value, method = p.adjust.method)
    if (n_perm > 0) {
      out$p_perm <- na(r$p_perm)
      out$p_perm_adj <- stats::p.adjust(out$p_perm, method = p.adjust.method)
    }
    out
  }
  params <- list(k = if (is.null(weights)) as.integer(k) else NA_integer_,
                 weights = if (is.null(weights)) "knn" else "user", style = style_used,
                 randomisation = randomisation, alternative = alternative, n_perm = as.integer(n_perm),
                 seed = if (n_perm > 0) seed else NA_real_, p.adjust.method = p.adjust.method, n_cells = n)
  if (object_input) {
    for (t in seq_along(stats)) {
      x <- metric_store_features(x, inp$assay, one(stats[t]), name[t], call = call)
    }
    return(x)
  }
  if (length(stats) == 1L) {
    out <- one(stats)
  } else {
    parts <- lapply(stats, function(s) {
      d <- one(s)[, -1L, drop = FALSE]
      names(d) <- paste0(s, "_", names(d))
      d
    })
    out <- do.call(cbind, c(list(data.frame(gene = genes, stringsAsFactors = FALSE)), parts))
  }
  out$constant <- res$constant
  rownames(out) <- NULL
  attr(out, "parameters") <- params
  out
}

# User spatial weights -> 0-based CSR arrays (p, j, x) of an n x n matrix, explicit zeros dropped.
weights_csr <- function(weights, n, call = rlang::caller_call()) {
  if (inherits(weights, "listw")) {
    return(nb_csr(weights$neighbours, weights$weights, n, call))
  }
  if (inherits(weights, "nb")) {
    return(nb_csr(weights, NULL, n, call))
  }
  if (is.data.frame(weights)) weights <- as.matrix(weights)
  if (!(is.matrix(weights) && (is.numeric(weights) || is.logical(weights))) && !methods::is(weights, "Matrix")) {
    dpvae_abort(c("{.arg weights} must be a cells x cells matrix, a sparse {.cls Matrix}, or an spdep {.cls listw}/{.cls nb}, not {.cls {class(weights)}}."),
                call = call)
  }
  if (nrow(weights) != n || ncol(weights) != n) {
    dpvae_abort("{.arg weights} must be {n} x {n} (cells x cells), not {nrow(weights)} x {ncol(weights)}.", call = call)
  }
  if (is.matrix(weights)) storage.mode(weights) <- "double"
  w <- Matrix::drop0(methods::as(methods::as(weights, "dMatrix"), "generalMatrix"))
  w <- methods::as(w, "RsparseMatrix")
  if (anyNA(w@x) || any(!is.finite(w@x))) {
    dpvae_abort("{.arg weights} contains NA or infinite values.", call = call)
  }
  list(p = w@p, j = w@j, x = w@x)
}

nb_csr <- function(nb, wl, n, call) {
  if (length(nb) != n) {
    dpvae_abort("{.arg weights} describe {length(nb)} cells but the data have {n}.", call = call)
  }
  empty <- vapply(nb, function(v) length(v) == 0L || (length(v) == 1L && v[1] == 0L), logical(1))
  lens <- ifelse(empty, 0L, lengths(nb))
  j <- as.integer(unlist(nb[!empty], use.names = FALSE)) - 1L
  x <- if (is.null(wl)) rep(1, length(j)) else as.numeric(unlist(wl[!empty], use.names = FALSE))
  if (length(x) != length(j)) {
    dpvae_abort("{.arg weights}: neighbour and weight lists differ in length.", call = call)
  }
  keep <- x != 0
  if (!all(keep)) {
    rows <- rep.int(seq_len(n), lens)
    j <- j[keep]
    x <- x[keep]
    lens <- tabulate(rows[keep], nbins = n)
  }
  list(p = c(0L, cumsum(as.integer(lens))), j = j, x = x)
}

# moran_geary_impl over blocks of genes: every gene's statistic and permutations are independent of the
# others, so the result is the serial one whatever the blocks. In memory the genes are one block (one per
# worker with BPPARAM); a DelayedArray is read a gene block at a time (metric_gene_blocks()), on the
# workers when there are some, so it is never realised whole.
autocorrelation_by_genes <- function(expr, weights, settings_json, BPPARAM = NULL, call = rlang::caller_call()) {
  workers <- if (is.null(BPPARAM)) 1L else max(1L, BiocParallel::bpnworkers(BPPARAM))
  rows <- metric_gene_blocks(expr, workers, call = call)
  if (length(rows) == 1L) return(moran_geary_block(expr, weights, settings_json, call = call))
  parts <- lapply(rows, function(r) expr[r, , drop = FALSE]) # lazy for a DelayedArray
  out <- if (is.null(BPPARAM)) {
    lapply(seq_along(parts), function(b) {
      if (b > 1L) between_blocks()
      moran_geary_block(parts[[b]], weights, settings_json, call = call)
    })
  } else {
    BiocParallel::bplapply(parts, moran_geary_block, weights = weights, settings_json = settings_json,
                           BPPARAM = BPPARAM)
  }
  fields <- function(stat) {
    names <- names(out[[1]][[stat]])
    stats::setNames(lapply(names, function(f) unlist(lapply(out, function(p) p[[stat]][[f]]), use.names = FALSE)),
                    names)
  }
  list(moran = fields("moran"), geary = fields("geary"),
       constant = unlist(lapply(out, `[[`, "constant"), use.names = FALSE))
}

moran_geary_block <- function(expr, weights, settings_json, call = rlang::caller_call()) {
  fork_guard()
  rust_result(moran_geary_impl(expr_args(gene_block(expr)), weights, settings_json), call = call)
}
