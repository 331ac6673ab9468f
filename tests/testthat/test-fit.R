test_that("the bundled data are reconstructed far better than random coordinates", {
  fit <- quick_fit()
  expect_s3_class(fit, "dpvae_model")
  err <- procrustes_distance(mob$coords, fit$fitted_coords)
  base <- random_baseline(mob$coords)
  expect_gt(base, 0.9)
  expect_lt(err, 0.5 * base)
  # predictions are in the reference frame, not just up to rotation: close in absolute terms
  rms <- sqrt(mean(rowSums((fit$fitted_coords - mob$coords)^2)))
  spread <- sqrt(mean(rowSums(sweep(mob$coords, 2, colMeans(mob$coords))^2)))
  expect_lt(rms, 0.5 * spread)
})

test_that("the same seed gives identical coordinates, another seed does not", {
  a <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 5), modifyList(quick_fit_args, list(epochs = 40))))
  b <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 5), modifyList(quick_fit_args, list(epochs = 40))))
  c <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 6), modifyList(quick_fit_args, list(epochs = 40))))
  expect_identical(a$fitted_coords, b$fitted_coords)
  expect_identical(a$weights, b$weights)
  expect_false(isTRUE(all.equal(a$fitted_coords, c$fitted_coords)))
})

test_that("set.seed() makes fits reproducible when no seed is given", {
  args <- modifyList(quick_fit_args, list(epochs = 30))
  set.seed(3); a <- do.call(dpvae_fit, c(list(mob$counts, mob$coords), args))
  set.seed(3); b <- do.call(dpvae_fit, c(list(mob$counts, mob$coords), args))
  expect_identical(a$fitted_coords, b$fitted_coords)
})

test_that("the distance-preserving term beats the plain VAE in-sample", {
  dp <- quick_fit()
  vae <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 11, lambda = 0), quick_fit_args))
  e_dp <- procrustes_distance(mob$coords, dp$fitted_coords)
  e_vae <- procrustes_distance(mob$coords, vae$fitted_coords)
  expect_lt(e_dp, e_vae - 0.2)
  expect_true(all(vae$history$dp == 0))
  expect_gt(max(dp$history$dp), 0)
})

test_that("the model keeps its history, settings and preprocessing", {
  fit <- quick_fit()
  expect_equal(nrow(fit$history), 150)
  expect_named(fit$history, c("epoch", "loss", "recon", "kl", "dp", "scale", "stress"))
  expect_true(all(is.na(fit$history$stress[1:20])))
  expect_true(all(is.finite(fit$history$stress[21:150])))
  expect_equal(fit$config$lambda, 1)
  expect_length(fit$preprocess$genes, 500)
  expect_true(fit$preprocess$lognorm)
  expect_output(print(fit), "trained on 262 cells x 500 genes")
})

test_that("sparse and dense input give the same model", {
  args <- c(list(seed = 2), modifyList(quick_fit_args, list(epochs = 20)))
  a <- do.call(dpvae_fit, c(list(mob$counts, mob$coords), args))
  b <- do.call(dpvae_fit, c(list(as.matrix(mob$counts), mob$coords), args))
  expect_identical(a$fitted_coords, b$fitted_coords)
})

test_that("cells without coordinates are left out of training", {
  co <- mob$coords
  co[1:30, ] <- NA
  fit <- do.call(dpvae_fit, c(list(mob$counts, co, seed = 1), modifyList(quick_fit_args, list(epochs = 20))))
  expect_length(fit$train_cells, 232)
  expect_false(any(rownames(mob$coords)[1:30] %in% fit$train_cells))
})
