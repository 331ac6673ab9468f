#' Procrustes distance between two configurations
#'
#' The normalised Procrustes disparity, identical to
#' `scipy.spatial.procrustes(x, y)[2]`: both configurations are centred and
#' scaled to unit Frobenius norm, `y` is rotated (reflections allowed) and
#' scaled onto `x`, and the sum of squared differences is returned. 0 means
#' identical up to a similarity transform; about 1 means unrelated.
#'
#' @param x,y Numeric matrices or data frames with the same shape (points x
#'   dimensions), e.g. true and reconstructed coordinates. Or `x` a Seurat
#'   object or SingleCellExperiment: then its reduction `reduction` (by
#'   default the positions from [dpvae_reconstruct()]) is aligned onto its
#'   measured coordinates, given by `y` (`NULL`: found as in [morans_i()];
#'   or column names / a matrix); with `aligned = TRUE`, `x` is then the
#'   standardised measured and `y` the aligned reconstructed positions.
#' @param aligned Return the standardised `x` and aligned `y` too.
#' @param reduction For objects: the reduction with the reconstructed
#'   positions.
#' @return The disparity, or with `aligned = TRUE` a list with `disparity`,
#'   `x` and `y`.
#' @export
#' @examples
#' x <- cbind(c(1, 1, 1, 2), c(3, 2, 1, 1))
#' y <- cbind(c(4, 4, 4, 2), c(-2, -4, -6, -6))
#' procrustes_distance(x, y)          # 0: y is x rotated and scaled
#' procrustes_distance(x, y[4:1, ])   # > 0
procrustes_distance <- function(x, y = NULL, aligned = FALSE, reduction = "dpvae") {
  if (is_seurat(x) || is_sce(x)) {
    if (is_seurat(x)) need_seurat_object()
    cells <- colnames(x)
    measured <- metric_coords(metric_object_coords(x, y), cells, length(cells), name = "y")
    y <- metric_reduction(x, reduction)[cells, , drop = FALSE]
    x <- measured
  }
  x <- as_numeric_matrix(x, "x")
  y <- as_numeric_matrix(y, "y")
  res <- rust_result(procrustes_impl(x, y))
  if (aligned) res else res$disparity
}

as_numeric_matrix <- function(x, name, call = rlang::caller_call()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!is.matrix(x) || !is.numeric(x)) {
    dpvae_abort("{.arg {name}} must be a numeric matrix or data frame, not {.cls {class(x)}}.", call = call)
  }
  storage.mode(x) <- "double"
  x
}

# ---------------------------------------------------------------------------------------------
# Shared input handling of the metrics: expression (matrix, dgCMatrix, Seurat, SCE), coordinates,
# seeds and threads.
# ---------------------------------------------------------------------------------------------

# Genes x cells expression for the Rust metrics: a double matrix or a dgCMatrix, never densified.
metric_expression <- function(x, name = "x", lazy = FALSE, call = rlang::caller_call()) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (lazy && is_delayed(x)) return(check_delayed_type(x, name, call)) # read in gene blocks later
  if (methods::is(x, "sparseMatrix")) {
    if (!methods::is(x, "dgCMatrix")) {
      x <- methods::as(methods::as(methods::as(x, "CsparseMatrix"), "generalMatrix"), "dMatrix")
    }
  } else if (methods::is(x, "Matrix")) {
    x <- as.matrix(x)
  } else if (!is.matrix(x) && length(dim(x)) == 2L) {
    # e.g. a DelayedMatrix from an SCE assay
    x <- tryCatch(methods::as(x, "dgCMatrix"), error = function(e) as.matrix(x))
  }
  if (is.matrix(x)) {
    if (!is.numeric(x) && !is.logical(x)) {
      dpvae_abort("{.arg {name}} must be a numeric genes x cells matrix, not a {typeof(x)} matrix.", call = call)
    }
    if (storage.mode(x) != "double") storage.mode(x) <- "double"
  } else if (!methods::is(x, "dgCMatrix")) {
    dpvae_abort(c("{.arg {name}} must be a genes x cells matrix, dgCMatrix, Seurat object or SingleCellExperiment, not {.cls {class(x)}}."),
                call = call)
  }
  x
}

check_delayed_type <- function(x, name, call) {
  type <- DelayedArray::type(x)
  if (!type %in% c("double", "integer", "logical")) {
    dpvae_abort("{.arg {name}} must be a numeric genes x cells matrix, not a {type} matrix.", call = call)
  }
  x
}

