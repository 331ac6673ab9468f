# The mean placement's calibration (R/calibration.R): the encoder's held-out error measured at fit time.

test_that("mean_shrink: equal readouts that never disagree keep the map's radius; a worse encoder widens it", {
  mapped <- list(coords = cbind(x = 1:30, y = 0), second = (1:30)^2 + 1) # spread 1 around each position
  agree <- mapped$coords
  model <- list(radius_rms = 1, encoder_error_ratio = 1)
  expect_equal(dpvae:::mean_shrink(model, mapped, agree), 1)
  # disagreement 1 per unit spread: (1 + 1) / 2 - 1 / 4
  apart <- agree + rep(c(1, 0), each = 30)
  expect_equal(dpvae:::mean_shrink(model, mapped, apart), sqrt(0.75))
  # an encoder with four times the map's squared error: the mean errs more than the map alone
  model$encoder_error_ratio <- 4
  expect_equal(dpvae:::mean_shrink(model, mapped, apart), sqrt(2.5 - 0.25))
  expect_gt(dpvae:::mean_shrink(model, mapped, apart), 1)
  # models saved before the ratio existed: equally accurate readouts
  model$encoder_error_ratio <- NULL
  expect_equal(dpvae:::mean_shrink(model, mapped, apart), sqrt(0.75))
})

test_that("error_ratio compares the two readouts per unit spread", {
  truth <- cbind(x = 1:40, y = 0)
  mapped <- list(coords = truth + rep(c(1, 0), each = 40), spread = rep(2, 40), truth = truth)
  expect_equal(dpvae:::error_ratio(mapped, truth + rep(c(0, 2), each = 40)), 4)
  expect_equal(dpvae:::error_ratio(mapped, truth + rep(c(0, 0.5), each = 40)), 0.25)
  # too few usable cells to say: NA
  few <- list(coords = mapped$coords[1:5, ], spread = rep(2, 5), truth = truth[1:5, ])
  expect_true(is.na(dpvae:::error_ratio(few, truth[1:5, ])))
  expect_true(is.na(dpvae:::encoder_error_ratio(NULL, NULL)))
  # only the held-out rows among the calibration's rows count
  loo <- list(rows = 1:40, coords = mapped$coords, spread = mapped$spread, truth = truth)
  held <- list(rows = c(seq(2, 40, by = 2), 41:60), coords = rbind(truth[seq(2, 40, by = 2), ] + rep(c(0, 2), each = 20), matrix(1e6, 20, 2)))
  expect_equal(dpvae:::encoder_error_ratio(loo, held), 4)
})

test_that("pairs_within keeps and renumbers pairs and group labels of the kept cells", {
  pairs <- cbind(c(1L, 2L, 4L, 5L), c(2L, 3L, 5L, 1L))
  out <- dpvae:::pairs_within(pairs, c(1L, 2L, 4L, 5L)) # cell 3 dropped
  expect_equal(out, cbind(c(1L, 3L, 4L), c(2L, 4L, 1L)))
  expect_equal(dpvae:::pairs_within(c(3L, 3L, 1L, 2L), c(1L, 2L, 4L)), c(2L, 2L, 1L))
  expect_null(dpvae:::pairs_within(NULL, 1:3))
  expect_identical(dpvae:::pairs_within('{"knn":6}', 1:3), '{"knn":6}') # rebuilt on the kept cells
})

test_that("the cross-fit runs with a kNN mask and with sections, and the option turns it off", {
  spots <- synthetic_tissue("spots")
  fit <- dpvae_fit(spots$counts, spots$coords, mask = "knn", epochs = 60, seed = 1, verbose = FALSE, num.threads = 1)
  expect_true(is.finite(fit$encoder_error_ratio))
  halves <- ifelse(spots$coords[, 1] < stats::median(spots$coords[, 1]), "a", "b")
  fit <- dpvae_fit(spots$counts, spots$coords, mask = halves, epochs = 60, seed = 1, verbose = FALSE, num.threads = 1)
  expect_true(is.finite(fit$encoder_error_ratio))
  withr_options <- options(dpvae.crossfit = FALSE)
  on.exit(options(withr_options))
  fit <- dpvae_fit(spots$counts, spots$coords, epochs = 60, seed = 1, verbose = FALSE, num.threads = 1)
  expect_true(is.na(fit$encoder_error_ratio))
})
