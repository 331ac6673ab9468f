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

test_that("kappa comes from the validation cells; without them the readouts count as equally accurate", {
  spots <- synthetic_tissue("spots")
  fit <- dpvae_fit(spots$counts, spots$coords, validation = 0.2, epochs = 60, seed = 1, verbose = FALSE,
                   num.threads = 1)
  expect_length(fit$validation_cells, 45L)
  expect_true(is.finite(fit$encoder_error_ratio) && fit$encoder_error_ratio >= 0.25 && fit$encoder_error_ratio <= 4)
  fit <- dpvae_fit(spots$counts, spots$coords, epochs = 60, seed = 1, verbose = FALSE, num.threads = 1)
  expect_length(fit$validation_cells, 0L)
  expect_true(is.na(fit$encoder_error_ratio))
})
