# Bioconductor SingleCellExperiment and SpatialExperiment (a SingleCellExperiment subclass).
# Both packages are in Suggests; everything goes through requireNamespace() and `::`.

is_sce <- function(x) isS4(x) && methods::is(x, "SingleCellExperiment")

is_spe <- function(x) isS4(x) && methods::is(x, "SpatialExperiment")

need_sce <- function(call = rlang::caller_call()) {
  if (!requireNamespace("SingleCellExperiment", quietly = TRUE)) {
    dpvae_abort("Working with SingleCellExperiment objects needs the {.pkg SingleCellExperiment} package: {.code BiocManager::install(\"SingleCellExperiment\")}.",
                kind = "dependency", call = call)
  }
}

# Cell names of an SCE; positions when it has none (results are stored by position anyway).
sce_cells <- function(x) colnames(x) %||% as.character(seq_len(ncol(x)))

#' @noRd
sce_expression <- function(x, assay.type = "counts", call = rlang::caller_call()) {
  need_sce(call)
  if (!is.character(assay.type) || length(assay.type) != 1L) {
    dpvae_abort("{.arg assay.type} must be one assay name, e.g. {.val counts}.", call = call)
  }
  have <- SummarizedExperiment::assayNames(x)
  if (!assay.type %in% have) {
    dpvae_abort(c("The object has no assay {.val {assay.type}}.",
                  i = if (length(have)) "Choose one of {.val {have}} with {.arg assay.type}." else "It has no assays at all."),
                call = call)
  }
  m <- SummarizedExperiment::assay(x, assay.type, withDimnames = TRUE)
  if (!is.matrix(m) && !methods::is(m, "Matrix") && !is_delayed(m)) {
    m <- tryCatch(methods::as(m, "dgCMatrix"), error = function(e) as.matrix(m))
  } # a DelayedArray (HDF5Array, ...) stays on disk and is read in blocks of cells (R/blocks.R)
  if (nrow(m) == 0L || ncol(m) == 0L) {
    dpvae_abort("Assay {.val {assay.type}} is empty ({nrow(m)} genes x {ncol(m)} cells).", call = call)
  }
  colnames(m) <- sce_cells(x)
  as_expression(m, call = call)
}

#' Coordinates of an SCE: explicit (matrix, data frame or colData/spatialCoords column names), else
#' SpatialExperiment spatialCoords(), else common colData columns.
#' @noRd
sce_coords <- function(x, coords = NULL, call = rlang::caller_call()) {
  need_sce(call)
  cells <- sce_cells(x)
  cd <- as.data.frame(SummarizedExperiment::colData(x))
  if (is_spe(x)) {
    sc <- SpatialExperiment::spatialCoords(x)
    if (is.character(coords) && all(coords %in% colnames(sc)) && !all(coords %in% colnames(cd))) {
      return(as_coords(unname_rows(sc[, coords, drop = FALSE]), cells, call = call))
    }
  }
  if (is.character(coords)) {
    miss <- setdiff(coords, colnames(cd))
    if (length(miss)) {
      dpvae_abort(c("colData has no column{?s} {.val {miss}}.",
                    i = "Give colData (or spatialCoords) column names, or a cells x 2 matrix."), call = call)
    }
    return(as_coords(unname_rows(cd[, coords, drop = FALSE]), cells, call = call))
  }
  if (!is.null(coords)) {
    if (is.null(colnames(x))) coords <- unname_rows(coords)
    return(as_coords(coords, cells, call = call))
  }
  if (is_spe(x)) {
    sc <- SpatialExperiment::spatialCoords(x)
    if (ncol(sc) %in% 2:3 && nrow(sc) == ncol(x)) return(as_coords(unname_rows(sc), cells, call = call))
  }
  set <- find_coord_columns(colnames(cd))
  if (!is.null(set)) return(as_coords(unname_rows(cd[, set, drop = FALSE]), cells, call = call))
  dpvae_abort(c("Could not find spatial coordinates in the {.cls {class(x)[1]}}.",
                i = "Give them with {.arg coords}: colData column names (e.g. {.code c(\"x\", \"y\")}) or a cells x 2 matrix."),
              call = call)
}

# Row names of colData/spatialCoords are the cell names already; drop them so cell order is used.
unname_rows <- function(m) {
  if (is.data.frame(m)) m <- as.matrix(m)
  rownames(m) <- NULL
  m
}

