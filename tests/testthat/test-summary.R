test_that("summary() reports data, settings, training, final losses, device and time", {
  fit <- quick_fit()
  s <- summary(fit)
  expect_s3_class(s, "summary.dpvae_model")
  expect_equal(s$data$cells, 262)
  expect_equal(s$data$genes, 500)
  expect_equal(s$settings$lambda, 10)
  expect_equal(s$training$epochs_run, 150)
  expect_equal(s$training$device, "auto")
  expect_true(s$training$seconds >= 0)
  expect_named(s$final, c("loss", "recon", "kl", "dp", "stress"))
  expect_equal(s$best_stress, fit$history$stress[fit$best_epoch])
  out <- capture.output(print(s))
  expect_match(out, "262 training cells x 500 genes", all = FALSE)
  expect_match(out, "lambda = 10", all = FALSE)
  expect_match(out, "150 epochs", all = FALSE)
  expect_match(out, "device auto", all = FALSE)
  expect_output(print(fit), "trained on 262 cells")
  expect_error(summary(structure(list(), class = "dpvae_model")), class = "dpvae_error_model")
})

test_that("verbose = FALSE is silent; verbose = TRUE reports progress", {
  args <- modifyList(quick_fit_args, list(epochs = 10, warmup = 5))
  expect_silent(do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1), args)))
  expect_silent(do.call(dpvae_reconstruct, c(list(mob$counts, coords = mob$coords, seed = 1), args)))
  withr_opts <- options(cli.progress_show_after = 0, cli.dynamic = FALSE)
  on.exit(options(withr_opts), add = TRUE)
  args$verbose <- TRUE
  msgs <- character()
  err <- capture.output(type = "message", fit <- withCallingHandlers(
    do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1), args)),
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m))
      invokeRestart("muffleMessage")
    }))
  # the cli progress bar (written to stderr) and the closing message
  expect_true(any(grepl("10/10", err)))
  expect_s3_class(fit, "dpvae_model")
  expect_true(any(grepl("dp-VAE: 10 epochs", msgs)))
})

test_that("the example data loader returns both data sets", {
  expect_identical(dpvae_example_data(), dpvae_example_data("mob"))
  h <- dpvae_example_data("hippo")
  expect_equal(dim(h$spatial$counts), c(276L, 313L))
  expect_equal(dim(h$spatial$coords), c(313L, 2L))
  expect_identical(rownames(h$spatial$coords), colnames(h$spatial$counts))
  expect_equal(dim(h$scrna$counts), c(307L, 510L))
  expect_length(h$scrna$cell_type, 510)
  expect_length(intersect(rownames(h$spatial$counts), rownames(h$scrna$counts)), 124)
  expect_error(dpvae_example_data("nope"), class = "dpvae_error_input")
})
