# Input classes shared by every verb: expression and coordinates of any supported object, the
# reference argument, gene matching between a reference and a query, and the model stored in an
# object by an earlier call.

# Expression (genes x cells) of a matrix, dgCMatrix, Seurat or SingleCellExperiment object.
#' @noRd
object_expression <- function(x, assay = NULL, layer = "counts", assay.type = "counts", call = rlang::caller_call()) {
  if (is_seurat(x)) return(seurat_expression(x, assay = assay, layer = layer, call = call))
  if (is_sce(x)) return(sce_expression(x, assay.type = assay.type, call = call))
  as_expression(x, call = call)
}

# Spatial coordinates of an object, found automatically (NULL when there are none and `required` is FALSE).
#' @noRd
object_coords <- function(x, coords = NULL, required = TRUE, call = rlang::caller_call()) {
  found <- tryCatch(
    if (is_seurat(x)) seurat_coords(x, coords, call = call)
    else if (is_sce(x)) sce_coords(x, coords, call = call)
    else if (is.null(coords)) NULL
    else as_coords(coords, colnames(x), call = call),
    dpvae_error_input = function(e) if (required || !is.null(coords)) stop(e) else NULL)
  if (is.null(found) && required) {
    dpvae_abort("No spatial coordinates: give {.arg coords}.", call = call)
  }
  found
}

# meta.data / colData column sets commonly used for positions, tried in this order by every class: generic
# x/y(/z), Visium's image and array columns, Xenium/MERFISH centroids, Giotto's sdimx/sdimy.
COORD_COLUMN_SETS <- list(
  c("x", "y", "z"), c("x", "y"), c("X", "Y"), c("imagecol", "imagerow"),
  c("pxl_col_in_fullres", "pxl_row_in_fullres"), c("array_col", "array_row"), c("col", "row"),
  c("x_centroid", "y_centroid"), c("center_x", "center_y"), c("sdimx", "sdimy")
)

# The first of COORD_COLUMN_SETS whose columns are all in `columns`, or NULL.
find_coord_columns <- function(columns) {
  for (set in COORD_COLUMN_SETS) if (all(set %in% columns)) return(set)
  NULL
}

# A list of several sections (Seurat / SCE objects, or list(counts, coords) records).
is_section_list <- function(x) {
  is.list(x) && !is.data.frame(x) && !is_seurat(x) && !is_sce(x) &&
    !all(c("counts", "coords") %in% names(x)) && length(x) >= 1L &&
    all(vapply(x, function(s) is_seurat(s) || is_sce(s) || (is.list(s) && all(c("counts", "coords") %in% names(s))),
               logical(1)))
}

# The reference of `dpvae_reconstruct(reference = )` as expression + coordinates, for the classes the
# Seurat/list code in reconstruct.R does not handle (SingleCellExperiment/SpatialExperiment, lists of
# sections). NULL: not one of those.
#' @noRd
reference_input <- function(reference, call = rlang::caller_call()) {
  if (is_sce(reference)) {
    return(list(x = sce_expression(reference, call = call), coords = sce_coords(reference, call = call)))
  }
  if (is_section_list(reference)) {
    if (length(reference) == 1L) {
      one <- reference[[1]]
      return(reference_input(one, call = call) %||% as_reference(one, call = call))
    }
    return(join_sections(reference, call = call))
  }
  NULL
}

# Several sections trained jointly: their shared genes, cells side by side, and a section label per
# cell that becomes the dp mask, so distances between cells of different sections never count.
#' @noRd
join_sections <- function(sections, call = rlang::caller_call()) {
  parts <- lapply(sections, function(one) reference_input(one, call = call) %||% as_reference(one, call = call))
  genes <- Reduce(intersect, lapply(parts, function(p) rownames(p$x)))
  if (length(genes) < 2L) {
    dpvae_abort("The {length(parts)} reference sections share {length(genes)} gene{?s}; they need common gene names.",
                call = call)
  }
  dims <- unique(vapply(parts, function(p) ncol(p$coords), integer(1)))
  if (length(dims) > 1L) dpvae_abort("All reference sections need the same number of spatial dimensions.", call = call)
  label <- names(sections) %||% paste0("section", seq_along(parts))
  label[!nzchar(label)] <- paste0("section", which(!nzchar(label)))
  x <- do.call(cbind, lapply(parts, function(p) {
    m <- p$x[genes, , drop = FALSE]
    if (is.matrix(m)) methods::as(m, "CsparseMatrix") else m
  }))
  cells <- unlist(lapply(seq_along(parts), function(i) paste0(label[i], "_", colnames(parts[[i]]$x))))
  colnames(x) <- cells
  coords <- do.call(rbind, lapply(parts, `[[`, "coords"))
  rownames(coords) <- cells
  list(x = x, coords = coords, groups = rep(label, vapply(parts, function(p) ncol(p$x), integer(1))))
}

