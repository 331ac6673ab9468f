# Seurat objects, v4 (Assay, slots) and v5 (Assay5, layers) APIs. SeuratObject is in Suggests.

is_seurat <- function(x) inherits(x, "Seurat")

need_seurat_object <- function(call = rlang::caller_call()) {
  if (!requireNamespace("SeuratObject", quietly = TRUE)) {
    dpvae_abort("Working with Seurat objects needs the {.pkg SeuratObject} package: {.code install.packages(\"SeuratObject\")}.",
                kind = "dependency", call = call)
  }
}

seurat_v5 <- function() utils::packageVersion("SeuratObject") >= "5.0.0"

# v5-only functions, looked up at run time so code for both APIs passes R CMD check on either.
seurat_fun <- function(name) getExportedValue("SeuratObject", name)

#' @noRd
seurat_expression <- function(object, assay = NULL, layer = "counts", call = rlang::caller_call()) {
  need_seurat_object(call)
  assay <- assay %||% SeuratObject::DefaultAssay(object)
  if (!assay %in% SeuratObject::Assays(object)) {
    dpvae_abort("Assay {.val {assay}} is not in the object; it has {.val {SeuratObject::Assays(object)}}.", call = call)
  }
  x <- if (seurat_v5()) {
    layers <- seurat_fun("Layers")(object[[assay]], search = layer)
    if (!length(layers)) {
      have <- seurat_fun("Layers")(object[[assay]])
      dpvae_abort(c("Assay {.val {assay}} has no layer {.val {layer}}.",
                    i = "Choose one of {.val {have}} with {.arg layer}."), call = call)
    }
    if (length(layers) > 1L) split_layers(object, assay, layers, call = call)
    else seurat_fun("LayerData")(object, assay = assay, layer = layers)
  } else {
    slots <- c("counts", "data", "scale.data")
    if (!layer %in% slots) {
      dpvae_abort(c("Assay {.val {assay}} has no slot {.val {layer}}.",
                    i = "With SeuratObject 4, {.arg layer} is one of {.val {slots}}."), call = call)
    }
    SeuratObject::GetAssayData(object, assay = assay, slot = layer)
  }
  if (!length(x) || nrow(x) == 0L) {
    dpvae_abort("The {.val {layer}} data of assay {.val {assay}} are empty.", call = call)
  }
  if (is.null(colnames(x))) colnames(x) <- colnames(object)
  x
}

# A layer split by sample (Seurat v5: counts.1, counts.2, ...), one genes x cells matrix in the object's cell
# order: what JoinLayers() would give, without changing the user's object.
split_layers <- function(object, assay, layers, call = rlang::caller_call()) {
  parts <- lapply(layers, function(l) seurat_fun("LayerData")(object, assay = assay, layer = l))
  genes <- rownames(parts[[1]])
  same <- vapply(parts, function(p) setequal(rownames(p), genes) && nrow(p) == length(genes), logical(1))
  if (!all(same)) {
    dpvae_abort(c("The split layers {.val {layers}} hold different genes.",
                  i = "Join them first: {.code object <- SeuratObject::JoinLayers(object)}."), call = call)
  }
  parts <- lapply(parts, function(p) if (is.matrix(p)) methods::as(p, "CsparseMatrix") else p)
  x <- do.call(cbind, lapply(parts, function(p) p[genes, , drop = FALSE]))
  order <- match(colnames(object), colnames(x))
  x[, order[!is.na(order)], drop = FALSE]
}

#' @noRd
seurat_coords <- function(object, coords = NULL, call = rlang::caller_call()) {
  md <- object[[]]
  if (is.character(coords)) {
    miss <- setdiff(coords, colnames(md))
    if (length(miss)) {
      dpvae_abort("meta.data has no column{?s} {.val {miss}}.", call = call)
    }
    return(as_coords(md[, coords, drop = FALSE], colnames(object), call = call))
  }
  if (!is.null(coords)) return(as_coords(coords, colnames(object), call = call))
  imgs <- SeuratObject::Images(object)
  if (length(imgs)) {
    tc <- SeuratObject::GetTissueCoordinates(object[[imgs[[1]]]])
    xy <- intersect(c("imagecol", "imagerow"), colnames(tc))
    if (length(xy) < 2L) xy <- intersect(c("x", "y"), colnames(tc))
    if (length(xy) == 2L) {
      m <- as.matrix(tc[, xy])
      rownames(m) <- if ("cell" %in% colnames(tc)) tc$cell else rownames(tc)
      full <- matrix(NA_real_, ncol(object), 2, dimnames = list(colnames(object), NULL))
      hit <- intersect(rownames(m), colnames(object))
      full[hit, ] <- m[hit, ]
      return(as_coords(full, colnames(object), call = call))
    }
  }
  set <- find_coord_columns(colnames(md))
  if (!is.null(set)) return(as_coords(md[, set, drop = FALSE], colnames(object), call = call))
  dpvae_abort(c("Could not find spatial coordinates in the Seurat object.",
                i = "Give them with {.arg coords}: meta.data column names (e.g. {.code c(\"x\", \"y\")}) or a cells x 2 matrix."),
              call = call)
}

#' @noRd
seurat_store <- function(object, coords, latent, model, uncertainty = NULL, outlier_score = NULL, map = NULL,
                         sample_spread = NULL) {
  assay <- SeuratObject::DefaultAssay(object)
  d <- ncol(coords)
  emb <- coords
  colnames(emb) <- paste0("dpvae_", seq_len(d))
  object[["dpvae"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "dpvae_", assay = assay)
  lat <- latent
  colnames(lat) <- paste0("dpvaelatent_", seq_len(ncol(lat)))
  object[["dpvae_latent"]] <- SeuratObject::CreateDimReducObject(embeddings = lat, key = "dpvaelatent_", assay = assay)
  md <- as.data.frame(coords)
  names(md) <- paste0("dpvae_", c("x", "y", "z")[seq_len(d)])
  if (!is.null(uncertainty)) md$dpvae_uncertainty <- unname(uncertainty)
  if (!is.null(sample_spread)) md$dpvae_sample_spread <- unname(sample_spread)
  if (!is.null(outlier_score)) md$dpvae_outlier_score <- unname(outlier_score)
  object <- SeuratObject::AddMetaData(object, md)
  # Not Misc<-: it drops the S3 class of list values (c(value)) and warns on overwrite.
  methods::slot(object, "misc")[["dpvae"]] <- model
  methods::slot(object, "misc")[["dpvae_map"]] <- map
  object
}

#' @rdname dpvae_fit
#' @param assay,layer For Seurat objects: the assay (default: the default
#'   assay) and layer (slot with SeuratObject 4) holding the expression.
#' @method dpvae_fit Seurat
#' @export
dpvae_fit.Seurat <- function(x, coords = NULL, ..., assay = NULL, layer = "counts") {
  need_seurat_object()
  dpvae_fit(seurat_expression(x, assay = assay, layer = layer), seurat_coords(x, coords), ...)
}
