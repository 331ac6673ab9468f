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

test_that("standardisation and the map's profiles work in cell blocks: the block size changes nothing", {
  pp <- dpvae:::fit_preprocess(mob$counts, n_genes = 80)
  whole <- dpvae:::transform_expression(mob$counts, pp)
  own <- dpvae:::transform_expression(mob$counts, pp, scaling = "data")
  atlas <- dpvae:::map_atlas(dpvae:::expression_source(mob$counts, pp))
  old <- options(dpvae.block_cells = 37)
  on.exit(options(old))
  expect_identical(dpvae:::transform_expression(mob$counts, pp), whole)
  # the data's own gene statistics are sums over blocks: equal to the last bits
  expect_equal(dpvae:::transform_expression(mob$counts, pp, scaling = "data"), own, tolerance = 1e-12)
  source <- dpvae:::expression_source(mob$counts, pp)
  expect_gt(source$blocks, 1)
  expect_identical(do.call(rbind, lapply(seq_len(source$blocks), source$fetch)), whole)
  blocked <- dpvae:::map_atlas(source)
  expect_equal(blocked$profiles, atlas$profiles, tolerance = 1e-12)
  expect_identical(dim(blocked$profiles), c(ncol(mob$counts), dpvae:::MAP_AXES))
  # own scaling: every found gene has mean 0 and sd 1 over the cells
  expect_equal(unname(colMeans(own)), rep(0, ncol(own)), tolerance = 1e-10)
})

test_that("gene statistics accumulate over cell blocks and value checks run in chunks", {
  whole <- dpvae:::fit_preprocess(mob$counts, n_genes = 80)
  old <- options(dpvae.block_cells = 41)
  on.exit(options(old))
  blocked <- dpvae:::fit_preprocess(mob$counts, n_genes = 80)
  expect_identical(blocked$genes, whole$genes)
  expect_equal(blocked$mean, whole$mean, tolerance = 1e-12)
  expect_equal(blocked$sd, whole$sd, tolerance = 1e-12)
  # 20 stored values in chunks of 7 (a collection runs between chunks: keep them few)
  v <- Matrix::sparseMatrix(i = rep(1:5, 4), j = rep(1:4, each = 5), x = as.numeric(1:20), dims = c(5, 4))
  expect_true(dpvae:::all_values(v, function(x) all(x >= 0), chunk = 7))
  v@x[20] <- -1 # the last chunk
  expect_false(dpvae:::all_values(v, function(x) all(x >= 0), chunk = 7))
  negative <- mob$counts
  negative@x[length(negative@x)] <- -1
  expect_error(dpvae:::fit_preprocess(negative), class = "dpvae_error_input")
})
