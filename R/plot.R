need_ggplot2 <- function(call = rlang::caller_call()) {
  if (!requireNamespace("ggplot2", quietly = TRUE)) {
    dpvae_abort("Plotting needs the {.pkg ggplot2} package: {.code install.packages(\"ggplot2\")}.",
                kind = "dependency", call = call)
  }
}

#' Plot measured and reconstructed coordinates side by side
#'
#' Either give two coordinate matrices, or an object that
#' [dpvae_reconstruct()] returned (a Seurat, SingleCellExperiment or
#' SpatialExperiment object, or the data frame of the matrix method): its
#' measured coordinates (found as in [dpvae_fit()]) are drawn beside the
#' stored `"dpvae"` reconstruction. Cells without measured coordinates (a
#' scRNA-seq query, hidden spots) appear only in the reconstructed panel; with
#' none at all only that panel is drawn.
#'
#' @param x Measured coordinates (cells x 2 matrix or data frame), or an
#'   object holding `dpvae_reconstruct()` results.
#' @param reconstructed Reconstructed coordinates, same cells and order
#'   (matrix input only).
#' @param color What to colour by: a vector with one value per cell (a
#'   region or cluster label, a gene's expression), or for objects one
#'   meta.data / colData column name or one gene name (coloured by its
#'   log-normalised expression).
#' @param color_name Legend title (default: the column or gene name, or the
#'   name of the vector given).
#' @param align Show both configurations standardised and Procrustes-aligned
#'   instead of in the measured coordinates' units (use it for
#'   reconstructions that are only defined up to rotation).
#' @param background Optional coordinates drawn in grey behind every panel,
#'   e.g. the spots of the spatial reference a query was placed in: a
#'   matrix, a data frame, or an object whose coordinates are found
#'   automatically. Ignored with `align = TRUE`.
#' @param coords Objects only: where the measured coordinates are (as in
#'   [dpvae_fit()]); `NULL` finds them, `FALSE` draws the reconstruction
#'   alone.
#' @param reduction Objects only: the reduction holding the reconstruction.
#' @param assay,layer Seurat only: where a gene given as `color` is read
#'   (counts, log-normalised here).
#' @param assay.type SingleCellExperiment only: the same.
#' @param ... Unused.
#' @return A ggplot object (needs the ggplot2 package), with the Procrustes
#'   distance between measured and reconstructed positions in the subtitle.
#' @seealso [plot_history()]
#' @export
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   mob <- dpvae_example_data()
#'   res <- dpvae_reconstruct(mob$counts, coords = mob$coords, epochs = 100, seed = 1, verbose = FALSE)
#'   plot_reconstruction(mob$coords, res[, c("dpvae_x", "dpvae_y")], color = mob$region)
#' }
plot_reconstruction <- function(x, ...) UseMethod("plot_reconstruction")

#' @rdname plot_reconstruction
#' @export
plot_reconstruction.default <- function(x, reconstructed = NULL, color = NULL, color_name = NULL, align = FALSE,
                                        background = NULL, ...) {
  rlang::check_dots_empty()
  need_ggplot2()
  color_name <- color_name %||% vector_name(substitute(color))
  if (is.null(reconstructed) && is.data.frame(x) && !is.null(attr(x, "dpvae_model", exact = TRUE))) {
    # the data frame of dpvae_reconstruct(<matrix>): measured = the model's training coordinates
    rec <- as.matrix(x[, grep("^dpvae_[xyz]$", names(x)), drop = FALSE])
    model <- attr(x, "dpvae_model", exact = TRUE)
    measured <- matrix(NA_real_, nrow(rec), ncol(rec), dimnames = list(rownames(x), NULL))
    hit <- intersect(rownames(x), model$train_cells)
    if (length(hit) && ncol(model$train_coords) == ncol(rec)) measured[hit, ] <- model$train_coords[hit, ]
    if (!length(hit)) measured <- NULL
    return(reconstruction_plot(measured, rec, color, color_name, align, plot_background(background)))
  }
  if (is.null(reconstructed)) {
    dpvae_abort(c("{.arg reconstructed} is missing.",
                  i = "Give measured and reconstructed coordinates, or an object returned by {.fn dpvae_reconstruct}."))
  }
  a <- as_numeric_matrix(x, "x")
  b <- as_numeric_matrix(reconstructed, "reconstructed")
  if (!identical(dim(a), dim(b)) || ncol(a) < 2L) {
    dpvae_abort("The measured and reconstructed coordinates must have the same shape (cells x 2 or 3).")
  }
  if (!is.null(color) && length(color) != nrow(a)) {
    dpvae_abort("{.arg color} must have one value per cell ({nrow(a)}), not {length(color)}.")
  }
  reconstruction_plot(a, b, color, color_name, align, plot_background(background))
}

