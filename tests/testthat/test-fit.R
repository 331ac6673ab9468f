test_that("held-out spots of the bundled hippocampus are placed in the reference frame, far better than random", {
  hippo <- dpvae_example_data("hippo")$spatial
  set.seed(23)
  test <- sample(ncol(hippo$counts), 90)
  fit <- dpvae_fit(hippo$counts[, -test], hippo$coords[-test, ], epochs = 300, seed = 11, verbose = FALSE,
                   num.threads = 1)
  expect_s3_class(fit, "dpvae_model")
  pred <- predict(fit, hippo$counts[, test])
  truth <- hippo$coords[test, ]
  base <- random_baseline(truth)
  expect_gt(base, 0.9)
  expect_lt(procrustes_distance(truth, pred), 0.6 * base) # bench: 0.37 on 30 % held out
  # positions are in the reference's coordinates, not just up to rotation: close in absolute terms
  rms <- sqrt(mean(rowSums((pred - truth)^2)))
  spread <- sqrt(mean(rowSums(sweep(truth, 2, colMeans(truth))^2)))
  expect_lt(rms, 0.8 * spread)
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

test_that("held-out cells: the dp-VAE places them well, and better than the plain VAE", {
  spots <- synthetic_tissue("spots")
  set.seed(21)
  test <- sample(225, 70)
  fit_on <- function(...) dpvae_fit(spots$counts[, -test], spots$coords[-test, ], epochs = 200, seed = 4,
                                    verbose = FALSE, num.threads = 1, ...)
  err <- function(fit) procrustes_distance(spots$coords[test, ], predict(fit, spots$counts[, test]))
  dp <- fit_on()
  vae <- fit_on(lambda = 0)
  e_dp <- err(dp)
  expect_lt(e_dp, 0.15)
  expect_lt(e_dp, 0.75 * err(vae)) # measured 0.091 vs 0.155
  expect_lt(e_dp, 0.2 * random_baseline(spots$coords[test, ]))
  expect_true(all(vae$history$dp == 0))
  expect_gt(max(dp$history$dp), 0)
})

test_that("above options(dpvae.tensor_mb) the expression is held in half precision: held-out cells as well placed", {
  spots <- synthetic_tissue("spots")
  set.seed(21)
  test <- sample(225, 70)
  fit_on <- function() dpvae_fit(spots$counts[, -test], spots$coords[-test, ], epochs = 200, seed = 4,
                                 verbose = FALSE, num.threads = 1)
  single <- fit_on()
  half <- withr_options(list(dpvae.tensor_mb = 0.01), fit_on()) # 155 cells x 200 genes x 4 bytes > 10 kB
  expect_false(single$config$half_input)
  expect_true(half$config$half_input)
  expect_false(identical(half$fitted_coords, single$fitted_coords))
  # predict() rounds new cells as the fit did, so it reproduces the fitted coordinates (as test-predict.R)
  expect_equal(predict(half, spots$counts[, -test]), half$fitted_coords, tolerance = 1e-10)
  err <- function(fit) procrustes_distance(spots$coords[test, ], predict(fit, spots$counts[, test]))
  expect_lt(abs(err(half) - err(single)), 0.03)
  expect_error(withr_options(list(dpvae.tensor_mb = -1), fit_on()), class = "dpvae_error_input")
  expect_identical(withr_options(list(dpvae.tensor_mb = Inf), fit_on())$fitted_coords, single$fitted_coords)
})

test_that("bfloat16 products (options(dpvae.bf16)): minibatch fits only by default, held-out cells as well placed", {
  spots <- synthetic_tissue("spots")
  set.seed(21)
  test <- sample(225, 70)
  fit_on <- function(batch_size = 32) dpvae_fit(spots$counts[, -test], spots$coords[-test, ], epochs = 100, seed = 4,
                                                batch_size = batch_size, verbose = FALSE, num.threads = 1)
  single <- withr_options(list(dpvae.bf16 = FALSE), fit_on())
  bf16 <- withr_options(list(dpvae.bf16 = TRUE), fit_on())
  expect_false(single$config$bf16_products)
  expect_true(bf16$config$bf16_products)
  expect_false(identical(bf16$fitted_coords, single$fitted_coords))
  # same seed, same fit; predict() (double precision) reproduces the fitted coordinates
  expect_identical(withr_options(list(dpvae.bf16 = TRUE), fit_on())$fitted_coords, bf16$fitted_coords)
  expect_equal(predict(bf16, spots$counts[, -test]), bf16$fitted_coords, tolerance = 1e-10)
  err <- function(fit) procrustes_distance(spots$coords[test, ], predict(fit, spots$counts[, test]))
  expect_lt(abs(err(bf16) - err(single)), 0.03)
  # "auto": minibatch fits of >= 256 genes where the CPU has bfloat16 arithmetic; full batch or fewer genes never
  expect_false(fit_on()$config$bf16_products) # 200 genes
  expect_false(fit_on(batch_size = 0)$config$bf16_products)
  rule <- function(...) dpvae:::bf16_products(list(validation = 0, ...), n_train = 5000)
  expect_identical(rule(batch_size = 1024, n_genes = 2000), libtorch_info()$bf16_native)
  expect_false(rule(batch_size = 0, n_genes = 2000))
  expect_false(rule(batch_size = 1024, n_genes = 255))
  expect_error(withr_options(list(dpvae.bf16 = "yes"), fit_on()), class = "dpvae_error_input")
  expect_output(print(bf16), "bfloat16")
})

test_that("held-out cells with the settings tests rarely reach: fixed scale, sampled latent, absolute loss", {
  spots <- synthetic_tissue("spots")
  set.seed(22)
  test <- sample(225, 70)
  for (extra in list(list(scale = 2), list(dp_latent = "sample"), list(dp_loss = "absolute"))) {
    fit <- do.call(dpvae_fit, c(list(spots$counts[, -test], spots$coords[-test, ], epochs = 200, seed = 4,
                                     verbose = FALSE, num.threads = 1), extra))
    if (!is.null(extra$scale)) expect_equal(fit$scale, 2) # a fixed scale is not learned
    expect_lt(procrustes_distance(spots$coords[test, ], predict(fit, spots$counts[, test])), 0.25,
              label = names(extra))
  }
})

test_that("the defaults above 2000 and 4000 cells: a validation split, minibatches, held-out accuracy", {
  cells <- synthetic_tissue("cells", n = 4600, seed = 3)
  test <- 1:400
  fit <- dpvae_fit(cells$counts[, -test], cells$coords[-test, ], epochs = 40, warmup = 10, seed = 1,
                   verbose = FALSE, num.threads = 1)
  expect_equal(fit$config$batch_size, 1024) # above 4000 training cells
  expect_length(fit$validation_cells, round(0.1 * 4200)) # above 2000
  expect_true(all(fit$validation_cells %in% colnames(cells$counts)[-test]))
  expect_lt(procrustes_distance(cells$coords[test, ], predict(fit, cells$counts[, test])),
            0.6 * random_baseline(cells$coords[test, ]))
})

test_that("the model keeps its history, settings and preprocessing", {
  fit <- quick_fit()
  expect_equal(nrow(fit$history), 150)
  expect_named(fit$history, c("epoch", "loss", "recon", "kl", "dp", "scale", "stress", "seconds"))
  expect_true(all(is.na(fit$history$stress[1:20])))
  expect_true(all(is.finite(fit$history$stress[21:150])))
  expect_equal(fit$config$lambda, 10)
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

test_that("count likelihoods train on raw counts and lower their loss", {
  for (lik in c("nb", "zinb")) {
    fit <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, likelihood = lik),
                                modifyList(quick_fit_args, list(epochs = 60, n_genes = 200))))
    expect_equal(fit$config$likelihood, lik)
    expect_lt(tail(fit$history$recon, 1), fit$history$recon[1])
    expect_lt(procrustes_distance(mob$coords, fit$fitted_coords), 0.5)
  }
  expect_error(dpvae_fit(log1p(as.matrix(mob$counts)), mob$coords, likelihood = "nb", verbose = FALSE),
               "raw counts", class = "dpvae_error_input")
})

test_that("the scale's bounds come from Rust: a scale pinned at one is a divergence", {
  bounds <- dpvae:::scale_bounds_impl()
  expect_equal(bounds, c(1e-3, 1e3))
  history <- data.frame(loss = c(2, 1), stress = c(0.5, 0.4))
  expect_null(dpvae:::divergence(history, 1))
  expect_match(dpvae:::divergence(history, bounds[2]), "bound")
  expect_match(dpvae:::divergence(history, bounds[1]), "bound")
  expect_error(dpvae_fit(mob$counts, mob$coords, scale = 2 * bounds[2], verbose = FALSE), class = "dpvae_error_input")
})

test_that("a kNN mask leaves distances across a gap unconstrained (held-out cells)", {
  # Synthetic spots whose right half is moved 50 units right: expression is continuous across the cut,
  # the coordinates are not. All pairs make the encoder reproduce the gap; with a kNN mask no pair spans
  # it (k = 6 << gap), so the latent keeps the halves adjacent and held-out cells land in between.
  # Ignoring the mask (all pairs) would give the same fit as the first one.
  spots <- synthetic_tissue("spots")
  co <- spots$coords
  right <- co[, 1] > 5
  co[right, 1] <- co[right, 1] + 50
  set.seed(3)
  held <- sort(sample(nrow(co), 45))
  train <- setdiff(seq_len(nrow(co)), held)
  gap <- function(p) stats::median(p[right[held], 1]) - stats::median(p[!right[held], 1])
  args <- list(spots$counts[, train], co[train, ], epochs = 150, warmup = 20, patience = 0, seed = 1,
               verbose = FALSE, num.threads = 1)
  all <- do.call(dpvae_fit, args)
  knn <- do.call(dpvae_fit, c(args, list(mask = "knn", k = 6)))
  gap_all <- gap(predict(all, spots$counts[, held]))
  gap_knn <- gap(predict(knn, spots$counts[, held]))
  expect_gt(gap_all, 0.75 * gap(co[held, ])) # ~51 of 57
  expect_lt(gap_knn, 0.7 * gap_all) # ~25
})

test_that("masks restrict the distance-preserving pairs", {
  args <- modifyList(quick_fit_args, list(epochs = 80))
  knn <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, mask = "knn", k = 6), args))
  expect_equal(knn$mask, "knn")
  # a kNN mask constrains local distances only: spatial neighbours stay close in the reconstruction
  d_true <- as.matrix(dist(mob$coords))
  nb <- t(apply(d_true, 1, function(r) order(r)[2:7]))
  d_rec <- as.matrix(dist(knn$fitted_coords))
  near <- mean(d_rec[cbind(rep(1:262, 6), as.vector(nb))])
  expect_lt(near, 0.8 * mean(d_rec[upper.tri(d_rec)]))
  expect_true(all(knn$history$dp[-(1:20)] > 0))
  # two halves as separate "sections": pairs across them never count
  half <- ifelse(mob$coords[, 1] > median(mob$coords[, 1]), "a", "b")
  grp <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, mask = half), args))
  expect_equal(grp$mask, "groups")
  expect_true(all(is.finite(grp$history$dp)))
  pairs <- rbind(c(1, 2), c(2, 3), c(10, 40), c(5, 200))
  usr <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, mask = pairs), modifyList(args, list(epochs = 30))))
  expect_equal(usr$mask, "user pairs")
  sp <- Matrix::sparseMatrix(i = pairs[, 1], j = pairs[, 2], x = 1, dims = c(262, 262))
  usr2 <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, mask = sp), modifyList(args, list(epochs = 30))))
  expect_identical(usr$fitted_coords, usr2$fitted_coords)
  expect_error(dpvae_fit(mob$counts, mob$coords, mask = "nearest"), class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, mask = 1:5), class = "dpvae_error_input")
  expect_error(dpvae_fit(mob$counts, mob$coords, mask = rbind(c(1, 999))), class = "dpvae_error_input")
})