# The expression as arguments of the *_impl functions (dgCMatrix slots are passed as they are).
expr_args <- function(x) {
  if (is.matrix(x)) {
    list(dense = x, p = NULL, i = NULL, x = NULL, nrow = nrow(x), ncol = ncol(x))
  } else {
    list(dense = NULL, p = x@p, i = x@i, x = x@x, nrow = nrow(x), ncol = ncol(x))
  }
}

# Coordinates with one row per cell and no NA (metrics need every position).
metric_coords <- function(coords, cells, n, name = "coords", call = rlang::caller_call()) {
  if (is.null(coords)) {
    dpvae_abort("{.arg {name}} is missing: give a cells x 2 (or 3) matrix of spatial coordinates.", call = call)
  }
  if ((is.matrix(coords) || is.data.frame(coords)) && anyNA(coords)) {
    bad <- which(!stats::complete.cases(coords))
    dpvae_abort(c("{.arg {name}} has NA for {length(bad)} cell{?s} (e.g. row {bad[1]}).",
                  i = "Metrics need every cell's position: subset to the cells with coordinates."), call = call)
  }
  coords <- as_coords(coords, cells, call = call)
  if (nrow(coords) != n) {
    dpvae_abort("{.arg {name}} has {nrow(coords)} row{?s} but the data have {n} cell{?s}: give one row per cell.",
                call = call)
  }
  coords
}

# A seed for the Rust PRNG: drawn from R's generator (so set.seed() works) only when needed.
metric_seed <- function(seed, needed, call = rlang::caller_call()) {
  if (!needed) return(0)
  if (is.null(seed)) seed <- sample.int(.Machine$integer.max, 1L)
  check_number(seed, "seed", min = 0, max = 2^52, integer = TRUE, call = call)
  as.numeric(seed)
}

# Threads of the rayon pool: 0 = all cores.
metric_threads <- function(num.threads, call = rlang::caller_call()) {
  fork_guard()
  if (is.null(num.threads)) return(0L)
  check_number(num.threads, "num.threads", min = 1, max = 1024, integer = TRUE, call = call)
  as.integer(num.threads)
}


metric_bioc_fun <- function(pkg, name, call = rlang::caller_call()) {
  if (!requireNamespace(pkg, quietly = TRUE)) {
    dpvae_abort("This needs the {.pkg {pkg}} package (Bioconductor): {.code BiocManager::install(\"{pkg}\")}.",
                kind = "dependency", call = call)
  }
  getExportedValue(pkg, name)
}

# Resolve `x` (matrix, dgCMatrix, Seurat, SingleCellExperiment/SpatialExperiment) and `coords`
# into expression (genes x cells, `features` only), coordinates and where results would go.
metric_input <- function(x, coords, features = NULL, assay = NULL, layer = NULL, assay.type = NULL,
                         lazy = FALSE, call = rlang::caller_call()) {
  kind <- "matrix"
  if (is_seurat(x)) {
    need_seurat_object(call)
    kind <- "seurat"
    assay <- assay %||% SeuratObject::DefaultAssay(x)
    layer <- layer %||% metric_seurat_layer(x, assay)
    expr <- seurat_expression(x, assay = assay, layer = layer, call = call)
    coords <- metric_object_coords(x, coords, call = call)
  } else if (is_sce(x)) {
    kind <- "sce"
    anames <- metric_bioc_fun("SummarizedExperiment", "assayNames", call)(x)
    assay.type <- assay.type %||% intersect(c("logcounts", "counts"), anames)[1]
    if (is.na(assay.type) || !assay.type %in% anames) {
      dpvae_abort(c("The object has no assay {.val {assay.type %|NA|% 'logcounts'}}.",
                    i = "Choose one of {.val {anames}} with {.arg assay.type}."), call = call)
    }
    expr <- metric_bioc_fun("SummarizedExperiment", "assay", call)(x, assay.type, withDimnames = TRUE)
    coords <- metric_object_coords(x, coords, call = call)
  } else {
    expr <- x
  }
  expr <- metric_expression(expr, lazy = lazy, call = call)
  if (is.null(rownames(expr))) rownames(expr) <- paste0("gene", seq_len(nrow(expr)))
  if (!is.null(features)) {
    idx <- if (is.character(features)) match(features, rownames(expr)) else {
      if (is.logical(features) && length(features) == nrow(expr)) which(features) else features
    }
    if (!is.numeric(idx) || anyNA(idx) || any(idx < 1 | idx > nrow(expr)) || !length(idx)) {
      miss <- if (is.character(features)) setdiff(features, rownames(expr)) else character()
      dpvae_abort(c("{.arg features} must name (or index) genes of the data.",
                    if (length(miss)) c(x = "Not found: {.val {utils::head(miss, 5)}}.")), call = call)
    }
    expr <- expr[idx, , drop = FALSE]
  }
  list(kind = kind, object = x, expr = expr, assay = assay,
       coords = metric_coords(coords, colnames(expr), ncol(expr), call = call))
}