#' @rdname plot_reconstruction
#' @export
plot_reconstruction.Seurat <- function(x, color = NULL, color_name = NULL, align = FALSE, background = NULL,
                                       coords = NULL, reduction = "dpvae", assay = NULL, layer = "counts", ...) {
  rlang::check_dots_empty()
  need_ggplot2()
  need_seurat_object()
  if (!reduction %in% SeuratObject::Reductions(x)) {
    no_reduction(reduction, SeuratObject::Reductions(x))
  }
  rec <- SeuratObject::Embeddings(x, reduction)
  md <- x[[]]
  gene <- function() seurat_expression(x, assay = assay, layer = layer)
  object_plot(x, rec, md, gene, color, color_name %||% vector_name(substitute(color)), align, background, coords)
}

#' @rdname plot_reconstruction
#' @export
plot_reconstruction.SingleCellExperiment <- function(x, color = NULL, color_name = NULL, align = FALSE,
                                                     background = NULL, coords = NULL, reduction = "dpvae",
                                                     assay.type = "counts", ...) {
  rlang::check_dots_empty()
  need_ggplot2()
  need_sce()
  have <- SingleCellExperiment::reducedDimNames(x)
  if (!reduction %in% have) no_reduction(reduction, have)
  rec <- SingleCellExperiment::reducedDim(x, reduction)
  md <- as.data.frame(SummarizedExperiment::colData(x))
  gene <- function() sce_expression(x, assay.type = assay.type)
  object_plot(x, rec, md, gene, color, color_name %||% vector_name(substitute(color)), align, background, coords)
}

no_reduction <- function(reduction, have, call = rlang::caller_call()) {
  dpvae_abort(c("The object has no reduction {.val {reduction}}.",
                i = "Run {.fn dpvae_reconstruct} on it first{if (length(have)) ', or choose one of {.val {have}}' else ''}."),
              call = call)
}

# Shared body of the object methods: measured coordinates (if any), colour from a column or a gene.
object_plot <- function(x, rec, md, gene, color, color_name, align, background, coords, call = rlang::caller_call()) {
  rec <- as_numeric_matrix(rec, "reconstruction", call = call)
  measured <- if (isFALSE(coords)) NULL else object_coords(x, coords, required = FALSE, call = call)
  if (!is.null(measured) && ncol(measured) != ncol(rec)) measured <- NULL
  if (is.character(color) && length(color) == 1L && ncol(x) != 1L) {
    color_name <- color_name %||% color
    if (color %in% colnames(md)) {
      color <- md[[color]]
    } else {
      expr <- gene_or_null(gene, color)
      if (is.null(expr)) {
        dpvae_abort(c("{.arg color} = {.val {color}} is neither a {if (is_seurat(x)) 'meta.data' else 'colData'} column nor a gene.",
                      i = "Give a column name, a gene name, or one value per cell."), call = call)
      }
      color <- expr
    }
  }
  if (!is.null(color) && length(color) != ncol(x)) {
    dpvae_abort("{.arg color} must have one value per cell ({ncol(x)}), not {length(color)}.", call = call)
  }
  reconstruction_plot(measured, rec, color, color_name, align, plot_background(background, call = call), call = call)
}

# Expression of one gene (log-normalised when the assay holds counts), or NULL when it is not a gene.
gene_or_null <- function(gene, g) {
  m <- tryCatch(gene(), error = function(e) NULL)
  if (is.null(m) || !g %in% rownames(m)) return(NULL)
  v <- as.numeric(m[g, ])
  if (is_count_matrix(m)) {
    lib <- Matrix::colSums(m)
    v <- log1p(ifelse(lib > 0, v / lib * 1e4, 0))
  }
  v
}

# Last component of the expression given as `color` (mob$region -> "region"); NULL for literals.
vector_name <- function(expr) {
  if (is.null(expr) || !(is.name(expr) || is.call(expr))) return(NULL)
  nm <- paste(deparse(expr, width.cutoff = 200L), collapse = "")
  nm <- sub("^.*\\$", "", nm)
  nm <- sub("^.*\\[\\[[\"'](.*)[\"']\\]\\]$", "\\1", nm)
  if (nchar(nm) > 30L) NULL else nm
}

plot_background <- function(background, call = rlang::caller_call()) {
  if (is.null(background)) return(NULL)
  m <- if (is_seurat(background) || is_sce(background)) object_coords(background, call = call) else background
  m <- as_numeric_matrix(m, "background", call = call)
  if (ncol(m) < 2L) dpvae_abort("{.arg background} must have at least 2 columns (x, y).", call = call)
  m[stats::complete.cases(m), , drop = FALSE]
}

