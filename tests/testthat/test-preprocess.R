test_that("counts with a negative value are refused instead of silently not normalised", {
  bad <- mob$counts
  bad[5, 7] <- -1
  err <- expect_error(dpvae_fit(bad, mob$coords, epochs = 2, verbose = FALSE), class = "dpvae_error_input")
  expect_match(conditionMessage(err), "negative")
  # the user may still say how to treat them
  fit <- dpvae_fit(bad, mob$coords, normalize = "none", epochs = 2, verbose = FALSE, num.threads = 1)
  expect_false(fit$preprocess$lognorm)
})

test_that("a model trained on normalised values refuses raw counts (and says so)", {
  lognormed <- log1p(mob$counts %*% Matrix::Diagonal(x = 1e4 / Matrix::colSums(mob$counts)))
  dimnames(lognormed) <- dimnames(mob$counts)
  fit <- dpvae_fit(lognormed, mob$coords, n_genes = 300, epochs = 2, verbose = FALSE, num.threads = 1)
  expect_false(fit$preprocess$counts_given)
  expect_silent(predict(fit, lognormed[, 1:20]))
  err <- expect_error(predict(fit, mob$counts[, 1:20]), class = "dpvae_error_input")
  expect_match(conditionMessage(err), "raw counts")
  expect_error(dpvae_reconstruct(mob$counts[, 1:20], model = fit, verbose = FALSE), class = "dpvae_error_input")
})

test_that("stored gene means and sds are standardised with, genes matched by name", {
  pp <- dpvae:::fit_preprocess(mob$counts, n_genes = 50)
  xs <- dpvae:::apply_preprocess(mob$counts, pp)
  expect_equal(dim(xs), c(ncol(mob$counts), 50L))
  expect_equal(unname(colMeans(xs)), rep(0, 50), tolerance = 1e-10)
  shuffled <- mob$counts[rev(seq_len(nrow(mob$counts))), ]
  expect_equal(dpvae:::apply_preprocess(shuffled, pp), xs)
})