test_that("minibatches, validation split, wider latents and uncertainty", {
  args <- modifyList(quick_fit_args, list(epochs = 80))
  mb <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, batch_size = 64), args))
  expect_equal(mb$config$batch_size, 64)
  expect_lt(procrustes_distance(mob$coords, mb$fitted_coords), 0.5)
  val <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, validation = 0.2), args))
  expect_length(val$validation_cells, round(262 * 0.2))
  expect_true(all(val$validation_cells %in% rownames(mob$coords)))
  wide <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1, latent_dim = 4), args))
  expect_equal(ncol(predict(wide, mob$counts, type = "latent")), 4)
  expect_equal(ncol(predict(wide, mob$counts)), 2)
  expect_lt(procrustes_distance(mob$coords, wide$fitted_coords), 0.5)
  p <- predict(mb, mob$counts[, 1:30], n_samples = 10, seed = 1)
  u <- attr(p, "uncertainty")
  expect_length(u, 30)
  expect_true(all(is.finite(u) & u > 0))
  expect_identical(u, attr(predict(mb, mob$counts[, 1:30], n_samples = 10, seed = 1), "uncertainty"))
  res <- dpvae_reconstruct(mob$counts[, 1:30], model = mb, n_samples = 5)
  expect_true("dpvae_uncertainty" %in% names(res))
})