# measured: cells x d with NA rows for unmeasured cells, or NULL; rec: cells x d.
reconstruction_plot <- function(measured, rec, color, color_name, align, background, call = rlang::caller_call()) {
  if (ncol(rec) < 2L) dpvae_abort("The reconstruction must have at least 2 columns.", call = call)
  has_rec <- stats::complete.cases(rec)
  both <- if (is.null(measured)) rep(FALSE, nrow(rec)) else stats::complete.cases(measured) & has_rec
  second <- if (align) "reconstructed (aligned)" else "reconstructed"
  panel <- function(m, what, idx) {
    d <- data.frame(x = m[, 1], y = m[, 2], panel = what)
    if (!is.null(color)) d$color <- color[idx]
    d
  }
  subtitle <- NULL
  if (sum(both) >= 3L) {
    disp <- procrustes_distance(measured[both, , drop = FALSE], rec[both, , drop = FALSE], aligned = TRUE)
    subtitle <- sprintf("Procrustes distance %.3f (%d cells with measured coordinates)", disp$disparity, sum(both))
  }
  if (align) {
    if (sum(both) < 3L) {
      dpvae_abort("{.code align = TRUE} needs at least 3 cells with measured and reconstructed coordinates.", call = call)
    }
    idx <- which(both)
    df <- rbind(panel(disp$x, "measured", idx), panel(disp$y, second, idx))
    background <- NULL
  } else {
    idx_m <- if (is.null(measured)) integer() else which(stats::complete.cases(measured))
    idx_r <- which(has_rec)
    df <- panel(rec[idx_r, , drop = FALSE], second, idx_r)
    if (length(idx_m)) df <- rbind(panel(measured[idx_m, , drop = FALSE], "measured", idx_m), df)
  }
  levels <- intersect(c("measured", second), unique(df$panel))
  df$panel <- factor(df$panel, levels = levels)
  aes <- if (is.null(color)) ggplot2::aes(.data$x, .data$y) else ggplot2::aes(.data$x, .data$y, colour = .data$color)
  p <- ggplot2::ggplot(df, aes)
  if (!is.null(background)) {
    bg <- do.call(rbind, lapply(levels, function(l) data.frame(x = background[, 1], y = background[, 2], panel = l)))
    bg$panel <- factor(bg$panel, levels = levels)
    p <- p + ggplot2::geom_point(data = bg, ggplot2::aes(.data$x, .data$y), inherit.aes = FALSE,
                                 colour = "grey85", size = 1.6)
  }
  p <- p + ggplot2::geom_point(size = 1.6) +
    ggplot2::facet_wrap(~panel) +
    ggplot2::coord_equal() +
    ggplot2::labs(x = NULL, y = NULL, colour = color_name, subtitle = subtitle) +
    ggplot2::theme_bw() +
    ggplot2::theme(panel.spacing = ggplot2::unit(1.5, "lines"))
  if (is.numeric(color)) p <- p + ggplot2::scale_colour_viridis_c()
  p
}

#' Plot the training history of a dp-VAE
#'
#' Loss curves by epoch, one facet per term: the total loss, the
#' reconstruction term, the KL term, the distance-preserving term and the
#' training stress (used for early stopping; not defined during warm-up).
#' A dotted line marks the end of the warm-up, a dashed line the epoch whose
#' state the model kept.
#'
#' @param object A `dpvae_model`, or an object holding one (the result of
#'   [dpvae_reconstruct()] on any class).
#' @param terms Which curves to draw.
#' @param log Use a log scale for the y axes.
#' @return A ggplot object.
#' @seealso [summary.dpvae_model()]
#' @export
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   mob <- dpvae_example_data()
#'   fit <- dpvae_fit(mob$counts, mob$coords, epochs = 100, seed = 1, verbose = FALSE)
#'   plot_history(fit)
#' }
plot_history <- function(object, terms = c("loss", "recon", "kl", "dp", "stress"), log = FALSE) {
  need_ggplot2()
  model <- stored_model(object)
  h <- model$history
  all_terms <- c("loss", "recon", "kl", "dp", "stress")
  if (!is.character(terms) || !length(terms) || !all(terms %in% all_terms)) {
    dpvae_abort("{.arg terms} must be some of {.val {all_terms}}.")
  }
  terms <- intersect(terms, names(h))
  if (!NROW(h) || !length(terms)) dpvae_abort("The model has no training history to plot.", kind = "model")
  labels <- c(loss = "total loss", recon = "reconstruction", kl = "KL", dp = "distance preservation",
              stress = "training stress")
  long <- do.call(rbind, lapply(terms, function(t) data.frame(epoch = h$epoch, value = h[[t]], term = labels[[t]])))
  long <- long[is.finite(long$value) & (!log | long$value > 0), , drop = FALSE]
  long$term <- factor(long$term, levels = unname(labels[terms]))
  p <- ggplot2::ggplot(long, ggplot2::aes(.data$epoch, .data$value)) +
    ggplot2::geom_line() +
    ggplot2::facet_wrap(~term, scales = "free_y") +
    ggplot2::labs(x = "epoch", y = NULL,
                  subtitle = sprintf("%d epochs%s; kept the state of epoch %d", model$epochs_run,
                                     if (isTRUE(model$interrupted)) " (interrupted)" else "", model$best_epoch)) +
    ggplot2::theme_bw()
  warmup <- model$config$warmup
  if (is.numeric(warmup) && warmup > 0 && warmup < model$epochs_run) {
    p <- p + ggplot2::geom_vline(xintercept = warmup, linetype = "dotted", colour = "grey40")
  }
  if (isTRUE(model$best_epoch > 0)) {
    p <- p + ggplot2::geom_vline(xintercept = model$best_epoch, linetype = "dashed", colour = "firebrick")
  }
  if (log) p <- p + ggplot2::scale_y_log10()
  p
}
