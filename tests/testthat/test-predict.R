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
