skip_if_not_installed("SingleCellExperiment")
skip_if_not_installed("SpatialExperiment")

args20 <- modifyList(quick_fit_args, list(epochs = 20))

make_sce <- function(coords = TRUE) {
  cd <- S4Vectors::DataFrame(region = mob$region, row.names = colnames(mob$counts))
  if (coords) {
    cd$x <- mob$coords[, 1]
    cd$y <- mob$coords[, 2]
  }
  SingleCellExperiment::SingleCellExperiment(assays = list(counts = mob$counts), colData = cd)
}

make_spe <- function() {
  SpatialExperiment::SpatialExperiment(
    assays = list(counts = mob$counts),
    colData = S4Vectors::DataFrame(region = mob$region, row.names = colnames(mob$counts)),
    spatialCoords = unname(mob$coords) |> `colnames<-`(c("pxl_col", "pxl_row")))
}

expect_stored <- function(out, obj) {
  expect_identical(colnames(out), colnames(obj))
  expect_true(all(c("dpvae", "dpvae_latent") %in% SingleCellExperiment::reducedDimNames(out)))
  emb <- SingleCellExperiment::reducedDim(out, "dpvae")
  expect_identical(rownames(emb), colnames(obj))
  expect_identical(colnames(emb), c("dpvae_1", "dpvae_2"))
  expect_equal(dim(SingleCellExperiment::reducedDim(out, "dpvae_latent")), c(ncol(obj), 8L)) # default 8-D latent
  expect_equal(out$dpvae_x, unname(emb[, 1]))
  expect_equal(out$dpvae_y, unname(emb[, 2]))
  expect_s3_class(S4Vectors::metadata(out)$dpvae, "dpvae_model")
  expect_true(all(is.finite(emb)))
}

test_that("SpatialExperiment round trip: class, cell order, stored fields, spatialCoords untouched", {
  spe <- make_spe()
  out <- do.call(dpvae_reconstruct, c(list(spe, seed = 1), args20))
  expect_s4_class(out, "SpatialExperiment")
  expect_stored(out, spe)
  expect_identical(SpatialExperiment::spatialCoords(out), SpatialExperiment::spatialCoords(spe))
  # the coordinates came from spatialCoords(): the model trained on all spots
  model <- S4Vectors::metadata(out)$dpvae
  expect_equal(unname(model$train_coords), unname(mob$coords))
})

test_that("SingleCellExperiment: coordinates from colData (found or named) or a matrix give the same fit", {
  sce <- make_sce()
  a <- do.call(dpvae_reconstruct, c(list(sce, seed = 2), args20))
  expect_s4_class(a, "SingleCellExperiment")
  expect_stored(a, sce)
  b <- do.call(dpvae_reconstruct, c(list(sce, coords = c("x", "y"), seed = 2), args20))
  c <- do.call(dpvae_reconstruct, c(list(make_sce(FALSE), coords = mob$coords, seed = 2), args20))
  m <- do.call(dpvae_reconstruct, c(list(mob$counts, coords = mob$coords, seed = 2), args20))
  expect_identical(SingleCellExperiment::reducedDim(a, "dpvae"), SingleCellExperiment::reducedDim(b, "dpvae"))
  expect_identical(SingleCellExperiment::reducedDim(a, "dpvae"), SingleCellExperiment::reducedDim(c, "dpvae"))
  expect_equal(unname(SingleCellExperiment::reducedDim(a, "dpvae")), unname(as.matrix(m[, 1:2])))
  # Visium-style pixel columns are found too
  v <- make_sce(FALSE)
  v$pxl_col_in_fullres <- mob$coords[, 1]
  v$pxl_row_in_fullres <- mob$coords[, 2]
  d <- do.call(dpvae_reconstruct, c(list(v, seed = 2), args20))
  expect_identical(SingleCellExperiment::reducedDim(a, "dpvae"), SingleCellExperiment::reducedDim(d, "dpvae"))
})

test_that("cells without coordinates in an SCE are placed, not trained on", {
  sce <- make_sce()
  sce$x[1:10] <- NA
  sce$y[1:10] <- NA
  out <- do.call(dpvae_reconstruct, c(list(sce, seed = 3), args20))
  model <- S4Vectors::metadata(out)$dpvae
  expect_length(model$train_cells, 252)
  expect_true(all(is.finite(SingleCellExperiment::reducedDim(out, "dpvae")[1:10, ])))
})