test_that("an interrupted fit keeps the best state so far, warns, and leaves inputs unchanged", {
  skip_if_not_installed("SeuratObject")
  obj <- suppressWarnings(SeuratObject::CreateSeuratObject(counts = mob$counts))
  obj$x <- mob$coords[, 1]
  obj$y <- mob$coords[, 2]
  before <- obj
  old <- options(dpvae.stop_at_epoch = 40)
  on.exit(options(old))
  expect_warning(fit <- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 1), quick_fit_args)),
                 class = "dpvae_warning_interrupted")
  expect_true(fit$interrupted)
  expect_equal(fit$epochs_run, 40)
  expect_true(fit$best_epoch > 20 && fit$best_epoch <= 40)
  expect_true(all(is.finite(fit$fitted_coords)))
  expect_warning(out <- do.call(dpvae_reconstruct, c(list(obj, coords = c("x", "y"), seed = 1), quick_fit_args)),
                 class = "dpvae_warning_interrupted")
  expect_identical(obj, before)
  expect_true(SeuratObject::Misc(out, "dpvae")$interrupted)
})

test_that("a diverged fit warns (classed) and its summary says so", {
  expect_warning(fit <- dpvae_fit(mob$counts, mob$coords, n_genes = 200, epochs = 30, lr = 10, warmup = 0,
                                  verbose = FALSE, seed = 1, num.threads = 1),
                 class = "dpvae_warning_diverged")
  expect_type(fit$diverged, "character")
  expect_output(print(summary(fit)), "diverged")
  ok <- quick_fit()
  expect_null(ok$diverged)
})

