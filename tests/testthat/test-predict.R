test_that("predict() on the training cells reproduces the fitted coordinates", {
  fit <- quick_fit()
  p <- predict(fit, mob$counts)
  expect_equal(dim(p), c(262L, 2L))
  expect_identical(rownames(p), colnames(mob$counts))
  expect_equal(p, fit$fitted_coords, tolerance = 1e-10, ignore_attr = TRUE)
  lat <- predict(fit, mob$counts, type = "latent")
  expect_equal(colnames(lat), paste0("latent_", 1:8)) # the default latent is 8-D
  expect_true(all(is.finite(lat)))
})

test_that("a model survives saveRDS()/readRDS() with bit-identical predictions", {
  fit <- quick_fit()
  f <- tempfile(fileext = ".rds")
  saveRDS(fit, f)
  back <- readRDS(f)
  expect_identical(predict(back, mob$counts), predict(fit, mob$counts))
})

test_that("corrupt or foreign models give a classed error, not a crash", {
  fit <- quick_fit()
  bad <- fit
  bad$weights <- as.raw(sample(0:255, 500, replace = TRUE))
  expect_error(predict(bad, mob$counts), class = "dpvae_error_model")
  trunc <- fit
  trunc$weights <- fit$weights[1:200]
  expect_error(predict(trunc, mob$counts), class = "dpvae_error_model")
  wrong <- fit
  wrong$config_json <- "{\"n_genes\": 12"
  expect_error(predict(wrong, mob$counts), class = "dpvae_error_model")
  expect_error(predict(structure(list(), class = "dpvae_model"), mob$counts), class = "dpvae_error_model")
  frame <- fit
  frame$frame_json <- "[1,2]"
  expect_error(predict(frame, mob$counts), class = "dpvae_error_model")
})

test_that("new data with part of the genes are matched by name, with a warning", {
  fit <- quick_fit()
  genes <- fit$preprocess$genes
  sub <- mob$counts[setdiff(rownames(mob$counts), genes[1:50]), ]
  expect_warning(p <- predict(fit, sub), class = "dpvae_warning_genes")
  expect_equal(dim(p), c(262L, 2L))
  expect_error(predict(fit, mob$counts[setdiff(rownames(mob$counts), genes[1:400]), ]), class = "dpvae_error_input")
})

test_that("altered weights fail their checksum with a classed error (no silent 1e37 positions)", {
  fit <- quick_fit()
  bad <- fit
  at <- length(bad$weights) - 100L
  bad$weights[at] <- as.raw(bitwXor(as.integer(bad$weights[at]), 16L))
  bad$weights[at + 1L] <- as.raw(bitwXor(as.integer(bad$weights[at + 1L]), 1L))
  err <- expect_error(predict(bad, mob$counts[, 1:10]), class = "dpvae_error_model")
  expect_match(conditionMessage(err), "checksum")
  expect_error(dpvae_reconstruct(mob$counts[, 1:10], model = bad, verbose = FALSE), class = "dpvae_error_model")
})

test_that("NA in the stored preprocessing is a classed model error", {
  fit <- quick_fit()
  bad <- fit
  bad$preprocess$mean[3] <- NA
  expect_error(predict(bad, mob$counts[, 1:10]), class = "dpvae_error_model")
  bad <- fit
  bad$preprocess$sd <- bad$preprocess$sd[-1]
  expect_error(predict(bad, mob$counts[, 1:10]), class = "dpvae_error_model")
})

test_that("predict() takes num.threads and gives the same positions", {
  fit <- quick_fit()
  one <- predict(fit, mob$counts[, 1:30], num.threads = 1)
  two <- predict(fit, mob$counts[, 1:30], num.threads = 2)
  expect_equal(one, two, tolerance = 1e-6)
  expect_error(predict(fit, mob$counts[, 1:30], num.threads = 0), class = "dpvae_error_input")
})

test_that("the encoder is loaded once per call and refused once it left its process", {
  fit <- quick_fit()
  cells <- dpvae_example_data()$counts[, 1:30]
  # BLAS kernels for other block sizes may sum in another order: equal to the last bits, not identical
  whole <- predict(fit, cells, num.threads = 1)
  old <- options(dpvae.block_cells = 7L) # five blocks through one loaded encoder
  blocked <- predict(fit, cells, num.threads = 1)
  options(old)
  expect_equal(blocked, whole, tolerance = 1e-12)
  encoder <- dpvae:::load_encoder(fit, "cpu")
  path <- tempfile(fileext = ".rds")
  saveRDS(encoder, path)
  options <- list(n_samples = 0L, seed = 1, num_threads = 1L)
  expect_error(dpvae:::encode_block(cells, 1L, fit, "cpu", options, encoder = readRDS(path)),
               "not valid in this R process", class = "dpvae_error_model")
  expect_equal(dpvae:::encode_block(cells, 1L, fit, "cpu", options, encoder = encoder)$coords,
               unname(whole), tolerance = 1e-12)
})