`%|NA|%` <- function(a, b) if (length(a) != 1L || is.na(a)) b else a

metric_seurat_layer <- function(object, assay) {
  if (seurat_v5()) {
    if ("data" %in% seurat_fun("Layers")(object[[assay]])) "data" else "counts"
  } else {
    "data"
  }
}

# Coordinates of an object's cells: a reduction ("dpvae" = the reconstructed positions), else what the model
# verbs find (seurat_coords(), sce_coords(): an explicit matrix, column names, spatialCoords(), image
# coordinates or the usual columns of COORD_COLUMN_SETS).
metric_object_coords <- function(object, coords, call = rlang::caller_call()) {
  if (is.character(coords) && length(coords) == 1L) {
    red <- metric_reduction(object, coords, must = FALSE, call = call)
    if (!is.null(red)) {
      if (!ncol(red) %in% 2:3) {
        dpvae_abort("Reduction {.val {coords}} has {ncol(red)} columns; coordinates need 2 or 3.", call = call)
      }
      return(red)
    }
  }
  if (is_seurat(object)) return(seurat_coords(object, coords, call = call))
  sce_coords(object, coords, call = call)
}

# An embedding (cells x dims) of a Seurat reduction / SCE reducedDim, or NULL (must = FALSE).
metric_reduction <- function(object, name, must = TRUE, call = rlang::caller_call()) {
  if (is_seurat(object)) {
    have <- SeuratObject::Reductions(object)
    if (name %in% have) return(SeuratObject::Embeddings(object, name))
  } else if (is_sce(object)) {
    have <- metric_bioc_fun("SingleCellExperiment", "reducedDimNames", call)(object)
    if (name %in% have) {
      m <- as.matrix(metric_bioc_fun("SingleCellExperiment", "reducedDim", call)(object, name))
      if (is.null(rownames(m))) rownames(m) <- colnames(object)
      return(m)
    }
  } else {
    have <- character()
  }
  if (must) {
    dpvae_abort(c("The object has no reduction {.val {name}}.",
                  i = if (length(have)) "It has {.val {have}}." else "Run {.fn dpvae_reconstruct} first."),
                call = call)
  }
  NULL
}

# Per-gene results (data frame with a `gene` column) into the feature metadata of an object:
# Seurat assay meta.features (v4) / meta.data (v5), SCE rowData; columns `<prefix>_<column>`.
metric_store_features <- function(object, assay, res, prefix, call = rlang::caller_call()) {
  vals <- res[, setdiff(names(res), "gene"), drop = FALSE]
  names(vals) <- paste0(prefix, "_", names(vals))
  if (is_seurat(object)) {
    a <- object[[assay]]
    genes <- rownames(a)
    full <- vals[match(genes, res$gene), , drop = FALSE]
    rownames(full) <- genes
    a <- SeuratObject::AddMetaData(a, full)
    object[[assay]] <- a
    return(object)
  }
  genes <- rownames(object)
  full <- vals[match(genes, res$gene), , drop = FALSE]
  rd <- metric_bioc_fun("SummarizedExperiment", "rowData", call)(object)
  for (nm in names(full)) rd[[nm]] <- full[[nm]]
  metric_bioc_fun("SummarizedExperiment", "rowData<-", call)(object, value = rd)
}

# ---------------------------------------------------------------------------------------------
# Distance-expression correlation (paper Fig. 2) and distortion (paper section 4.4)
# ---------------------------------------------------------------------------------------------

