# The uncertainty calibration (R/calibration.R): the map's factor from the leave-one-out map, the mean
# placement's from training cells with an honest encoder position (validation cells or a cross-fit).

test_that("mean_shrink (no calibrated mean factor): equal readouts that never disagree keep the map's radius", {
  mapped <- list(coords = cbind(x = 1:30, y = 0), second = (1:30)^2 + 1) # spread 1 around each position
  agree <- mapped$coords
  model <- list(radius_rms = 1, encoder_error_ratio = 1)
  expect_equal(dpvae:::mean_shrink(model, mapped, agree), 1)
  # disagreement 1 per unit spread: (1 + 1) / 2 - 1 / 4
  apart <- agree + rep(c(1, 0), each = 30)
  expect_equal(dpvae:::mean_shrink(model, mapped, apart), sqrt(0.75))
  # a model saved by dpvae 0.2 with an encoder four times worse than the map: the mean errs more than the map
  model$encoder_error_ratio <- 4
  expect_equal(dpvae:::mean_shrink(model, mapped, apart), sqrt(2.5 - 0.25))
  expect_gt(dpvae:::mean_shrink(model, mapped, apart), 1)
  model$encoder_error_ratio <- NULL
  expect_equal(dpvae:::mean_shrink(model, mapped, apart), sqrt(0.75))
})

test_that("calibrate_mean_radius is the 90 % quantile of the mean's error over its spread", {
  truth <- cbind(x = 1:40, y = 0)
  # map 1 to the right, encoder 1 to the left: the mean is exact
  honest <- list(encoder = truth - cbind(rep(1, 40), 0), map = truth + cbind(rep(1, 40), 0), spread = rep(1, 40),
                 truth = truth)
  expect_equal(dpvae:::calibrate_mean_radius(honest), 0)
  # both 2 up: error 2, spread sqrt(1 + 0) = 1
  honest$encoder <- honest$map <- truth + cbind(0, rep(2, 40))
  expect_equal(dpvae:::calibrate_mean_radius(honest), 2)
  honest$spread[] <- 0 # no spread and no disagreement: nothing to scale by
  expect_true(is.na(dpvae:::calibrate_mean_radius(honest)))
  expect_true(is.na(dpvae:::calibrate_mean_radius(NULL)))
  few <- lapply(list(encoder = truth, map = truth, truth = truth), function(m) m[1:10, ])
  expect_true(is.na(dpvae:::calibrate_mean_radius(c(few, list(spread = rep(1, 10))))))
})

test_that("crossfit_folds: enough folds for 800 honest cells, none outside 50-4000 cells or when turned off", {
  withr_options(list(dpvae.crossfit = TRUE), {
    expect_identical(dpvae:::crossfit_folds(437), 5L)
    expect_identical(dpvae:::crossfit_folds(850), 5L)
    expect_identical(dpvae:::crossfit_folds(1999), 3L)
    expect_identical(dpvae:::crossfit_folds(4000), 1L)
    expect_identical(dpvae:::crossfit_folds(49), 0L)
    expect_identical(dpvae:::crossfit_folds(4001), 0L)
  })
  withr_options(list(dpvae.crossfit = FALSE), expect_identical(dpvae:::crossfit_folds(437), 0L))
})

test_that("subset_pairs keeps the pairs within the kept cells, renumbered", {
  pairs <- cbind(c(1L, 2L, 4L), c(3L, 4L, 5L))
  keep <- c(TRUE, FALSE, TRUE, TRUE, TRUE)
  expect_identical(dpvae:::subset_pairs(pairs, keep), cbind(c(1L, 3L), c(2L, 4L)))
  expect_identical(dpvae:::subset_pairs(1:5, keep), c(1L, 3L, 4L, 5L))
  expect_null(dpvae:::subset_pairs(NULL, keep))
  expect_identical(dpvae:::subset_pairs("{\"knn\":10}", keep), "{\"knn\":10}")
})

test_that("the mean placement's factor comes from validation cells, else from a cross-fit, reproducibly", {
  spots <- synthetic_tissue("spots")
  withr_options(list(dpvae.crossfit = TRUE), {
    fit <- dpvae_fit(spots$counts, spots$coords, validation = 0.2, epochs = 60, seed = 1, verbose = FALSE,
                     num.threads = 1)
    expect_length(fit$validation_cells, 45L)
    expect_true(is.finite(fit$radius_mean_factor) && fit$radius_mean_factor > 0)
    a <- dpvae_fit(spots$counts, spots$coords, epochs = 60, seed = 1, verbose = FALSE, num.threads = 1)
    b <- dpvae_fit(spots$counts, spots$coords, epochs = 60, seed = 1, verbose = FALSE, num.threads = 1)
  })
  expect_length(a$validation_cells, 0L)
  expect_true(is.finite(a$radius_mean_factor) && a$radius_mean_factor > 0)
  expect_identical(a$radius_mean_factor, b$radius_mean_factor)
  # turned off: no factor, the fallback model; the fit itself is the same
  off <- withr_options(list(dpvae.crossfit = FALSE),
                       dpvae_fit(spots$counts, spots$coords, epochs = 60, seed = 1, verbose = FALSE, num.threads = 1))
  expect_true(is.na(off$radius_mean_factor))
  expect_identical(off$fitted_coords, a$fitted_coords)
  expect_message(withr_options(list(dpvae.crossfit = TRUE),
                               dpvae_fit(spots$counts, spots$coords, epochs = 20, seed = 1, verbose = TRUE, num.threads = 1)),
                 "cross-fits")
})

test_that("an interrupted fit skips the cross-fit", {
  spots <- synthetic_tissue("spots")
  fit <- withr_options(list(dpvae.crossfit = TRUE, dpvae.stop_at_epoch = 10), suppressWarnings(
    dpvae_fit(spots$counts, spots$coords, epochs = 60, seed = 1, verbose = FALSE, num.threads = 1)))
  expect_true(fit$interrupted)
  expect_true(is.na(fit$radius_mean_factor))
})

test_that("dpvae_reconstruct() fitting its own model skips the cross-fit and leaves the option as it was", {
  spots <- synthetic_tissue("spots")
  masked <- spots$coords
  masked[1:40, ] <- NA
  withr_options(list(dpvae.crossfit = TRUE), {
    res <- dpvae_reconstruct(spots$counts, coords = masked, epochs = 40, seed = 1, verbose = FALSE, num.threads = 1)
    expect_true(getOption("dpvae.crossfit"))
  })
  expect_true(is.na(attr(res, "dpvae_model")$radius_mean_factor))
})

test_that("an interrupted cross-fit warns and leaves no factor", {
  coords <- cbind(x = rep(1:10, 6), y = rep(1:6, each = 10))
  profiles <- matrix(rnorm(60 * 5), 60)
  withr_options(list(dpvae.crossfit = TRUE), {
    expect_warning(out <- dpvae:::crossfit_honest(function(keep) NULL, profiles, coords), class = "dpvae_warning_interrupted")
  })
  expect_null(out)
  expect_true(is.na(dpvae:::calibrate_mean_radius(out)))
})
