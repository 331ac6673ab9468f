test_that("matrix input returns one row per cell, in cell order, with the model attached", {
  co <- mob$coords
  co[1:20, ] <- NA # positions to reconstruct
  res <- do.call(dpvae_reconstruct, c(list(mob$counts, coords = co, seed = 4), quick_fit_args))
  expect_s3_class(res, "data.frame")
  expect_identical(rownames(res), colnames(mob$counts))
  expect_named(res, c("dpvae_x", "dpvae_y", "measured", "dpvae_uncertainty", "dpvae_outlier_score", "dpvae_imputed_x", "dpvae_imputed_y"))
  expect_identical(res$measured, c(rep(FALSE, 20), rep(TRUE, 242)))
  expect_s3_class(attr(res, "dpvae_model"), "dpvae_model")
  expect_equal(dim(attr(res, "latent")), c(262L, 8L)) # default 8-D latent
  # every cell, including the unmeasured ones, gets a finite position
  expect_true(all(is.finite(as.matrix(res[, 1:2]))))
  # the measured cells are reconstructed well; the hidden ones are placed by the same encoder
  # (out-of-sample accuracy on this tissue is poor for every method, see bench/)
  expect_lt(procrustes_distance(mob$coords[-(1:20), ], as.matrix(res[-(1:20), 1:2])), 0.5 * random_baseline(mob$coords))
  model <- attr(res, "dpvae_model")
  expect_equal(as.matrix(res[1:20, 1:2]), predict(model, mob$counts[, 1:20]), ignore_attr = TRUE, tolerance = 1e-10)
  expect_false(any(rownames(mob$coords)[1:20] %in% model$train_cells))
})

test_that("reference and model modes place new cells", {
  fit <- quick_fit()
  res <- dpvae_reconstruct(mob$counts, model = fit, placement = "encoder")
  expect_equal(as.matrix(res[, 1:2]), fit$fitted_coords, ignore_attr = TRUE, tolerance = 1e-10)
  expect_false(any(res$measured))
  ref <- list(counts = mob$counts[, 1:200], coords = mob$coords[1:200, ])
  res2 <- do.call(dpvae_reconstruct, c(list(mob$counts[, 201:262], reference = ref, seed = 1),
                                      modifyList(quick_fit_args, list(epochs = 30))))
  expect_identical(rownames(res2), colnames(mob$counts)[201:262])
  expect_error(dpvae_reconstruct(mob$counts, model = fit, lambda = 2), class = "dpvae_error_input")
  expect_error(dpvae_reconstruct(mob$counts), class = "dpvae_error_input")
})