test_that("a full batch far too large is refused up front with the estimate and the fix", {
  err <- expect_error(dpvae:::check_full_batch(0L, 1e6), class = "dpvae_error_input")
  expect_match(conditionMessage(err), "batch_size = 1024")
  expect_match(conditionMessage(err), " h per epoch")
  expect_silent(dpvae:::check_full_batch(1024L, 1e6))
  expect_silent(dpvae:::check_full_batch(0L, 5000))
})

test_that("default warm-up and patience shrink in epochs only when an epoch is many minibatch steps", {
  resolved <- function(n_train, ...) {
    s <- dpvae:::fit_settings(n_genes = 500, hidden = 16, latent_dim = 8, lambda = 10, beta = 1, alpha = 1,
                              dp_loss = "squared", epochs = 1000, lr = 5e-3, warmup = NULL, patience = NULL,
                              seed = 1, num.threads = NULL, spatial_dims = 2, n_train = n_train, ...)$rust
    c(warmup = s$warmup, patience = s$patience)
  }
  # full batch and every minibatch fit of the benchmark's sizes (up to starmap_3d's 23k cells) keep 50 / 100
  expect_equal(resolved(300), c(warmup = 50L, patience = 100L))
  expect_equal(resolved(4001), c(warmup = 50L, patience = 100L))
  expect_equal(resolved(23000), c(warmup = 50L, patience = 100L))
  # 100k cells: 90k after validation, 88 steps an epoch -> at most ~1,250 / 2,500 steps
  expect_equal(resolved(1e5), c(warmup = 15L, patience = 29L))
  # 1M: the floors
  expect_equal(resolved(1e6), c(warmup = 5L, patience = 10L))
  # smaller batches are more steps an epoch; the user's values always win
  expect_equal(resolved(1e5, batch_size = 4096L), c(warmup = 50L, patience = 100L))
  s <- dpvae:::fit_settings(n_genes = 500, hidden = 16, latent_dim = 8, lambda = 10, beta = 1, alpha = 1,
                            dp_loss = "squared", epochs = 1000, lr = 5e-3, warmup = 50, patience = 100,
                            seed = 1, num.threads = NULL, spatial_dims = 2, n_train = 1e6)$rust
  expect_equal(c(s$warmup, s$patience), c(50L, 100L))
  mob <- dpvae_example_data()
  fit <- dpvae_fit(mob$counts, mob$coords, n_genes = 200, epochs = 2, seed = 1, verbose = FALSE, num.threads = 1)
  expect_equal(c(fit$config$warmup, fit$config$patience), c(50L, 100L))
})

test_that("the history records the seconds since training started, for the time per epoch", {
  fit <- quick_fit()
  s <- fit$history$seconds
  expect_length(s, fit$epochs_run)
  expect_true(all(is.finite(s)) && s[1] >= 0)
  expect_true(all(diff(s) >= 0))
  expect_lte(s[length(s)], fit$seconds)
})
