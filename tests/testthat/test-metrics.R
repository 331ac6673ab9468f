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
