# Cells are encoded in blocks (R/blocks.R): the block size and BiocParallel's workers must not change results.
skip_if_not_installed("BiocParallel")

block_case <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) fit <<- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 3),
                                                   modifyList(quick_fit_args, list(epochs = 20))))
    fit
  }
})

test_that("the block size changes nothing, samples included", {
  fit <- block_case()
  whole <- predict(fit, mob$counts, n_samples = 3, seed = 9)
  old <- options(dpvae.block_cells = 50)
  on.exit(options(old))
  blocks <- predict(fit, mob$counts, n_samples = 3, seed = 9)
  expect_equal(blocks[, ], whole[, ], tolerance = 1e-12)
  expect_identical(dimnames(blocks), dimnames(whole))
  # latent samples of block b come from seed + b - 1: reproducible for a block size
  expect_identical(attr(blocks, "uncertainty"), attr(predict(fit, mob$counts, n_samples = 3, seed = 9), "uncertainty"))
  expect_true(all(is.finite(attr(blocks, "uncertainty"))))
  expect_error(withr_options(list(dpvae.block_cells = 0), predict(fit, mob$counts)), class = "dpvae_error_input")
})

test_that("MulticoreParam and SnowParam workers give the serial result", {
  fit <- block_case()
  old <- options(dpvae.block_cells = 60)
  on.exit(options(old))
  serial <- predict(fit, mob$counts)
  if (.Platform$OS.type != "windows") {
    forked <- predict(fit, mob$counts, BPPARAM = BiocParallel::MulticoreParam(2))
    expect_equal(forked, serial, tolerance = 1e-12)
  }
  # fresh worker processes: the sparse matrix's methods come with dpvae's imports (they returned zeros
  # before Matrix's methods were imported)
  snow <- predict(fit, mob$counts, BPPARAM = BiocParallel::SnowParam(2))
  expect_equal(snow, serial, tolerance = 1e-12)
  expect_error(predict(fit, mob$counts, BPPARAM = 2), class = "dpvae_error_input")
})

test_that("Moran's I and Geary's C over gene blocks on workers equal the serial result", {
  genes <- mob$counts[1:30, ]
  serial <- spatial_autocorrelation(genes, mob$coords, n_perm = 19, seed = 2, num.threads = 1)
  forked <- spatial_autocorrelation(genes, mob$coords, n_perm = 19, seed = 2, num.threads = 1,
                                    BPPARAM = BiocParallel::MulticoreParam(2))
  snow <- spatial_autocorrelation(genes, mob$coords, n_perm = 19, seed = 2, num.threads = 1,
                                  BPPARAM = BiocParallel::SnowParam(2))
  expect_equal(forked, serial)
  expect_equal(snow, serial)
  expect_error(morans_i(genes, mob$coords, BPPARAM = "two"), class = "dpvae_error_input")
})

test_that("Moran's I and Geary's C read an HDF5-backed matrix a block of genes at a time, with the in-memory result", {
  skip_if_not_installed("HDF5Array")
  genes <- mob$counts[1:12, ]
  h5 <- HDF5Array::writeHDF5Array(genes, filepath = tempfile(fileext = ".h5"), name = "counts",
                                  with.dimnames = TRUE)
  run <- function(x, ...) spatial_autocorrelation(x, mob$coords, n_perm = 9, seed = 2, num.threads = 1, ...)
  in_memory <- run(genes)
  seen <- new.env()
  seen$widest <- 0
  seen$blocks <- 0
  trace("gene_block", bquote({
    assign("widest", max(get("widest", .(seen)), nrow(x)), envir = .(seen))
    assign("blocks", get("blocks", .(seen)) + 1, envir = .(seen))
  }), print = FALSE, where = asNamespace("dpvae"))
  budget <- 3 * 12 * ncol(genes) / 1e6 # three genes' worth were every value non-zero
  # blocks of 100 cells: each gene block is assembled from several reads
  on_disk <- tryCatch(withr_options(list(dpvae.metric_block_mb = budget, dpvae.block_cells = 100), run(h5)),
                      finally = untrace("gene_block", where = asNamespace("dpvae")))
  expect_equal(on_disk, in_memory)
  expect_gte(seen$blocks, 2)
  expect_lt(seen$widest, nrow(genes)) # never all genes at once
  snow <- withr_options(list(dpvae.metric_block_mb = budget), run(h5, BPPARAM = BiocParallel::SnowParam(2)))
  expect_equal(snow, in_memory)
  expect_equal(withr_options(list(dpvae.metric_block_mb = budget), morans_i(h5, mob$coords, num.threads = 1)),
               morans_i(genes, mob$coords, num.threads = 1))
  expect_error(withr_options(list(dpvae.metric_block_mb = -1), run(h5)), class = "dpvae_error_input")
})

test_that("dpvae_reconstruct(model =) encodes on workers with the serial result", {
  fit <- block_case()
  old <- options(dpvae.block_cells = 100)
  on.exit(options(old))
  # one bundled spot has no counts on this quick model's genes (NA position, a classed warning)
  quiet <- function(expr) suppressWarnings(expr, classes = "dpvae_warning_empty_cells")
  serial <- quiet(dpvae_reconstruct(mob$counts, model = fit, verbose = FALSE))
  forked <- quiet(dpvae_reconstruct(mob$counts, model = fit, verbose = FALSE,
                                    BPPARAM = BiocParallel::MulticoreParam(2)))
  expect_equal(forked, serial, tolerance = 1e-12)
  expect_error(dpvae_reconstruct(mob$counts, model = fit, BPPARAM = list()), class = "dpvae_error_input")
})

