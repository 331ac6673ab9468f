# smacof(): exact recovery, monotone stress, fixed rows, penalised form, a plain-R reference, bad input.

plain_smacof <- function(delta, x, iters, w = NULL) {
  # Textbook Guttman iterations (de Leeuw): X <- V^+ B(X) X, unit weights: V^+ B X = B X / n.
  n <- nrow(delta)
  if (is.null(w)) w <- matrix(1, n, n)
  diag(w) <- 0
  v <- -w
  diag(v) <- rowSums(w)
  vplus <- solve(v + matrix(1 / n, n, n)) - matrix(1 / n, n, n)
  for (it in seq_len(iters)) {
    d <- as.matrix(dist(x))
    b <- ifelse(d > 0, -w * delta / d, 0)
    diag(b) <- -rowSums(b)
    x <- vplus %*% b %*% x
  }
  x
}

raw_stress <- function(x, delta, w = 1) {
  d <- as.matrix(dist(x))
  sum((w * (d - delta)^2)[upper.tri(d)])
}

set.seed(42)
pts <- matrix(rnorm(60), 30, 2)
dx <- as.matrix(dist(pts))
noisy <- local({
  e <- matrix(0, 30, 30)
  e[upper.tri(e)] <- rnorm(435, sd = 0.3)
  abs(dx + e + t(e))
})
diag(noisy) <- 0

test_that("exact Euclidean distances are recovered up to rotation, from any start", {
  for (init in c("classical", "random")) {
    fit <- smacof(dist(pts), init = init, seed = 1, eps = 1e-12, max_iter = 3000)
    expect_s3_class(fit, "dpvae_smacof")
    expect_lt(procrustes_distance(pts, fit$coords), 1e-6)
    expect_lt(fit$stress1, 1e-4)
  }
  fit3 <- smacof(dx, ndim = 3, seed = 1)
  expect_equal(dim(fit3$coords), c(30L, 3L))
  expect_output(print(fit3), "30 points in 3 dimensions")
})

test_that("stress decreases monotonically and matches the returned coordinates", {
  fit <- smacof(noisy, init = "random", seed = 3, max_iter = 200, eps = 0)
  h <- fit$stress_history
  expect_length(h, fit$iterations + 1L)
  expect_true(all(diff(h) <= 1e-12 * h[1]))
  expect_equal(fit$stress, raw_stress(fit$coords, noisy), tolerance = 1e-10)
  expect_equal(fit$stress1, sqrt(fit$stress / sum(noisy[upper.tri(noisy)]^2)), tolerance = 1e-10)
})

test_that("results match a plain-R SMACOF (unit and general weights)", {
  x0 <- matrix(rnorm(60), 30, 2)
  fit <- smacof(noisy, init = x0, max_iter = 25, eps = 0)
  expect_equal(fit$iterations, 25L)
  expect_equal(unname(fit$coords), plain_smacof(noisy, x0, 25), tolerance = 1e-8)
  w <- matrix(runif(900, 0.2, 2), 30, 30)
  w <- (w + t(w)) / 2
  fitw <- smacof(noisy, weights = w, init = x0, max_iter = 25, eps = 0)
  expect_equal(unname(fitw$coords), plain_smacof(noisy, x0, 25, w), tolerance = 1e-8)
})

test_that("fixed rows never move, penalised version approaches the hard one", {
  fixed <- seq_len(30) <= 12
  init <- pts
  init[!fixed, ] <- NA
  hard <- smacof(noisy, init = init, fixed = fixed, seed = 1, eps = 1e-12, max_iter = 2000)
  expect_identical(hard$coords[fixed, ], pts[fixed, ], ignore_attr = TRUE)
  expect_identical(unname(hard$coords[fixed, ]), unname(pts[fixed, ]))
  expect_true(all(diff(hard$stress_history) <= 1e-12 * hard$stress_history[1]))
  expect_output(print(hard), "12 fixed")
  # given start for the free rows too
  hard2 <- smacof(noisy, init = pts, fixed = fixed, eps = 1e-12, max_iter = 2000)
  expect_identical(unname(hard2$coords[fixed, ]), unname(pts[fixed, ]))
  gap <- vapply(c(1, 100, 1e4), function(mu) {
    pen <- smacof(noisy, init = hard$coords, fixed = fixed, mu = mu, eps = 1e-14, max_iter = 5000)
    max(abs(pen$coords - hard$coords))
  }, numeric(1))
  expect_true(all(diff(gap) < 0))
  expect_lt(gap[3], 1e-2)
  # exact distances: the free points land on their true positions
  exact <- smacof(dist(pts), init = init, fixed = fixed, eps = 1e-14, max_iter = 5000)
  expect_lt(max(abs(exact$coords - pts)), 1e-5)
})

test_that("bad input raises dpvae_error_input with a hint", {
  asym <- dx
  asym[1, 2] <- asym[1, 2] + 1
  expect_error(smacof(asym), class = "dpvae_error_input", regexp = "symmetric")
  neg <- dx
  neg[1, 2] <- neg[2, 1] <- -1
  expect_error(smacof(neg), class = "dpvae_error_input", regexp = "non-negative")
  na <- dx
  na[1, 2] <- na[2, 1] <- NA
  expect_error(smacof(na), class = "dpvae_error_input", regexp = "weight 0")
  expect_error(smacof(dx[, 1:5]), class = "dpvae_error_input", regexp = "square")
  expect_error(smacof("a"), class = "dpvae_error_input")
  expect_error(smacof(dx, weights = matrix(1, 3, 3)), class = "dpvae_error_input", regexp = "30 x 30")
  expect_error(smacof(dx, init = pts, ndim = 3), class = "dpvae_error_input", regexp = "ndim")
  bad_init <- pts
  bad_init[1, ] <- NA
  expect_error(smacof(dx, init = bad_init, fixed = seq_len(30) <= 5), class = "dpvae_error_input", regexp = "NA")
  expect_error(smacof(dx, fixed = seq_len(30) <= 5), class = "dpvae_error_input", regexp = "init")
  expect_error(smacof(dx, fixed = TRUE), class = "dpvae_error_input", regexp = "one entry per point")
  expect_error(smacof(dx, init = pts, mu = 1), class = "dpvae_error_input", regexp = "fixed")
  expect_error(smacof(dx, init = "pca"), class = "dpvae_error_input")
  expect_error(smacof(dx, max_iter = -1), class = "dpvae_error_input")
  expect_error(smacof(dx, foo = 1), class = "rlib_error_dots_nonempty")
  # disconnected weights: the core's message comes back as the same class
  w <- matrix(0, 30, 30)
  w[1:15, 1:15] <- 1
  w[16:30, 16:30] <- 1
  expect_error(smacof(dx, weights = w), class = "dpvae_error_input", regexp = "unconnected")
})

test_that("seed makes random starts reproducible, verbose reports", {
  a <- smacof(noisy, init = "random", seed = 5, n_init = 2)
  b <- smacof(noisy, init = "random", seed = 5, n_init = 2)
  expect_identical(a$coords, b$coords)
  set.seed(1); c1 <- smacof(noisy, init = "random")
  set.seed(1); c2 <- smacof(noisy, init = "random")
  expect_identical(c1$coords, c2$coords)
  # per-update progress is printed from inside the Rust loop (R's handlers do not see it);
  # the final summary is an ordinary message
  expect_message(smacof(noisy, init = "random", seed = 1, max_iter = 3, verbose = TRUE), "stress-1")
})
