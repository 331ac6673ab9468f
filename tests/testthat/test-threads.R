# Forked workers (mclapply, BiocParallel's MulticoreParam) after libtorch, OpenBLAS and rayon have run with
# several threads in the parent used to hang forever (R/threads.R). Each probe runs in a fresh R with a time
# limit, so a hang fails the test instead of stalling the suite.

fork_probe <- c(
  'suppressPackageStartupMessages({library(Matrix); library(dpvae)})',
  'd <- dpvae_example_data()',
  'fit <- dpvae_fit(d$counts, d$coords, epochs = 10, num.threads = 2, verbose = FALSE, seed = 1)',
  'p0 <- predict(fit, d$counts[, 1:40], num.threads = 2)',
  's0 <- smacof(dist(d$coords[1:60, ]), seed = 1)$coords',
  'm0 <- morans_i(d$counts[1:20, ], d$coords, num.threads = 2)',
  'kids <- parallel::mclapply(1:2, function(i) list(',
  '  predict = max(abs(predict(fit, d$counts[, 1:40]) - p0)),',
  '  fit = dpvae_fit(d$counts, d$coords, epochs = 3, verbose = FALSE, seed = i)$epochs_run,',
  '  reconstruct = nrow(dpvae_reconstruct(d$counts[, 1:50], model = fit, verbose = FALSE)),',
  '  smacof = max(abs(smacof(dist(d$coords[1:60, ]), seed = 1)$coords - s0)),',
  '  moran = nrow(morans_i(d$counts[1:20, ], d$coords, num.threads = 2))), mc.cores = 2)',
  'for (k in kids) cat("KID", k$predict, k$fit, k$reconstruct, k$smacof, k$moran, "\\n")'
)

test_that("forked workers run every verb after a multi-threaded parent instead of hanging", {
  skip_on_os("windows") # no fork
  out <- run_fresh_r(fork_probe)
  kids <- grep("^KID", out, value = TRUE)
  expect_length(kids, 2L)
  for (k in kids) {
    v <- as.numeric(strsplit(k, " ")[[1]][-1])
    expect_lt(v[1], 1e-6) # same positions as the parent's (one thread sums in another order)
    expect_equal(v[2], 3)
    expect_equal(v[3], 50)
    expect_lt(v[4], 1e-6)
    expect_equal(v[5], 20)
  }
})
