skip_if_not_installed("SeuratObject")

make_seurat <- function() {
  obj <- suppressWarnings(SeuratObject::CreateSeuratObject(counts = mob$counts))
  obj$x <- mob$coords[, 1]
  obj$y <- mob$coords[, 2]
  obj$region <- mob$region
  obj
}

test_that("Seurat round trip: DimReduc, meta.data, model, cell order", {
  obj <- make_seurat()
  out <- do.call(dpvae_reconstruct, c(list(obj, coords = c("x", "y"), seed = 1), quick_fit_args))
  expect_s4_class(out, "Seurat")
  expect_identical(colnames(out), colnames(obj))
  expect_true(all(c("dpvae", "dpvae_latent") %in% SeuratObject::Reductions(out)))
  emb <- SeuratObject::Embeddings(out, "dpvae")
  expect_identical(rownames(emb), colnames(obj))
  expect_equal(colnames(emb), c("dpvae_1", "dpvae_2"))
  expect_equal(out$dpvae_x, emb[, 1], ignore_attr = TRUE)
  expect_equal(out$dpvae_y, emb[, 2], ignore_attr = TRUE)
  # measured coordinates are untouched
  expect_identical(out$x, obj$x)
  model <- SeuratObject::Misc(out, "dpvae")
  expect_s3_class(model, "dpvae_model")
  expect_lt(procrustes_distance(mob$coords, emb), 0.5)
})

test_that("coordinates are found in meta.data without being named, and the v4/v5 layer API works", {
  obj <- make_seurat()
  out <- do.call(dpvae_reconstruct, c(list(obj, seed = 2), modifyList(quick_fit_args, list(epochs = 20))))
  expect_true("dpvae_x" %in% colnames(out[[]]))
  # the expression assay comes back unchanged, whichever assay class this SeuratObject uses
  expect_identical(out[["RNA"]], obj[["RNA"]])
  expect_equal(SeuratObject::DefaultAssay(out[["dpvae"]]), SeuratObject::DefaultAssay(obj))
})

test_that("a model fitted elsewhere is applied to a Seurat object", {
  obj <- make_seurat()
  out <- dpvae_reconstruct(obj, model = quick_fit(), placement = "encoder")
  expect_equal(SeuratObject::Embeddings(out, "dpvae"), quick_fit()$fitted_coords, ignore_attr = TRUE, tolerance = 1e-10)
  # by default through the map, stored in Misc(); the outlier score goes to meta.data. One spot of this
  # data set has no counts on the model's genes: it gets NA and a warning.
  expect_warning(out <- dpvae_reconstruct(obj, model = quick_fit(), placement = "map"), class = "dpvae_warning_empty_cells")
  map <- SeuratObject::Misc(out, "dpvae_map")
  expect_s4_class(map, "dgCMatrix")
  empty <- Matrix::colSums(mob$counts[quick_fit()$preprocess$genes, ]) == 0
  expect_equal(unname(Matrix::rowSums(map)), as.numeric(!empty), tolerance = 1e-8)
  expect_true(all(is.na(SeuratObject::Embeddings(out, "dpvae")[empty, ])))
  expect_equal(SeuratObject::Embeddings(out, "dpvae")[!empty, ], as.matrix(map %*% quick_fit()$train_coords)[!empty, ],
               ignore_attr = TRUE)
  expect_true(is.numeric(out$dpvae_outlier_score))
})

test_that("Seurat input errors are classed and helpful", {
  obj <- make_seurat()
  expect_error(dpvae_reconstruct(obj, coords = c("x", "nope")), class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(obj, assay = "ADT"), class = "dpvae_error_input")
  obj$x <- NULL
  obj$y <- NULL
  expect_error(dpvae_reconstruct(obj), "Could not find spatial coordinates", class = "dpvae_error_input")
})

test_that("a missing layer is a classed error naming the layers that exist", {
  obj <- make_seurat()
  expect_error(dpvae_reconstruct(obj, coords = c("x", "y"), layer = "nope"), class = "dpvae_error_input")
})

test_that("dpvae_fit() and predict() accept a Seurat object; a Seurat reference places other cells", {
  obj <- make_seurat()
  args <- modifyList(quick_fit_args, list(epochs = 20))
  fit <- do.call(dpvae_fit, c(list(obj, coords = c("x", "y"), seed = 3), args))
  ref <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 3), args))
  expect_identical(fit$fitted_coords, ref$fitted_coords)
  expect_identical(predict(fit, obj), predict(fit, mob$counts))
  res <- do.call(dpvae_reconstruct, c(list(mob$counts[, 201:262], reference = obj[, 1:200], seed = 1), args))
  expect_identical(rownames(res), colnames(mob$counts)[201:262])
  expect_error(dpvae_fit(obj, coords = c("x", "nope")), class = "dpvae_error_input")
})

test_that("the command is logged under its own name, without copying large arguments", {
  obj <- make_seurat()
  out <- suppressWarnings(dpvae_reconstruct(obj, model = quick_fit(), verbose = FALSE)) # one spot has no counts on the genes
  cmds <- names(methods::slot(out, "commands"))
  expect_true(any(grepl("^dpvae_reconstruct", cmds)))
  expect_false(any(grepl("doTryCatch", cmds)))
  logged <- methods::slot(out, "commands")[[grep("^dpvae_reconstruct", cmds)[1]]]
  expect_identical(methods::slot(logged, "params")$model, "<dpvae_model>")
})

test_that("a Seurat v5 layer split by sample is read whole, in the object's cell order", {
  skip_if(utils::packageVersion("SeuratObject") < "5.0.0", "split layers need SeuratObject 5")
  obj <- make_seurat()
  split_obj <- obj
  split_obj[["RNA"]] <- split(split_obj[["RNA"]], f = rep(c("s1", "s2", "s3"), length.out = ncol(obj)))
  expect_length(SeuratObject::Layers(split_obj[["RNA"]], search = "counts"), 3)
  joined <- dpvae:::seurat_expression(obj)
  from_split <- dpvae:::seurat_expression(split_obj)
  expect_identical(colnames(from_split), colnames(obj))
  expect_equal(as.matrix(from_split), as.matrix(joined[rownames(from_split), ]))
  args <- c(list(coords = c("x", "y"), seed = 4), modifyList(quick_fit_args, list(epochs = 20)))
  expect_identical(do.call(dpvae_fit, c(list(split_obj), args))$fitted_coords,
                   do.call(dpvae_fit, c(list(obj), args))$fitted_coords)
})