test_that("dpvae_impute() encodes on workers with the serial result", {
  fit <- block_case()
  old <- options(dpvae.block_cells = 70)
  on.exit(options(old))
  co <- mob$coords
  co[seq(2, nrow(co), by = 3), ] <- NA
  serial <- dpvae_impute(fit, mob$counts, co, seed = 5, verbose = FALSE)
  snow <- dpvae_impute(fit, mob$counts, co, seed = 5, verbose = FALSE, BPPARAM = BiocParallel::SnowParam(2))
  expect_equal(snow, serial, tolerance = 1e-10)
  expect_true(all(is.finite(snow)))
  expect_error(dpvae_impute(fit, mob$counts, co, BPPARAM = "two"), class = "dpvae_error_input")
})

test_that("spatial_expression_correlation reads an HDF5-backed matrix by cell blocks, only the sampled pairs' cells", {
  skip_if_not_installed("HDF5Array")
  x <- log1p(mob$counts)
  h5 <- HDF5Array::writeHDF5Array(x, filepath = tempfile(fileext = ".h5"), name = "logcounts", with.dimnames = TRUE)
  run <- function(x, ...) spatial_expression_correlation(x, mob$coords, n_perm = 9, seed = 3, num.threads = 1, ...)
  sampled <- function(x) run(x, max_cells = 100, n_pairs = 60)
  seen <- new.env()
  seen$widest <- 0
  seen$read <- 0
  trace("cell_block", bquote({
    assign("widest", max(get("widest", .(seen)), length(cells)), envir = .(seen))
    assign("read", get("read", .(seen)) + length(cells), envir = .(seen))
  }), print = FALSE, where = asNamespace("dpvae"))
  on_disk <- tryCatch(withr_options(list(dpvae.block_cells = 50), sampled(h5)),
                      finally = untrace("cell_block", where = asNamespace("dpvae")))
  expect_identical(on_disk, sampled(x))
  expect_true(on_disk$sampled)
  expect_lte(seen$widest, 50)
  expect_lte(seen$read, 120) # the cells of 60 pairs, not all ncol(x)
  expect_lt(seen$read, ncol(x))
  # all pairs (up to max_cells cells): every cell, still read by blocks
  expect_identical(withr_options(list(dpvae.block_cells = 50), run(h5)), run(x))
  # an SCE whose assay is on disk
  skip_if_not_installed("SingleCellExperiment")
  sce <- SingleCellExperiment::SingleCellExperiment(list(logcounts = h5))
  expect_identical(spatial_expression_correlation(sce, mob$coords, max_cells = 100, n_pairs = 60, n_perm = 9,
                                                  seed = 3, num.threads = 1), on_disk)
})

test_that("an HDF5-backed matrix or SCE is read in blocks and gives the in-memory result", {
  skip_if_not_installed("HDF5Array")
  skip_if_not_installed("SingleCellExperiment")
  h5 <- HDF5Array::writeHDF5Array(mob$counts, filepath = tempfile(fileext = ".h5"), name = "counts",
                                  with.dimnames = TRUE)
  expect_true(dpvae:::is_delayed(h5))
  old <- options(dpvae.block_cells = 50)
  on.exit(options(old))
  args <- c(list(coords = mob$coords, seed = 3), modifyList(quick_fit_args, list(epochs = 20)))
  in_memory <- do.call(dpvae_fit, c(list(mob$counts), args))
  seen <- new.env()
  seen$widest <- 0
  trace("cell_block", bquote(assign("widest", max(get("widest", .(seen)), length(cells)), envir = .(seen))), print = FALSE,
        where = asNamespace("dpvae"))
  on_disk <- tryCatch(do.call(dpvae_fit, c(list(h5), args)),
                      finally = untrace("cell_block", where = asNamespace("dpvae")))
  expect_identical(on_disk$fitted_coords, in_memory$fitted_coords)
  expect_identical(on_disk$preprocess, in_memory$preprocess)
  expect_lte(seen$widest, 50) # never more than a block of cells read at once
  expect_identical(predict(on_disk, h5, n_samples = 2, seed = 4), predict(in_memory, mob$counts, n_samples = 2, seed = 4))
  sce <- SingleCellExperiment::SingleCellExperiment(assays = list(counts = h5),
                                                   colData = S4Vectors::DataFrame(x = mob$coords[, 1], y = mob$coords[, 2]))
  expect_true(dpvae:::is_delayed(SummarizedExperiment::assay(sce, "counts")))
  from_sce <- do.call(dpvae_fit, c(list(sce), args[-1]))
  expect_identical(unname(from_sce$fitted_coords), unname(in_memory$fitted_coords))
})

test_that("the block size does not change a fit", {
  args <- c(list(mob$counts, mob$coords, seed = 3), modifyList(quick_fit_args, list(epochs = 20)))
  whole <- do.call(dpvae_fit, args)
  old <- options(dpvae.block_cells = 40)
  on.exit(options(old))
  blocked <- do.call(dpvae_fit, args)
  expect_equal(blocked$fitted_coords, whole$fitted_coords, tolerance = 1e-12)
  expect_equal(blocked$preprocess, whole$preprocess, tolerance = 1e-12)
})