#' Correlation between spatial distance and expression dissimilarity
#'
#' How strongly expression encodes space (the premise of the paper's Fig. 2):
#' over pairs of cells, the Pearson and Spearman correlation between the
#' spatial distance `||s_i - s_j||` and the expression dissimilarity
#' `1 - cor(x_i, x_j)` (or the Euclidean distance of the expression
#' profiles). With `n_perm > 0` a one-sided Mantel test (cell labels of the
#' spatial side permuted) gives p-values for a positive association.
#'
#' All pairs are used when there are at most `max_cells` cells; otherwise
#' `n_pairs` pairs are drawn at random (uniformly, with replacement), so time
#' and memory stay linear in the number of pairs. Data on disk (a
#' `DelayedArray`, e.g. an HDF5-backed assay) are read a block of cells at a
#' time and only the cells of the drawn pairs are kept, with the same result
#' as in memory. Pairs whose dissimilarity is
#' undefined (a cell with a constant profile under `"pearson"`) are dropped
#' and counted.
#'
#' @param x Expression, genes x cells: a matrix or `dgCMatrix` (used as
#'   given: normalise counts first, e.g. `log1p` of library-size-normalised
#'   counts), a Seurat object or a SingleCellExperiment / SpatialExperiment.
#' @param coords Spatial coordinates, cells x 2 or 3. For objects: `NULL`
#'   (the measured ones: `spatialCoords()`, Seurat image coordinates or
#'   `x`/`y`-like meta.data / colData columns), column names, or the name of a
#'   reduction such as `"dpvae"` (the reconstructed positions).
#' @param dissimilarity `"pearson"` (`1 - ` correlation of the two cells'
#'   profiles) or `"euclidean"`.
#' @param max_cells Use all pairs up to this many cells.
#' @param n_pairs Number of sampled pairs above `max_cells`.
#' @param n_perm Mantel permutations (0: none).
#' @param seed Seed for pair sampling and permutations; by default drawn from
#'   R's generator, so [set.seed()] makes results reproducible.
#' @param features Genes to use (names, indices or a logical vector); all by
#'   default.
#' @param assay,layer Seurat assay and layer (default: the default assay's
#'   `"data"`, or `"counts"` when there is no `"data"` layer).
#' @param assay.type SingleCellExperiment assay (default `"logcounts"` if
#'   present, else `"counts"`).
#' @param num.threads Threads (default: all cores). Results do not depend on it.
#' @return An object of class `dpvae_spatial_correlation`: a list with
#'   `pearson`, `spearman`, `p_value_pearson`, `p_value_spearman` (`NA`
#'   without permutations), `n_pairs` (pairs used), `n_pairs_dropped`,
#'   `sampled`, `n_perm`, `dissimilarity`, `n_cells`, `n_genes`.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' x <- log1p(mob$counts)
#' spatial_expression_correlation(x, mob$coords, n_perm = 19, seed = 1, num.threads = 1)
spatial_expression_correlation <- function(x, coords = NULL, dissimilarity = c("pearson", "euclidean"),
                                           max_cells = 2000, n_pairs = 2e5, n_perm = 0, seed = NULL,
                                           features = NULL, assay = NULL, layer = NULL, assay.type = NULL,
                                           num.threads = NULL) {
  dissimilarity <- check_choice(dissimilarity, "dissimilarity")
  check_number(max_cells, "max_cells", min = 0, max = 1e6, integer = TRUE)
  check_number(n_pairs, "n_pairs", min = 1, max = 2^31, integer = TRUE)
  check_number(n_perm, "n_perm", min = 0, max = 1e6, integer = TRUE)
  threads <- metric_threads(num.threads)
  inp <- metric_input(x, coords, features = features, assay = assay, layer = layer, assay.type = assay.type,
                      lazy = TRUE)
  n <- ncol(inp$expr)
  seed <- metric_seed(seed, n_perm > 0 || n > max_cells)
  settings <- as_json(list(dissimilarity = dissimilarity, max_cells = max_cells, n_pairs = n_pairs,
                           n_perm = as.integer(n_perm), seed = seed, num_threads = threads))
  expr <- inp$expr
  cells <- NULL
  if (is_delayed(expr)) {
    # on disk: read only the cells the sampled pairs need (all of them up to max_cells), a block at a time
    if (n > max_cells) cells <- rust_result(pair_cells_impl(n, settings))
    expr <- if (is.null(cells)) gene_block(expr) else cells_in_memory(expr, cells)
  }
  res <- rust_result(spatial_expression_correlation_impl(expr_args(expr), inp$coords, cells, settings))
  for (nm in c("p_value_pearson", "p_value_spearman")) if (is.nan(res[[nm]])) res[[nm]] <- NA_real_
  res <- c(res, list(n_perm = as.integer(n_perm), dissimilarity = dissimilarity, n_cells = n,
                     n_genes = nrow(inp$expr)))
  structure(res, class = "dpvae_spatial_correlation")
}

