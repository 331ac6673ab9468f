test_that("procrustes_distance matches scipy.spatial.procrustes", {
  # scipy's documented example: b is a rotated, scaled, shifted copy of a
  a <- cbind(c(1, 1, 1, 2), c(3, 2, 1, 1))
  b <- cbind(c(4, 4, 4, 2), c(-2, -4, -6, -6))
  expect_lt(procrustes_distance(a, b), 1e-12)
  # value computed with scipy 1.17: procrustes([[0,0],[1,0],[0,1],[1,1]], [[0,0],[2,.5],[.2,1],[1,1.7]])[2]
  x <- rbind(c(0, 0), c(1, 0), c(0, 1), c(1, 1))
  y <- rbind(c(0, 0), c(2, 0.5), c(0.2, 1), c(1, 1.7))
  expect_equal(procrustes_distance(x, y), 0.10714285714285718, tolerance = 1e-12)
  res <- procrustes_distance(x, y, aligned = TRUE)
  expect_equal(sum((res$x - res$y)^2), res$disparity)
  expect_equal(sum(res$x^2), 1)
})

test_that("procrustes_distance is symmetric in 2-D and 3-D, and invariant to similarity transforms", {
  set.seed(1)
  x <- matrix(rnorm(60), 20, 3)
  y <- x + matrix(rnorm(60, sd = 0.3), 20, 3)
  expect_equal(procrustes_distance(x, y), procrustes_distance(y, x), tolerance = 1e-10)
  q <- qr.Q(qr(matrix(rnorm(9), 3)))
  expect_equal(procrustes_distance(x, 3 * y %*% q + 5), procrustes_distance(x, y), tolerance = 1e-10)
})

test_that("bad input to procrustes_distance is a classed error", {
  expect_error(procrustes_distance(matrix(1:4, 2), matrix(1:6, 2)), class = "dpvae_error_input")
  expect_error(procrustes_distance(matrix(1, 3, 2), matrix(1:6, 3)), class = "dpvae_error_input")
  expect_error(procrustes_distance(matrix(c(1:5, NA), 3), matrix(1:6, 3)), class = "dpvae_error_input")
  expect_error(procrustes_distance("a", matrix(1:6, 3)), class = "dpvae_error_input")
})

test_that("spatial_expression_correlation equals R's cor() over all pairs, sparse == dense", {
  requireNamespace("Matrix") # dgCMatrix methods (the package does not attach Matrix)
  x <- log1p(mob$counts[1:300, 1:120])
  co <- mob$coords[1:120, ]
  xd <- as.matrix(x)
  keep <- colSums(xd != 0) > 0 & apply(xd, 2, stats::sd) > 0
  ds <- as.vector(stats::dist(co[keep, ]))
  de <- as.vector(stats::as.dist(1 - stats::cor(xd[, keep])))
  r <- spatial_expression_correlation(x, co, num.threads = 1)
  expect_s3_class(r, "dpvae_spatial_correlation")
  expect_equal(r$pearson, stats::cor(ds, de), tolerance = 1e-10)
  expect_equal(r$spearman, stats::cor(ds, de, method = "spearman"), tolerance = 1e-10)
  expect_equal(r$n_pairs + r$n_pairs_dropped, 120 * 119 / 2)
  expect_false(r$sampled)
  expect_true(is.na(r$p_value_pearson))
  rd <- spatial_expression_correlation(xd, co, num.threads = 1)
  expect_equal(rd$pearson, r$pearson, tolerance = 1e-12)
  eu <- spatial_expression_correlation(xd, co, dissimilarity = "euclidean", num.threads = 1)
  expect_equal(eu$pearson, stats::cor(as.vector(stats::dist(co)), as.vector(stats::dist(t(xd)))), tolerance = 1e-10)
  expect_output(print(r), "Pearson r")
})

test_that("spatial_expression_correlation: Mantel test and sampled pairs are seeded and thread-independent", {
  x <- log1p(mob$counts)
  a <- spatial_expression_correlation(x, mob$coords, max_cells = 100, n_pairs = 5000, n_perm = 19,
                                      seed = 4, num.threads = 1)
  b <- spatial_expression_correlation(methods::as(x, "matrix"), mob$coords, max_cells = 100, n_pairs = 5000,
                                      n_perm = 19, seed = 4, num.threads = 2)
  expect_true(a$sampled)
  expect_equal(a$n_pairs + a$n_pairs_dropped, 5000)
  expect_equal(a[c("pearson", "spearman", "p_value_pearson", "p_value_spearman")],
               b[c("pearson", "spearman", "p_value_pearson", "p_value_spearman")], tolerance = 1e-12)
  expect_gt(a$pearson, 0.05)                    # expression encodes space in the olfactory bulb
  expect_equal(a$p_value_pearson, 1 / 20)
  expect_output(print(a), "Mantel p")
  set.seed(9)
  c1 <- spatial_expression_correlation(x, mob$coords, max_cells = 100, n_pairs = 2000, num.threads = 1)
  set.seed(9)
  c2 <- spatial_expression_correlation(x, mob$coords, max_cells = 100, n_pairs = 2000, num.threads = 1)
  expect_identical(c1, c2)
  expect_error(spatial_expression_correlation(x, mob$coords[-1, ]), class = "dpvae_error_input")
  expect_error(spatial_expression_correlation(x, mob$coords, n_perm = -1), class = "dpvae_error_input")
  expect_error(spatial_expression_correlation(x, mob$coords, dissimilarity = "x"), class = "dpvae_error_input")
  expect_error(spatial_expression_correlation(x[1, , drop = FALSE], mob$coords, num.threads = 1),
               class = "dpvae_error_input")
})

test_that("distortion equals R's computation; similarity maps have distortion 1", {
  set.seed(5)
  s <- matrix(stats::runif(80), 40)
  z <- cbind(s %*% matrix(c(0, 2, -2, 0), 2), 1) + stats::rnorm(120, sd = 0.01)
  d <- distortion(z, s, num.threads = 1)
  expect_s3_class(d, "dpvae_distortion")
  r <- as.vector(stats::dist(z)) / as.vector(stats::dist(s))
  expect_equal(c(d$lower, d$upper, d$median), c(min(r), max(r), stats::median(r)), tolerance = 1e-12)
  expect_equal(d$q99, unname(stats::quantile(r, 0.99)), tolerance = 1e-12)
  expect_equal(d$distortion, max(r) / min(r), tolerance = 1e-12)
  expect_false(d$sampled)
  exact <- distortion(cbind(5 * s, 0), s, num.threads = 1)
  expect_equal(c(exact$distortion, exact$scale), c(1, 5), tolerance = 1e-10)
  expect_lt(exact$stress, 1e-6)
  ds <- distortion(z, s, max_pairs = 100, seed = 1, num.threads = 1)
  expect_true(ds$sampled)
  expect_identical(ds, distortion(z, s, max_pairs = 100, seed = 1, num.threads = 2))
  expect_output(print(d), "bi-Lipschitz")
  expect_error(distortion(z[-1, ], s), class = "dpvae_error_input")
  z[2, 1] <- NA
  expect_error(distortion(z, s), class = "dpvae_error_input")
  expect_error(distortion("a", s), class = "dpvae_error_input")
})
