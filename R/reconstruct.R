#' Reconstruct spatial coordinates of cells
#'
#' The verb most users need. Three modes:
#' * `object` only: cells with coordinates train a dp-VAE and every cell,
#'   including those without coordinates (`NA`), gets a reconstructed
#'   position.
#' * `reference =`: train on a spatial reference (a Seurat,
#'   SingleCellExperiment or SpatialExperiment object, or a list with `counts`
#'   and `coords`), then place the cells of `object` (for example scRNA-seq)
#'   in the reference's coordinates. A list of several such sections is
#'   trained jointly on their shared genes, with the distance-preserving term
#'   kept within each section (`mask` = the sections).
#' * `model =`: apply a fitted `dpvae_model`.
#'
#' Measured coordinates are never overwritten: results go to new fields.
#'
#' Cells without coordinates (`NA` rows of `coords`, first mode only) are
#' also imputed: with `impute = "mds"` (default) they are placed among the
#' measured cells, which stay fixed, by constrained MDS on the latent
#' distances divided by the learned scale (see [dpvae_impute()]); with
#' `impute = "encoder"` their imputed position is the encoder's
#' reconstruction. The reconstruction columns (`dpvae_x`, ...) always hold
#' the encoder's reconstruction of every cell, measured or not, so they are
#' comparable across cells; the imputation goes to separate columns
#' `dpvae_imputed_x`, `dpvae_imputed_y` (`dpvae_imputed_z`), which are `NA`
#' for measured cells unless `complete = TRUE` (then they hold the measured
#' coordinates unchanged, giving one complete map). These columns are added
#' only when some cells lack coordinates.
#'
#' @param object Expression, genes x cells (matrix or `dgCMatrix`), or a
#'   Seurat object.
#' @param coords Coordinates of `object`'s cells (see [dpvae_fit()]); for
#'   Seurat objects meta.data column names, or `NULL` to use the image tissue
#'   coordinates or columns such as `x`/`y`.
#' @param reference Optional spatial reference to train on.
#' @param model Optional fitted `dpvae_model`.
#' @param ... Training settings passed to [dpvae_fit()] (`lambda`, `beta`,
#'   `epochs`, `lr`, `seed`, ...).
#' @param assay,layer Seurat assay and layer holding the expression (default:
#'   the default assay's counts).
#' @param n_samples Latent samples per cell: their spread (see
#'   [predict.dpvae_model()]) is stored as `dpvae_sample_spread`. The
#'   calibrated `dpvae_uncertainty` needs no samples.
#' @param device `"auto"`, `"cpu"` or `"cuda"`.
#' @param verbose Show progress.
#' @param BPPARAM `NULL`, or a BiocParallel parameter object: the cells are
#'   encoded in blocks on its workers, as in [predict.dpvae_model()] (the
#'   cell -> location map couples all cells and runs in this process).
#' @param impute How cells without coordinates are imputed: `"mds"`
#'   (constrained placement among the measured cells) or `"encoder"`.
#' @param complete Fill the imputed columns of measured cells with their
#'   measured coordinates (instead of `NA`).
#' @param placement With `reference` or `model`: `"map"` places each cell at
#'   the weighted mean position of the reference cells it maps to (see *Cell
#'   -> location map*); `"encoder"` uses the encoder's reconstruction, as for
#'   the reference's own cells; `"mean"` the mean of the two. `"auto"`
#'   (default) maps the cells of a `reference` always, and with `model` when
#'   the data's genes are distributed unlike the model's training cells
#'   (beyond sampling noise); otherwise (held-out cells of the training data
#'   set) it takes the mean, which placed held-out cells better than the
#'   encoder on 13 and than the map on 12 of the 16 shared sets (`bench/RESULTS-scrna.md`). The choice
#'   is in `attr(result, "dpvae_placement")` (and said with `verbose =
#'   TRUE`).
#' @section Cell -> location map: With `reference` or `model`, the cells are
#'   mapped onto the model's training cells by entropic optimal transport
#'   between the two data sets' expression profiles (the model's genes, each
#'   data set standardised with its own gene means and sds, then compared by
#'   correlation). Standardising each data set on its own removes
#'   platform-wide gene biases (capture, sequencing depth, spots that mix
#'   cells) that an encoder trained on one platform cannot undo: on the
#'   scRNA-seq benchmarks of `bench/RESULTS-scrna.md` the encoder alone
#'   places single cells no better than chance. The transport assumes the
#'   query covers the tissue roughly as the reference does (the location
#'   marginal is a soft constraint), as Tangram and novoSpaRc do. The map (a
#'   sparse cells x reference-cells matrix, rows summing to 1) is stored as
#'   `attr(result, "dpvae_map")`, `Misc(object, "dpvae_map")` or
#'   `metadata(object)$dpvae_map`; [project_genes()] turns it into predicted
#'   expression or cell-type composition per reference location. Its columns
#'   are the reference cells; a reference of more than 50,000 cells is
#'   represented by 50,000 of them, evenly spaced
#'   (`options(dpvae.map_locations)`), which keeps the time to find each
#'   cell's partners linear in the query.
#' @section Positional uncertainty: `dpvae_uncertainty` (every mode) is the
#'   radius, in coordinate units, of the region around the reported position
#'   that holds the true position with 90 % probability: the spread of the
#'   reference positions a cell maps to, times a factor calibrated when the
#'   model is fitted (training cells mapped onto each other, leave-one-out).
#'   For the mean of the encoder's and the map's positions (the default for
#'   more cells of the training data set) the factor is calibrated the same
#'   way on training cells whose encoder position comes from a model that did
#'   not train on them: [dpvae_fit()]'s validation cells (above 2000 training
#'   cells by default), or else a cross-fit, in which every fifth training cell
#'   is placed by a model fitted without it (between 50 and 4000 training
#'   cells; enough folds for 800 such cells: up to five more fits on 80 % of
#'   the cells, fewer above 800 training cells; `options(dpvae.crossfit =
#'   FALSE)` skips it, and the radius then follows from how much the two
#'   readouts disagree). A model
#'   that `dpvae_reconstruct()` fits itself (with `coords` or `reference`)
#'   skips it too: it reports the encoder's or the map's positions.
#'   On held-out cells of the 16 shared benchmark sets the 90 % regions hold
#'   the stated share of true positions (`bench/RESULTS-scrna.md`). For cells
#'   of another platform the calibration is not checked (no ground truth).
#' @section Out-of-reference score: `dpvae_outlier_score` (every mode) says
#'   how unlike the reference a cell is compared with how like the other cells
#'   of its own data set it is: the mean squared expression distance (each
#'   data set standardised on its own, the model's genes) to its 10 nearest
#'   reference cells over that to its 10 nearest other cells of the data set,
#'   drawn from equal numbers of each. Cells of a type or region the reference
#'   lacks have close neighbours in their own data and none in the reference,
#'   and score high; compare scores within a data set (the level depends on
#'   the platforms). On spots of another tissue mixed with held-out spots of
#'   the reference's, it ranks the foreign spots higher with AUC 0.87-0.93
#'   (`bench/RESULTS-scrna.md`). Cells without expression on the model's genes
#'   get `NA`. [plot_reconstruction()] can colour by it (`color =
#'   "dpvae_outlier_score"`).
#' @return For a matrix: a data frame with one row per cell and columns
#'   `dpvae_x`, `dpvae_y` (`dpvae_z`), `measured` (whether the cell had
#'   coordinates) and `dpvae_outlier_score`, then `dpvae_imputed_*` when some
#'   cells had none, with the model in `attr(, "dpvae_model")`, the latent
#'   means in `attr(, "latent")` and, with `reference` or `model`, the cell ->
#'   location map in `attr(, "dpvae_map")`. For a Seurat object: the object with a
#'   DimReduc `"dpvae"` (key `dpvae_`), a DimReduc `"dpvae_latent"`,
#'   meta.data columns `dpvae_x`, `dpvae_y` (`dpvae_z`) (and
#'   `dpvae_imputed_*`, as above) and the model in
#'   `Misc(object, "dpvae")`.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' res <- dpvae_reconstruct(mob$counts, coords = mob$coords, epochs = 100, seed = 1, verbose = FALSE)
#' head(res)
#' procrustes_distance(mob$coords, res[, c("dpvae_x", "dpvae_y")])
dpvae_reconstruct <- function(object, ...) UseMethod("dpvae_reconstruct")