test_that("dpvae_fit() and predict() accept SCE / SpatialExperiment; model and reference modes work", {
  spe <- make_spe()
  fit <- do.call(dpvae_fit, c(list(spe, seed = 4), args20))
  expect_s3_class(fit, "dpvae_model")
  expect_identical(predict(fit, spe), predict(fit, mob$counts))
  expect_identical(predict(fit, make_sce(), type = "latent"), predict(fit, mob$counts, type = "latent"))
  out <- dpvae_reconstruct(make_sce(FALSE), model = fit, placement = "encoder")
  expect_equal(unname(SingleCellExperiment::reducedDim(out, "dpvae")), unname(predict(fit, mob$counts)))
  # by default cells are placed through the map, which is stored with the object
  expect_warning(out <- dpvae_reconstruct(make_sce(FALSE), model = fit, placement = "map"), class = "dpvae_warning_empty_cells")
  map <- S4Vectors::metadata(out)$dpvae_map
  expect_identical(dim(map), c(ncol(mob$counts), length(fit$train_cells)))
  ok <- Matrix::rowSums(map) > 0
  expect_equal(unname(SingleCellExperiment::reducedDim(out, "dpvae"))[ok, ], unname(as.matrix(map %*% fit$train_coords))[ok, ])
  expect_true(all(out$dpvae_outlier_score[ok] > 0))
  expect_true(all(is.na(out$dpvae_outlier_score[!ok]))) # the spot without counts on the model genes
  # an SCE query placed in an SCE reference; a SpatialExperiment reference for a matrix query
  q <- make_sce(FALSE)[, 201:262]
  res <- do.call(dpvae_reconstruct, c(list(q, reference = spe[, 1:200], seed = 1), args20))
  expect_stored(res, q)
  res2 <- do.call(dpvae_reconstruct, c(list(mob$counts[, 201:262], reference = spe[, 1:200], seed = 1), args20))
  expect_equal(unname(as.matrix(res2[, 1:2])), unname(SingleCellExperiment::reducedDim(res, "dpvae")))
  # a list holding one section is that section
  res3 <- do.call(dpvae_reconstruct, c(list(q, reference = list(spe[, 1:200]), seed = 1), args20))
  expect_identical(SingleCellExperiment::reducedDim(res3, "dpvae"), SingleCellExperiment::reducedDim(res, "dpvae"))
})

test_that("a reference is restricted to the query's genes, and the overlap is reported", {
  spe <- make_spe()
  genes <- rownames(mob$counts)
  q <- mob$counts[genes[1:700], 201:262]
  msgs <- character()
  res <- withCallingHandlers(
    do.call(dpvae_reconstruct, c(list(q, reference = spe[, 1:200], seed = 1),
                                 modifyList(args20, list(verbose = TRUE)))),
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  expect_true(any(grepl("700 of the reference's 1500 genes", msgs)))
  expect_true(all(attr(res, "dpvae_model")$preprocess$genes %in% genes[1:700]))
  expect_error(dpvae_reconstruct(mob$counts[1, , drop = FALSE], reference = spe, verbose = FALSE),
               "share 1 gene", class = "dpvae_error_input")
})

test_that("bad SCE input gives classed errors", {
  sce <- make_sce()
  expect_error(dpvae_reconstruct(sce, assay.type = "logcounts"), "no assay", class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(sce, coords = c("x", "nope")), "nope", class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(make_sce(FALSE)), "Could not find spatial coordinates", class = "dpvae_error_input")
  expect_error(dpvae_fit(make_sce(FALSE)), "Could not find spatial coordinates", class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(sce, coords = mob$coords[1:10, ]), class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(make_sce(FALSE), reference = "spots"), class = "dpvae_error_input")
  expect_error(predict(quick_fit(), sce, assay.type = "nope"), class = "dpvae_error_input")
})

test_that("SingleCellExperiment keeps imputed positions and uncertainty in colData", {
  skip_if_not_installed("SingleCellExperiment")
  co <- mob$coords
  co[1:10, ] <- NA
  sce <- SingleCellExperiment::SingleCellExperiment(assays = list(counts = mob$counts))
  SummarizedExperiment::colData(sce)$x <- co[, 1]
  SummarizedExperiment::colData(sce)$y <- co[, 2]
  out <- do.call(dpvae_reconstruct, c(list(sce, coords = c("x", "y"), seed = 1, n_samples = 3),
                                      modifyList(quick_fit_args, list(epochs = 30))))
  cd <- SummarizedExperiment::colData(out)
  expect_true(all(c("dpvae_uncertainty", "dpvae_imputed_x", "dpvae_imputed_y") %in% names(cd)))
  expect_true(all(is.finite(cd$dpvae_imputed_x[1:10])))
  expect_true(all(is.na(cd$dpvae_imputed_x[-(1:10)])))
})

test_that("metrics find an SCE's coordinates where the model verbs do (Visium full-resolution pixels)", {
  cd <- S4Vectors::DataFrame(pxl_col_in_fullres = mob$coords[, 1], pxl_row_in_fullres = mob$coords[, 2],
                             row.names = colnames(mob$counts))
  sce <- SingleCellExperiment::SingleCellExperiment(assays = list(counts = mob$counts[1:15, ]), colData = cd)
  direct <- morans_i(mob$counts[1:15, ], mob$coords)
  via_object <- morans_i(sce, assay.type = "counts")
  expect_equal(SummarizedExperiment::rowData(via_object)$moran_i_statistic, direct$statistic)
  expect_equal(unname(dpvae:::object_coords(sce)), unname(mob$coords))
})

test_that("the latent's column names are the same in SCE and Seurat objects", {
  out <- do.call(dpvae_reconstruct, c(list(make_sce(), seed = 1), args20))
  expect_match(colnames(SingleCellExperiment::reducedDim(out, "dpvae_latent")), "^dpvaelatent_[0-9]+$")
})
