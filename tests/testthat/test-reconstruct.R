test_that("matrix input returns one row per cell, in cell order, with the model attached", {
  co <- mob$coords
  co[1:20, ] <- NA # positions to reconstruct
  res <- do.call(dpvae_reconstruct, c(list(mob$counts, coords = co, seed = 4), quick_fit_args))
  expect_s3_class(res, "data.frame")
  expect_identical(rownames(res), colnames(mob$counts))
  expect_named(res, c("dpvae_x", "dpvae_y", "measured"))
  expect_identical(res$measured, c(rep(FALSE, 20), rep(TRUE, 242)))
  expect_s3_class(attr(res, "dpvae_model"), "dpvae_model")
  expect_equal(dim(attr(res, "latent")), c(262L, 2L))
  # every cell, including the unmeasured ones, gets a finite position
  expect_true(all(is.finite(as.matrix(res[, 1:2]))))
  # out-of-sample accuracy on this tissue is poor for every method (see bench/), so only
  # check that the hidden cells are placed inside the tissue's extent
  rng <- apply(mob$coords, 2, range)
  hid <- as.matrix(res[1:20, 1:2])
  expect_true(all(hid[, 1] > rng[1, 1] - 5 & hid[, 1] < rng[2, 1] + 5))
})

test_that("reference and model modes place new cells", {
  fit <- quick_fit()
  res <- dpvae_reconstruct(mob$counts, model = fit)
  expect_equal(as.matrix(res[, 1:2]), fit$fitted_coords, ignore_attr = TRUE, tolerance = 1e-10)
  expect_false(any(res$measured))
  ref <- list(counts = mob$counts[, 1:200], coords = mob$coords[1:200, ])
  res2 <- do.call(dpvae_reconstruct, c(list(mob$counts[, 201:262], reference = ref, seed = 1),
                                      modifyList(quick_fit_args, list(epochs = 30))))
  expect_identical(rownames(res2), colnames(mob$counts)[201:262])
  expect_error(dpvae_reconstruct(mob$counts, model = fit, lambda = 2), class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(mob$counts), class = "dpvae_error_input")
})
