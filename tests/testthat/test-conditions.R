args20 <- modifyList(quick_fit_args, list(epochs = 20))

test_that("NA / Inf in the expression is a classed input error", {
  x <- as.matrix(mob$counts)
  x[3, 7] <- NA
  expect_error(do.call(dpvae_fit, c(list(x, mob$coords), args20)), "NA, NaN or Inf", class = "dpvae_error_input")
  x[3, 7] <- Inf
  expect_error(do.call(dpvae_fit, c(list(x, mob$coords), args20)), class = "dpvae_error_input")
})

test_that("coordinates of the wrong shape are classed input errors", {
  expect_error(do.call(dpvae_fit, c(list(mob$counts, mob$coords[1:100, ]), args20)),
               "one row per cell", class = "dpvae_error_input")
  expect_error(do.call(dpvae_fit, c(list(mob$counts, cbind(mob$coords, 1, 2)), args20)),
               "2 or 3 columns", class = "dpvae_error_input")
  expect_error(do.call(dpvae_fit, c(list(mob$counts, "x"), args20)), class = "dpvae_error_input")
  co <- mob$coords
  co[5, 1] <- NA
  expect_error(do.call(dpvae_fit, c(list(mob$counts, co), args20)), "all known or all NA", class = "dpvae_error_input")
  named <- mob$coords
  rownames(named)[1] <- "not-a-cell"
  expect_error(do.call(dpvae_fit, c(list(mob$counts, named), args20)), "missing", class = "dpvae_error_input")
})

test_that("fewer than 3 cells is a classed input error", {
  expect_error(do.call(dpvae_fit, c(list(mob$counts[, 1:2], mob$coords[1:2, ]), args20)),
               "at least 3 cells", class = "dpvae_error_input")
  co <- mob$coords
  co[-(1:2), ] <- NA
  expect_error(do.call(dpvae_fit, c(list(mob$counts, co), args20)), "at least 3 cells", class = "dpvae_error_input")
})

test_that("bad settings and degenerate data are classed input errors", {
  expect_error(dpvae_fit(mob$counts, mob$coords, lambda = -1), class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, epochs = 0), class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, lr = NA), class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, latent_dim = 1), class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, device = "tpu", epochs = 2, verbose = FALSE), class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, bogus = 1), "Unknown argument", class = "dpvae_error_input")
  flat <- matrix(1, 10, 262, dimnames = list(paste0("g", 1:10), colnames(mob$counts)))
  expect_error(dpvae_fit(flat, mob$coords, verbose = FALSE), "vary", class = "dpvae_error_input")
  same <- mob$coords
  same[] <- 1
  expect_error(do.call(dpvae_fit, c(list(mob$counts, same), args20)), "same coordinates", class = "dpvae_error_input")
  nonames <- unname(as.matrix(mob$counts))
  expect_error(dpvae_fit(nonames, mob$coords), "gene names", class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, normalize = "lognorm", epochs = 2, verbose = FALSE)$config$n_genes, NA)
  expect_error(dpvae_fit(log1p(as.matrix(mob$counts)) + 0.5, mob$coords, normalize = "lognorm"), "raw counts",
               class = "dpvae_error_input")
})

test_that("a diverging fit is a classed training error with a hint", {
  expect_error(do.call(dpvae_fit, c(list(mob$counts, mob$coords, lr = 1e30), args20)),
               "lower `lr`", class = "dpvae_error_training")
})

test_that("errors carry the common parent class", {
  err <- tryCatch(dpvae_fit(mob$counts, mob$coords, lambda = -1), error = identity)
  expect_s3_class(err, "dpvae_error")
})

test_that("invalid choice strings are classed errors that list the choices, never silently ignored", {
  fit <- quick_fit()
  expect_error(predict(fit, mob$counts, type = "foo"), "must be one of", class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, dp_loss = "x", epochs = 2), "dp_loss", class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, normalize = "x", epochs = 2), "normalize", class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(mob$counts, model = fit, placement = "near"), "placement", class = "dpvae_error_input")
  # impute is checked even when no cell needs imputing
  expect_error(dpvae_reconstruct(mob$counts, coords = mob$coords, impute = "foo", epochs = 2),
               "impute", class = "dpvae_error_input")
  expect_error(dpvae_example_data("x"), class = "dpvae_error_input")
})
