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
  expect_error(dpvae_fit(mob$counts, mob$coords, bogus = 1), "must be empty", class = "rlib_error_dots_nonempty")
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

test_that("duplicated cell names with named coordinates, identical fine-tuning coordinates and smacof rows", {
  x <- mob$counts[, 1:20]
  co <- mob$coords[1:20, ]
  colnames(x)[2] <- colnames(x)[1]
  rownames(co) <- colnames(x)
  expect_error(dpvae_fit(x, co, epochs = 2), "duplicated", class = "dpvae_error_input")
  same <- mob$coords[1:30, ]
  same[] <- 1
  expect_error(dpvae_finetune(quick_fit(), mob$counts[, 1:30], same, epochs = 2), "same coordinates",
               class = "dpvae_error_input")
  # smacof(fixed =) takes row numbers and names as well as a logical vector
  pts <- matrix(c(0, 1, 0, 1, 0.5, 0, 0, 1, 1, 0.5), ncol = 2, dimnames = list(letters[1:5], NULL))
  d <- dist(pts)
  a <- smacof(d, init = pts, fixed = c(TRUE, TRUE, TRUE, FALSE, FALSE), seed = 1)
  expect_equal(smacof(d, init = pts, fixed = 1:3, seed = 1)$coords, a$coords)
  expect_equal(smacof(d, init = pts, fixed = c("a", "b", "c"), seed = 1)$coords, a$coords)
  expect_error(smacof(d, init = pts, fixed = c(1, 9)), "row numbers", class = "dpvae_error_input")
  expect_error(smacof(d, init = pts, fixed = "zz"), class = "dpvae_error_input")
})

test_that("dpvae_reconstruct() refuses duplicated cell names before training", {
  x <- mob$counts[, 1:30]
  colnames(x)[5] <- colnames(x)[4]
  ref <- list(counts = mob$counts[, 31:262], coords = mob$coords[31:262, ])
  # stopped before training: an interrupt at epoch 1 would otherwise show as a warning
  withr_opt <- options(dpvae.stop_at_epoch = 1)
  on.exit(options(withr_opt))
  expect_error(dpvae_reconstruct(x, reference = ref, epochs = 500, num.threads = 1, verbose = FALSE),
               "duplicated", class = "dpvae_error_input")
})
