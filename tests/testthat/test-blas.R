# dpvae switches R's OpenBLAS away from generic fallback kernels when it loads (R/blas.R). A fresh R whose
# OpenBLAS was started on its Prescott fallback stands in for a machine whose CPU OpenBLAS did not recognise.

blas_probe <- c(
  'Sys.unsetenv("OPENBLAS_CORETYPE")',
  'set.seed(1); a <- matrix(rnorm(400 * 300), 400); b <- matrix(rnorm(300 * 200), 300)',
  'before <- a %*% b',
  'suppressPackageStartupMessages(library(dpvae))',
  'info <- libtorch_info()',
  'cat("CORE", info$blas_core, "FROM", info$blas_retuned_from, "DIFF", max(abs(a %*% b - before)), "\\n")'
)

test_that("generic OpenBLAS kernels are switched at load time, with the same results", {
  state <- dpvae:::blas_core_impl()
  skip_if(is.null(state$core), "R's BLAS is not OpenBLAS")
  skip_if(is.null(state$suited), "this CPU has no AVX2 kernels to switch to")
  out <- run_fresh_r(blas_probe, env = "OPENBLAS_CORETYPE=Prescott")
  line <- grep("^CORE", out, value = TRUE)
  expect_length(line, 1L)
  fields <- strsplit(line, " ")[[1]]
  expect_equal(fields[2], state$suited)
  expect_equal(fields[4], "Prescott")
  expect_lt(as.numeric(fields[6]), 1e-10)
})

test_that("the switch is left alone when the user opts out", {
  state <- dpvae:::blas_core_impl()
  skip_if(is.null(state$core), "R's BLAS is not OpenBLAS")
  out <- run_fresh_r(blas_probe, env = c("OPENBLAS_CORETYPE=Prescott", "DPVAE_TUNE_BLAS=0"))
  fields <- strsplit(grep("^CORE", out, value = TRUE), " ")[[1]]
  expect_equal(fields[2], "Prescott")
  expect_equal(fields[4], "NA")
})

test_that("libtorch_info reports R's BLAS kernels", {
  info <- libtorch_info()
  expect_true(all(c("blas_core", "blas_retuned_from") %in% names(info)))
  expect_type(info$blas_core, "character")
})
