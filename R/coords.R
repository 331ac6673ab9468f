# Spatial coordinates: checked, matched to cells, NA rows mark cells whose position is unknown.

COORD_LIMIT <- 1e15

#' @noRd
as_coords <- function(coords, cells, call = rlang::caller_call()) {
  if (missing(coords) || is.null(coords)) {
    dpvae_abort(c("No coordinates given.", i = "Give {.arg coords}: a cells x 2 (or 3) matrix of positions (NA for cells to place)."),
                call = call)
  }
  if (is.data.frame(coords)) {
    num <- vapply(coords, is.numeric, logical(1))
    if (!all(num)) {
      dpvae_abort("Coordinate columns must be numeric; {.val {names(coords)[!num]}} {?is/are} not.", call = call)
    }
    coords <- as.matrix(coords)
  }
  if (!is.matrix(coords) || !is.numeric(coords)) {
    dpvae_abort(c("{.arg coords} must be a numeric cells x 2 (or 3) matrix or data frame, not {.cls {class(coords)}}.",
                  i = "For Seurat objects you can also give meta.data column names, e.g. {.code coords = c(\"x\", \"y\")}."),
                call = call)
  }
  if (!ncol(coords) %in% 2:3) {
    dpvae_abort("{.arg coords} must have 2 or 3 columns (x, y[, z]), not {ncol(coords)}.", call = call)
  }
  if (!is.null(rownames(coords)) && !is.null(cells) && (anyDuplicated(rownames(coords)) || anyDuplicated(cells))) {
    dup <- c(rownames(coords)[duplicated(rownames(coords))], cells[duplicated(cells)])[1]
    dpvae_abort(c("Cell names are duplicated (e.g. {.val {dup}}), so named coordinates cannot be matched to cells.",
                  i = "Make the cell names unique (e.g. {.code make.unique()}) in the data and in {.arg coords}."),
                call = call)
  }
  if (!is.null(rownames(coords)) && !is.null(cells) &&
      !(length(cells) == nrow(coords) && all(rownames(coords) == cells))) {
    idx <- match(cells, rownames(coords))
    if (anyNA(idx)) {
      dpvae_abort(c("{.arg coords} has row names, but {sum(is.na(idx))} cell{?s} {?is/are} missing from them (e.g. {.val {cells[is.na(idx)][1]}}).",
                    i = "Give one row per cell, named by cell, or an unnamed matrix in cell order."), call = call)
    }
    coords <- coords[idx, , drop = FALSE]
  }
  if (!is.null(cells) && nrow(coords) != length(cells)) {
    dpvae_abort("{.arg coords} has {nrow(coords)} row{?s} but the data have {length(cells)} cell{?s}: give one row per cell.",
                call = call)
  }
  if (any(is.infinite(coords))) {
    dpvae_abort("{.arg coords} contains infinite values.", call = call)
  }
  # squared distances must stay finite in double precision (and in the single precision of training)
  if (any(abs(coords) > COORD_LIMIT, na.rm = TRUE)) {
    dpvae_abort(c("{.arg coords} has values up to {format(max(abs(coords), na.rm = TRUE), digits = 3)}: too large to compute distances with.",
                  i = "Rescale them (e.g. to micrometres or pixels) before fitting; only relative positions matter."),
                call = call)
  }
  partial <- rowSums(is.na(coords))
  if (any(partial > 0 & partial < ncol(coords))) {
    dpvae_abort(c("Some cells have only part of their coordinates (e.g. x but no y).",
                  i = "A cell's coordinates must be all known or all NA (NA = position to reconstruct)."), call = call)
  }
  storage.mode(coords) <- "double"
  colnames(coords) <- c("x", "y", "z")[seq_len(ncol(coords))]
  rownames(coords) <- cells
  coords
}