#' @noRd
sce_store <- function(object, coords, latent, model, extra = NULL, map = NULL) {
  d <- ncol(coords)
  emb <- coords
  colnames(emb) <- paste0("dpvae_", seq_len(d))
  lat <- latent
  colnames(lat) <- paste0("dpvaelatent_", seq_len(ncol(lat))) # the Seurat key (no inner underscore allowed there)
  rownames(emb) <- rownames(lat) <- colnames(object)
  SingleCellExperiment::reducedDim(object, "dpvae") <- emb
  SingleCellExperiment::reducedDim(object, "dpvae_latent") <- lat
  for (j in seq_len(d)) {
    SummarizedExperiment::colData(object)[[paste0("dpvae_", c("x", "y", "z")[j])]] <- unname(coords[, j])
  }
  # per-cell extras: dpvae_uncertainty, dpvae_imputed_*
  for (nm in names(extra)) SummarizedExperiment::colData(object)[[nm]] <- unname(extra[[nm]])
  md <- S4Vectors::metadata(object)
  md$dpvae <- model
  md$dpvae_map <- map
  S4Vectors::metadata(object) <- md
  object
}

#' @rdname dpvae_fit
#' @param assay.type For `SingleCellExperiment` / `SpatialExperiment`
#'   objects: the assay holding the expression (raw counts by default).
#' @section Seurat and Bioconductor objects: For a Seurat object,
#'   `coords` may be meta.data column names; by default the image's tissue
#'   coordinates or columns such as `x`/`y` are used. For a
#'   `SingleCellExperiment`, `coords` may be colData column names; by default
#'   a `SpatialExperiment`'s `spatialCoords()` are used, else colData columns
#'   such as `x`/`y`, `imagecol`/`imagerow`, `pxl_col_in_fullres`/
#'   `pxl_row_in_fullres` or `array_col`/`array_row`.
#' @method dpvae_fit SingleCellExperiment
#' @export
dpvae_fit.SingleCellExperiment <- function(x, coords = NULL, ..., assay.type = "counts") {
  need_sce()
  dpvae_fit(sce_expression(x, assay.type = assay.type), sce_coords(x, coords), ...)
}

#' @rdname dpvae_reconstruct
#' @param assay.type For `SingleCellExperiment` / `SpatialExperiment`
#'   objects: the assay holding the expression (raw counts by default).
#' @section SingleCellExperiment and SpatialExperiment: The object is
#'   returned with `reducedDim(x, "dpvae")` (reconstructed coordinates),
#'   `reducedDim(x, "dpvae_latent")`, colData columns `dpvae_x`, `dpvae_y`
#'   (`dpvae_z`) and the model in `metadata(x)$dpvae`. A SpatialExperiment's
#'   measured `spatialCoords()` are never changed. Coordinates are found as in
#'   [dpvae_fit()]; `reference` may also be a `SingleCellExperiment` or
#'   `SpatialExperiment` with coordinates, or a list of several reference
#'   sections (fitted together, each section its own mask group).
#' @export
dpvae_reconstruct.SingleCellExperiment <- function(object, coords = NULL, reference = NULL, model = NULL, ...,
                                                   assay.type = "counts", n_samples = 0,
                                                   impute = c("mds", "encoder"), complete = FALSE,
                                                   placement = c("auto", "map", "mean", "encoder"), device = "auto",
                                                   verbose = interactive(), BPPARAM = NULL) {
  need_sce()
  impute <- check_choice(impute, "impute")
  placement <- check_choice(placement, "placement")
  x <- sce_expression(object, assay.type = assay.type)
  # Without reference/model the object's own coordinates train the model; otherwise they are optional
  # (only marks which cells were measured).
  if (is.null(reference) && is.null(model)) coords <- sce_coords(object, coords)
  else if (!is.null(coords)) coords <- sce_coords(object, coords)
  res <- reconstruct_cells(x, coords, reference, model, device = device, verbose = verbose, ...,
                           n_samples = n_samples, impute = impute, complete = complete,
                           placement = placement, BPPARAM = BPPARAM)
  extra <- c(list(dpvae_uncertainty = res$uncertainty),
             if (!is.null(res$sample_spread)) list(dpvae_sample_spread = res$sample_spread),
             list(dpvae_outlier_score = res$outlier_score),
             if (!is.null(res$imputed)) as.list(as.data.frame(res$imputed)))
  sce_store(object, res$coords, res$latent, res$model, extra, map = res$map)
}