#' @rdname dpvae_reconstruct
#' @export
dpvae_reconstruct.default <- function(object, coords = NULL, reference = NULL, model = NULL, ...,
                                      n_samples = 0, impute = c("mds", "encoder"), complete = FALSE,
                                      placement = c("auto", "map", "mean", "encoder"), device = "auto",
                                      verbose = interactive(), BPPARAM = NULL) {
  impute <- check_choice(impute, "impute")
  placement <- check_choice(placement, "placement")
  x <- as_expression(object)
  if (!is.null(coords)) coords <- as_coords(coords, colnames(x))
  res <- reconstruct_cells(x, coords, reference, model, device = device, verbose = verbose, ...,
                           n_samples = n_samples, impute = impute, complete = complete,
                           placement = placement, BPPARAM = BPPARAM)
  d <- ncol(res$coords)
  out <- data.frame(res$coords, measured = res$measured, row.names = colnames(x))
  names(out)[seq_len(d)] <- paste0("dpvae_", c("x", "y", "z")[seq_len(d)])
  out$dpvae_uncertainty <- unname(res$uncertainty)
  if (!is.null(res$sample_spread)) out$dpvae_sample_spread <- unname(res$sample_spread)
  out$dpvae_outlier_score <- unname(res$outlier_score)
  if (!is.null(res$imputed)) out <- cbind(out, as.data.frame(res$imputed))
  attr(out, "latent") <- res$latent
  attr(out, "dpvae_map") <- res$map
  attr(out, "dpvae_placement") <- res$placement
  attr(out, "dpvae_model") <- res$model
  out
}