# What reconstruct_cells() trains on when given `reference =`: expression and coordinates of any supported
# class, restricted to the genes the query has.
#' @noRd
reference_data <- function(reference, genes = NULL, verbose = FALSE, call = rlang::caller_call()) {
  ref <- reference_input(reference, call = call)
  if (is.null(ref)) {
    if (!is_seurat(reference) && !(is.list(reference) && all(c("counts", "coords") %in% names(reference)))) {
      dpvae_abort(c("{.arg reference} must be a spatial data set, not {.cls {class(reference)[1]}}.",
                    i = "Give a Seurat, SingleCellExperiment or SpatialExperiment object, or {.code list(counts = , coords = )}."),
                  call = call)
    }
    ref <- as_reference(reference, call = call)
  }
  match_reference_genes(ref, genes, verbose = verbose, call = call)
}

# Train on the reference genes the query also has, and say how many those are. Too few shared genes is an
# error that names the identifier types of both sides; few (under MIN_SHARED_WARN and under half of the
# reference's) a warning.
#' @noRd
match_reference_genes <- function(ref, genes, verbose = FALSE, call = rlang::caller_call()) {
  if (is.null(genes)) return(ref)
  shared <- rownames(ref$x) %in% genes
  n_ref <- nrow(ref$x)
  if (sum(shared) < MIN_SHARED_GENES) {
    dpvae_abort(c("The reference and the data share {sum(shared)} gene{?s} ({n_ref} in the reference, {length(genes)} in the data); placing cells needs at least {MIN_SHARED_GENES}.",
                  i = gene_names_hint(rownames(ref$x), genes)), call = call)
  }
  if (sum(shared) < MIN_SHARED_WARN && mean(shared) < 0.5) {
    cli::cli_warn(c("Only {sum(shared)} of the reference's {n_ref} genes are in the data; the placement rests on those.",
                    i = gene_names_hint(rownames(ref$x), genes)), class = "dpvae_warning_genes")
  }
  if (isTRUE(verbose)) {
    cli::cli_inform(c(i = "Genes: {sum(shared)} of the reference's {n_ref} genes are in the data{if (all(shared)) '' else '; training on those'}."),
                    class = "dpvae_message_genes")
  }
  if (!all(shared)) ref$x <- ref$x[shared, , drop = FALSE]
  ref
}

MIN_SHARED_GENES <- 10L
MIN_SHARED_WARN <- 50L

# What kind of identifiers a gene vector holds, in words.
gene_id_kind <- function(genes) {
  genes <- genes[!is.na(genes) & nzchar(genes)]
  share <- function(pattern) mean(grepl(pattern, genes))
  if (!length(genes)) return("no gene names")
  if (share("^ENS[A-Z]*G[0-9]{6,}") > 0.5) return("Ensembl gene IDs")
  if (share("^[A-Z][A-Z0-9-]*$") > 0.6) return("upper-case gene symbols (human style)")
  if (share("^[A-Z][a-z0-9-]*$") > 0.6) return("title-case gene symbols (mouse style)")
  "gene names"
}

# The hint of a gene mismatch: both sides' identifier kinds, and what to do when they differ.
gene_names_hint <- function(model_genes, data_genes) {
  a <- gene_id_kind(model_genes)
  b <- gene_id_kind(data_genes)
  if (a != b) {
    sprintf("The reference's genes look like %s, the data's like %s: convert one to the other (same species, same identifiers).", a, b)
  } else {
    sprintf("Both look like %s; check that they come from the same species and annotation.", a)
  }
}

# The dpvae_model an earlier call stored in `object` (or `object` itself).
#' @noRd
stored_model <- function(object, call = rlang::caller_call()) {
  model <- if (inherits(object, "dpvae_model")) object
           else if (is_seurat(object)) methods::slot(object, "misc")[["dpvae"]]
           else if (is_sce(object)) S4Vectors::metadata(object)[["dpvae"]]
           else attr(object, "dpvae_model", exact = TRUE)
  if (is.null(model)) {
    dpvae_abort(c("No dp-VAE model is stored in this {.cls {class(object)[1]}}.",
                  i = "Run {.fn dpvae_reconstruct} on it first, or pass the {.cls dpvae_model} from {.fn dpvae_fit}."),
                call = call)
  }
  validate_model(model, call = call)
  model
}