#' @method print dpvae_spatial_correlation
#' @export
print.dpvae_spatial_correlation <- function(x, digits = 4, ...) {
  cat(sprintf("Spatial distance vs expression dissimilarity (%s) over %s %s pairs of %d cells (%d genes)\n",
              if (x$dissimilarity == "pearson") "1 - Pearson" else "Euclidean",
              format(x$n_pairs, big.mark = ","), if (x$sampled) "sampled" else "(all)", x$n_cells, x$n_genes))
  p <- function(v) if (is.na(v)) "" else sprintf("  Mantel p = %s (%d permutations)", format.pval(v, digits = 3), x$n_perm)
  cat(sprintf("  Pearson r  = %s%s\n", format(x$pearson, digits = digits), p(x$p_value_pearson)))
  cat(sprintf("  Spearman r = %s%s\n", format(x$spearman, digits = digits), p(x$p_value_spearman)))
  if (x$n_pairs_dropped > 0) cat(sprintf("  (%s pairs with a constant cell profile dropped)\n", format(x$n_pairs_dropped, big.mark = ",")))
  invisible(x)
}

#' Distortion of a latent embedding relative to spatial coordinates
#'
#' Empirical bi-Lipschitz constants of the map from space to the latent space
#' (paper section 4.4): over pairs of cells, the ratios of latent to spatial
#' distance, `||z_i - z_j|| / ||s_i - s_j||`, give `lower` (their minimum),
#' `upper` (maximum) and `distortion = upper / lower` (1 for a perfect
#' similarity map), robust versions from the 1 % and 99 % quantiles
#' (`robust_distortion = q99 / q01`), the `median` ratio, and the scale-free
#' `stress` `sqrt(sum((d_z - c d_s)^2) / sum(d_z^2))` at the best scale `c`
#' (`scale`). All pairs are used when there are at most `max_pairs`,
#' otherwise `max_pairs` pairs drawn at random.
#'
#' @param latent Latent (or reconstructed) positions, cells x dims; or a
#'   Seurat / SingleCellExperiment object, whose reduction `reduction` is used.
#' @param coords Spatial coordinates, cells x 2 or 3; for objects as in
#'   [spatial_expression_correlation()] (default: the measured ones).
#' @param max_pairs Maximum number of pairs (sampled beyond it).
#' @param seed Seed for pair sampling; by default drawn from R's generator.
#' @param reduction For objects: the reduction holding the latent positions.
#' @param num.threads Threads (default: all cores). Results do not depend on it.
#' @return An object of class `dpvae_distortion`: a list with `lower`,
#'   `upper`, `distortion`, `q01`, `q99`, `robust_distortion`, `median`,
#'   `stress`, `scale`, `n_pairs`, `n_ratio_pairs` (pairs with both distances
#'   positive) and `sampled`.
#' @export
#' @examples
#' s <- matrix(runif(200), 100)
#' z <- 3 * s %*% matrix(c(0, 1, -1, 0), 2) + rnorm(200, sd = 0.01)
#' distortion(z, s, num.threads = 1)
distortion <- function(latent, coords = NULL, max_pairs = 1e6, seed = NULL, reduction = "dpvae_latent",
                       num.threads = NULL) {
  check_number(max_pairs, "max_pairs", min = 1, max = 2^31, integer = TRUE)
  threads <- metric_threads(num.threads)
  if (is_seurat(latent) || is_sce(latent)) {
    if (is_seurat(latent)) need_seurat_object()
    object <- latent
    latent <- metric_reduction(object, reduction)
    coords <- metric_object_coords(object, coords)
    cells <- colnames(object)
  } else {
    latent <- as_numeric_matrix(latent, "latent")
    cells <- rownames(latent)
  }
  if (!is.null(cells) && !is.null(rownames(latent))) latent <- latent[cells, , drop = FALSE]
  coords <- metric_coords(coords, cells, nrow(latent))
  if (anyNA(latent)) {
    dpvae_abort("{.arg latent} has NA values: subset to the cells that have latent positions.")
  }
  n <- nrow(latent)
  seed <- metric_seed(seed, n * (n - 1) / 2 > max_pairs)
  res <- rust_result(distortion_impl(latent, coords, as.numeric(max_pairs), seed, threads))
  structure(res, class = "dpvae_distortion")
}

#' @method print dpvae_distortion
#' @export
print.dpvae_distortion <- function(x, digits = 4, ...) {
  f <- function(v) format(v, digits = digits)
  cat(sprintf("Distortion of latent vs spatial distances over %s %s pairs\n",
              format(x$n_pairs, big.mark = ","), if (x$sampled) "sampled" else "(all)"))
  cat(sprintf("  bi-Lipschitz: lower %s, upper %s, distortion %s\n", f(x$lower), f(x$upper), f(x$distortion)))
  cat(sprintf("  robust (1%%/99%%): %s, %s, distortion %s; median ratio %s\n", f(x$q01), f(x$q99),
              f(x$robust_distortion), f(x$median)))
  cat(sprintf("  stress %s at scale %s\n", f(x$stress), f(x$scale)))
  invisible(x)
}