#' @rdname dpvae_reconstruct
#' @export
dpvae_reconstruct.Seurat <- function(object, coords = NULL, reference = NULL, model = NULL, ...,
                                     assay = NULL, layer = "counts", n_samples = 0, impute = c("mds", "encoder"),
                                     complete = FALSE, placement = c("auto", "map", "mean", "encoder"), device = "auto",
                                     verbose = interactive(), BPPARAM = NULL) {
  need_seurat_object()
  impute <- check_choice(impute, "impute")
  placement <- check_choice(placement, "placement")
  coords_given <- coords
  assay <- assay %||% SeuratObject::DefaultAssay(object) # also what LogSeuratCommand records
  x <- seurat_expression(object, assay = assay, layer = layer)
  if (is.null(reference) && is.null(model)) coords <- seurat_coords(object, coords)
  else if (!is.null(coords)) coords <- seurat_coords(object, coords)
  res <- reconstruct_cells(x, coords, reference, model, device = device, verbose = verbose, ...,
                           n_samples = n_samples, impute = impute, complete = complete,
                           placement = placement, BPPARAM = BPPARAM)
  out <- seurat_store(object, res$coords, res$latent, res$model, uncertainty = res$uncertainty,
                      outlier_score = res$outlier_score, map = res$map, sample_spread = res$sample_spread)
  if (!is.null(res$imputed)) out <- SeuratObject::AddMetaData(out, as.data.frame(res$imputed))
  # LogSeuratCommand() reads the calling frame's name and arguments, so it is called from here directly (inside
  # tryCatch it logged "doTryCatch"); large arguments are logged as short descriptions.
  coords <- if (is.character(coords_given) || is.null(coords_given)) coords_given else "<coordinate matrix>"
  reference <- if (!is.null(reference)) sprintf("<%s>", class(reference)[1])
  model <- if (!is.null(model)) "<dpvae_model>"
  SeuratObject::LogSeuratCommand(out)
}

# The shared engine of every method: returns coords, latent, model and which cells were measured.
# `imputed` (self mode with unmeasured cells only): cells x d matrix `dpvae_imputed_*`.
reconstruct_cells <- function(x, coords, reference, model, device, verbose, ..., n_samples = 0, impute = "mds",
                              complete = FALSE, placement = "auto", BPPARAM = NULL, call = rlang::caller_call()) {
  check_bpparam(BPPARAM, call = call)
  fork_guard()
  if (!(is.logical(complete) && length(complete) == 1L && !is.na(complete))) {
    dpvae_abort("{.arg complete} must be TRUE or FALSE.", call = call)
  }
  self_mode <- is.null(model) && is.null(reference)
  if (anyDuplicated(colnames(x))) {
    dpvae_abort(c("Cell names are duplicated (e.g. {.val {colnames(x)[duplicated(colnames(x))][1]}}); results are stored by cell.",
                  i = "Make them unique first, e.g. {.code colnames(x) <- make.unique(colnames(x))}."), call = call)
  }
  if (!is.null(model) && !is.null(reference)) {
    dpvae_abort("Give either {.arg reference} or {.arg model}, not both.", call = call)
  }
  if (is.null(model)) {
    # its own fit reports the encoder's (self mode) or the map's positions, never their mean: no cross-fit
    old <- options(dpvae.crossfit = FALSE)
    on.exit(options(old), add = TRUE)
    if (is.null(reference)) {
      if (is.null(coords)) {
        dpvae_abort(c("No coordinates to train on.",
                      i = "Give {.arg coords} for the cells that have them, or a {.arg reference} or {.arg model}."),
                    call = call)
      }
      model <- dpvae_fit(x, coords, ..., device = device, verbose = verbose)
    } else {
      ref <- reference_data(reference, genes = rownames(x), verbose = verbose, call = call)
      model <- if (is.null(ref$groups)) {
        dpvae_fit(ref$x, ref$coords, ..., device = device, verbose = verbose)
      } else {
        if ("mask" %in% ...names()) dpvae_abort("With several reference sections the mask is the sections; drop {.arg mask}.", call = call)
        dpvae_fit(ref$x, ref$coords, ..., mask = ref$groups, device = device, verbose = verbose)
      }
    }
  } else {
    validate_model(model, call = call)
    if (...length()) dpvae_abort("Training settings ({.arg {names(list(...))}}) have no effect with {.arg model}.", call = call)
  }
  pred <- encode_cells(model, x, n_samples = n_samples, device = device, BPPARAM = BPPARAM, call = call)
  if (!self_mode) {
    placement <- choose_placement(placement, from_reference = !is.null(reference), model, x, call = call)
    if (isTRUE(verbose)) {
      cli::cli_inform("Mapping {ncol(x)} cells onto the {length(model$train_cells)} reference cells; positions from the {placement}.")
    }
  }
  mapped <- map_cells(model, x, warn_empty = !self_mode && placement != "encoder", call = call)
  encoder <- pred$coords
  if (!self_mode) pred$coords <- placed_positions(placement, encoder, mapped)
  sample_spread <- pred$uncertainty
  radius <- uncertainty_radius(model, mapped, pred$coords, placement = if (self_mode) "encoder" else placement,
                               encoder = encoder)
  pred$uncertainty <- stats::setNames(radius, colnames(x))
  measured <- if (is.null(coords)) rep(FALSE, ncol(x)) else stats::complete.cases(coords)
  imputed <- NULL
  if (self_mode && !all(measured)) {
    imputed <- if (complete) coords else matrix(NA_real_, nrow(coords), ncol(coords))
    imputed[!measured, ] <- if (impute == "mds") {
      opts <- impute_options(seed = model$config$seed, call = call)
      impute_cells(pred$latent, coords, model, opts, verbose = verbose, call = call)$coords
    } else {
      pred$coords[!measured, , drop = FALSE]
    }
    dimnames(imputed) <- list(colnames(x), paste0("dpvae_imputed_", c("x", "y", "z")[seq_len(ncol(coords))]))
  }
  list(coords = pred$coords, latent = pred$latent, model = model, measured = measured, imputed = imputed,
       uncertainty = pred$uncertainty, sample_spread = sample_spread, outlier_score = mapped$outlier_score,
       map = if (self_mode) NULL else mapped$map, placement = if (self_mode) "encoder" else placement)
}

as_reference <- function(reference, call = rlang::caller_call()) {
  if (is_seurat(reference)) {
    return(list(x = seurat_expression(reference, call = call), coords = seurat_coords(reference, call = call)))
  }
  if (is.list(reference) && all(c("counts", "coords") %in% names(reference))) {
    x <- as_expression(reference$counts, call = call)
    return(list(x = x, coords = as_coords(reference$coords, colnames(x), call = call)))
  }
  dpvae_abort("{.arg reference} must be a Seurat object or a list with {.code counts} and {.code coords}.", call = call)
}
