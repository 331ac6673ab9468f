# The cell -> location map of reference mode: placement across a platform shift, the map itself, gene
# projection, the out-of-reference score and bad input.

fit_spots <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      spots <- synthetic_tissue("spots")
      cache <<- dpvae_fit(spots$counts, spots$coords, epochs = 200, seed = 3, verbose = FALSE, num.threads = 1)
    }
    cache
  }
})

test_that("single cells of another platform are placed near their true positions (out of sample)", {
  spots <- synthetic_tissue("spots")
  cells <- synthetic_tissue("cells", n = 300, seed = 5)
  res <- dpvae_reconstruct(cells$counts, reference = spots, epochs = 200, seed = 3, verbose = FALSE, num.threads = 1)
  pos <- as.matrix(res[, c("dpvae_x", "dpvae_y")])
  err <- procrustes_distance(cells$coords, pos)
  chance <- random_baseline(cells$coords)
  expect_lt(err, 0.35 * chance)
  # the map beats the encoder readout across the platform shift (what the map is for)
  enc <- predict(attr(res, "dpvae_model"), cells$counts)
  expect_lt(err, procrustes_distance(cells$coords, enc))
  # median placement error below 1.5 units on a 10 x 10 tissue
  expect_lt(stats::median(sqrt(rowSums((pos - cells$coords)^2))), 1.5)
})

test_that("the map is a sparse cells x reference-cells matrix whose rows sum to 1", {
  fit <- fit_spots()
  cells <- synthetic_tissue("cells", n = 120, seed = 6)
  map <- predict(fit, cells$counts, type = "map")
  expect_s4_class(map, "dgCMatrix")
  expect_identical(dimnames(map), list(colnames(cells$counts), fit$train_cells))
  expect_equal(unname(Matrix::rowSums(map)), rep(1, 120), tolerance = 1e-8)
  expect_true(all(map@x >= 0))
  # sparse: at most the support's partners per cell (linear memory), far fewer than all reference cells
  expect_lt(Matrix::nnzero(map), 120 * 225 / 2)
  # reconstruct stores the same map, and positions are its weighted means
  res <- dpvae_reconstruct(cells$counts, model = fit, placement = "map", verbose = FALSE)
  expect_equal(attr(res, "dpvae_map"), map)
  expect_equal(as.matrix(res[, c("dpvae_x", "dpvae_y")]), as.matrix(map %*% fit$train_coords), ignore_attr = TRUE)
})

test_that("a reference above options(dpvae.map_locations) is mapped onto that many evenly spaced cells", {
  fit <- fit_spots()
  cells <- synthetic_tissue("cells", n = 120, seed = 6)
  full <- dpvae_reconstruct(cells$counts, model = fit, placement = "map", verbose = FALSE)
  old <- options(dpvae.map_locations = 100)
  on.exit(options(old))
  res <- dpvae_reconstruct(cells$counts, model = fit, placement = "map", verbose = FALSE)
  map <- attr(res, "dpvae_map")
  expect_identical(ncol(map), 100L)
  expect_true(all(colnames(map) %in% fit$train_cells))
  expect_equal(unname(Matrix::rowSums(map)), rep(1, 120), tolerance = 1e-8)
  expect_equal(as.matrix(res[, c("dpvae_x", "dpvae_y")]),
               as.matrix(map %*% fit$train_coords[colnames(map), ]), ignore_attr = TRUE)
  # fewer locations, the same tissue: positions stay close to those of the full map (10 x 10 tissue)
  moved <- sqrt(rowSums((as.matrix(res[, 1:2]) - as.matrix(full[, 1:2]))^2))
  expect_lt(stats::median(moved), 1)
  expect_true(all(is.finite(res$dpvae_outlier_score)))
  # training cells in self mode still leave themselves out among the kept locations
  spots <- synthetic_tissue("spots")
  own_map <- attr(dpvae_reconstruct(spots$counts, model = fit, placement = "map", verbose = FALSE), "dpvae_map")
  kept <- colnames(own_map)
  expect_length(kept, 100)
  expect_true(all(diag(as.matrix(own_map[kept, kept])) == 0))
  options(dpvae.map_locations = 0)
  expect_error(dpvae_reconstruct(cells$counts, model = fit, placement = "map", verbose = FALSE),
               class = "dpvae_error_input")
})

test_that("project_genes() predicts a gene left out of the mapping at the reference locations", {
  spots <- synthetic_tissue("spots")
  cells <- synthetic_tissue("cells", n = 300, seed = 7)
  held <- c("Gene01", "Gene02", "Gene03", "Gene04", "Gene05")
  keep <- setdiff(rownames(spots$counts), held)
  res <- dpvae_reconstruct(cells$counts[keep, ], reference = list(counts = spots$counts[keep, ], coords = spots$coords),
                           epochs = 200, seed = 3, verbose = FALSE, num.threads = 1)
  pred <- project_genes(attr(res, "dpvae_map"), log1p(cells$counts[held, ]))
  expect_identical(dim(pred), c(5L, 225L))
  truth <- as.matrix(log1p(spots$counts[held, colnames(pred)]))
  r <- vapply(held, function(g) stats::cor(pred[g, ], truth[g, ]), 1)
  expect_gt(stats::median(r), 0.6)
  # cell-type composition: indicator rows sum to 1 per location
  grp <- rbind(left = as.numeric(cells$coords[, 1] < 5), right = as.numeric(cells$coords[, 1] >= 5))
  colnames(grp) <- colnames(cells$counts)
  comp <- project_genes(attr(res, "dpvae_map"), grp)
  expect_equal(unname(colSums(comp)), rep(1, 225), tolerance = 1e-8)
  # left-half cells land on the left half of the reference
  expect_gt(mean(comp["left", spots$coords[, 1] < 4]), 0.8)
  expect_error(project_genes(attr(res, "dpvae_map"), grp[, 1:10]), class = "dpvae_error_input")
  expect_error(project_genes("map", grp), class = "dpvae_error_input")
})

test_that("placement = 'auto' maps another platform and averages encoder and map for cells like the training data", {
  fit <- fit_spots()
  cells <- synthetic_tissue("cells", n = 150, seed = 12)$counts
  res <- dpvae_reconstruct(cells, model = fit, verbose = FALSE)
  expect_identical(attr(res, "dpvae_placement"), "map")
  like <- synthetic_tissue("spots")$counts[, seq(1, 225, by = 3)] # new counts of reference-like spots
  colnames(like) <- paste0("like_", colnames(like))
  res <- dpvae_reconstruct(like, model = fit, verbose = FALSE)
  expect_identical(attr(res, "dpvae_placement"), "mean")
  map_pos <- as.matrix(predict(fit, like, type = "map") %*% fit$train_coords)
  expect_equal(as.matrix(res[, 1:2]), (predict(fit, like) + map_pos) / 2, ignore_attr = TRUE, tolerance = 1e-10)
  enc <- dpvae_reconstruct(like, model = fit, placement = "encoder", verbose = FALSE)
  expect_equal(as.matrix(enc[, 1:2]), predict(fit, like), ignore_attr = TRUE, tolerance = 1e-10)
  # a reference's query is always mapped; self mode always reads the encoder
  spots <- synthetic_tissue("spots")
  res <- dpvae_reconstruct(like, reference = spots, epochs = 20, seed = 1, verbose = FALSE, num.threads = 1)
  expect_identical(attr(res, "dpvae_placement"), "map")
  expect_error(dpvae_reconstruct(like, model = fit, placement = "nearest"))
})

test_that("cells unlike the reference score as outliers; held-out cells like it do not", {
  fit <- fit_spots()
  like <- synthetic_tissue("spots")$counts # the same grid, new counts: the reference tissue
  colnames(like) <- paste0("new_", colnames(like))
  other <- synthetic_tissue("other", n = 100, seed = 8)
  # one query holding both: the foreign cells score above nearly every reference-like cell
  score <- predict(fit, cbind(like, other$counts), type = "outlier")
  expect_named(score, c(colnames(like), colnames(other$counts)))
  expect_gt(stats::median(score[-(1:225)]), stats::quantile(score[1:225], 0.95))
  # each alone: the foreign query still scores higher
  expect_gt(stats::median(predict(fit, other$counts, type = "outlier")), stats::median(predict(fit, like, type = "outlier")))
  res <- dpvae_reconstruct(cbind(like, other$counts), model = fit, verbose = FALSE)
  expect_equal(res$dpvae_outlier_score, unname(score))
  # the training cells themselves (self mode) are not their own neighbours: no zero scores
  self <- predict(fit, synthetic_tissue("spots")$counts, type = "outlier")
  expect_true(all(self > 0))
})

test_that("cells without expression on the model's genes get NA, with a warning", {
  fit <- fit_spots()
  cells <- synthetic_tissue("cells", n = 50, seed = 9)$counts
  cells[, 1:2] <- 0
  expect_warning(res <- dpvae_reconstruct(cells, model = fit, placement = "map", verbose = FALSE),
                 class = "dpvae_warning_empty_cells")
  expect_true(all(is.na(res[1:2, c("dpvae_x", "dpvae_y")])))
  expect_true(all(is.finite(as.matrix(res[-(1:2), c("dpvae_x", "dpvae_y")]))))
  expect_equal(unname(Matrix::rowSums(attr(res, "dpvae_map"))[1:2]), c(0, 0))
})

test_that("too few shared genes is a classed error that names both identifier types", {
  spots <- synthetic_tissue("spots")
  cells <- synthetic_tissue("cells", n = 50, seed = 10)$counts
  ens <- cells
  rownames(ens) <- sprintf("ENSMUSG%011d", seq_len(nrow(ens)))
  err <- expect_error(dpvae_reconstruct(ens, reference = spots, epochs = 5, verbose = FALSE), class = "dpvae_error_input")
  expect_match(conditionMessage(err), "share 0 genes")
  expect_match(conditionMessage(err), "Ensembl gene IDs")
  expect_match(conditionMessage(err), "title-case gene symbols")
  human <- cells
  rownames(human) <- toupper(rownames(human))
  err <- expect_error(predict(fit_spots(), human, type = "map"), class = "dpvae_error_input")
  expect_match(conditionMessage(err), "upper-case gene symbols")
  # a small overlap warns and says how many
  few <- cells[c(1:12, 13:60), ]
  rownames(few)[13:60] <- paste0("other", 13:60)
  expect_warning(dpvae_reconstruct(few, reference = spots, epochs = 5, verbose = FALSE, num.threads = 1),
                 class = "dpvae_warning_genes")
  # the user's object is left as it was when the call fails
  before <- ens
  try(dpvae_reconstruct(ens, reference = spots, epochs = 5, verbose = FALSE), silent = TRUE)
  expect_identical(ens, before)
})

test_that("the map and the score are the same for the same seed, and survive saveRDS()", {
  fit <- fit_spots()
  cells <- synthetic_tissue("cells", n = 80, seed = 11)$counts
  a <- dpvae_reconstruct(cells, model = fit, verbose = FALSE)
  f <- tempfile(fileext = ".rds")
  saveRDS(fit, f)
  b <- dpvae_reconstruct(cells, model = readRDS(f), verbose = FALSE)
  expect_identical(a, b)
})

test_that("the 90 % radius covers about 90 % of held-out cells and grows with the error", {
  # cells of the reference's own platform, held out from training
  spots <- synthetic_tissue("spots")
  set.seed(13)
  test <- sample(225, 70)
  masked <- spots$coords
  masked[test, ] <- NA
  res <- dpvae_reconstruct(spots$counts, coords = masked, epochs = 200, seed = 3, verbose = FALSE, num.threads = 1)
  r <- res$dpvae_uncertainty
  expect_true(all(is.finite(r) & r > 0))
  err <- sqrt(rowSums((as.matrix(res[test, c("dpvae_x", "dpvae_y")]) - spots$coords[test, ])^2))
  cover <- mean(err <= r[test])
  expect_gt(cover, 0.75)
  expect_lt(cover, 1) # a radius that covers everything says nothing
  model <- attr(res, "dpvae_model")
  expect_true(is.finite(model$radius_factor) && model$radius_factor > 0)
  # larger radii go with larger errors
  expect_gt(stats::cor(r[test], err, method = "spearman"), 0)
})

test_that("held-out cells at the mean placement: radius follows the readouts' disagreement and still covers", {
  spots <- synthetic_tissue("spots")
  set.seed(14)
  test <- sample(225, 70)
  fit <- dpvae_fit(spots$counts[, -test], spots$coords[-test, ], epochs = 200, seed = 3, verbose = FALSE,
                   num.threads = 1)
  expect_true(is.finite(fit$radius_rms) && fit$radius_rms > 0)
  # no validation cells (155 training cells) and no cross-fit (turned off in helper-data.R): the fallback,
  # with the readouts counted as equally accurate (R/calibration.R)
  expect_true(is.na(fit$radius_mean_factor))
  correlated <- 1
  mean_res <- dpvae_reconstruct(spots$counts[, test], model = fit, placement = "mean", verbose = FALSE)
  # the map's radius around the same positions: factor x spread
  pos <- as.matrix(mean_res[, c("dpvae_x", "dpvae_y")])
  mapped <- dpvae:::map_cells(fit, spots$counts[, test])
  full <- fit$radius_factor * dpvae:::map_spread(mapped, pos)
  ratio <- mean_res$dpvae_uncertainty / full
  expect_true(all(abs(ratio - ratio[1]) < 1e-8)) # one factor for the data set
  expect_lte(ratio[1], correlated + 1e-12)
  expect_gte(ratio[1], 0.5)
  err <- sqrt(rowSums((pos - spots$coords[test, ])^2))
  expect_gt(mean(err <= mean_res$dpvae_uncertainty), 0.75)
  # fewer than 20 cells: no disagreement to measure, the bound of perfectly correlated errors
  few <- dpvae_reconstruct(spots$counts[, test[1:10]], model = fit, placement = "mean", verbose = FALSE)
  few_full <- fit$radius_factor * dpvae:::map_spread(dpvae:::map_cells(fit, spots$counts[, test[1:10]]),
                                                      as.matrix(few[, c("dpvae_x", "dpvae_y")]))
  expect_equal(few$dpvae_uncertainty, unname(few_full) * correlated, tolerance = 1e-8)
})

test_that("held-out cells at the mean placement with the cross-fitted factor: factor x spread, covering", {
  spots <- synthetic_tissue("spots")
  set.seed(14)
  test <- sample(225, 70)
  fit <- withr_options(list(dpvae.crossfit = TRUE),
    dpvae_fit(spots$counts[, -test], spots$coords[-test, ], epochs = 200, seed = 3, verbose = FALSE, num.threads = 1))
  expect_true(is.finite(fit$radius_mean_factor))
  res <- dpvae_reconstruct(spots$counts[, test], model = fit, placement = "mean", verbose = FALSE)
  pos <- as.matrix(res[, c("dpvae_x", "dpvae_y")])
  mapped <- dpvae:::map_cells(fit, spots$counts[, test])
  expect_equal(res$dpvae_uncertainty, unname(fit$radius_mean_factor * dpvae:::map_spread(mapped, pos)), tolerance = 1e-10)
  err <- sqrt(rowSums((pos - spots$coords[test, ])^2))
  cover <- mean(err <= res$dpvae_uncertainty)
  expect_gt(cover, 0.75)
  expect_lt(cover, 1)
  # the map placement keeps the map's own factor
  map_res <- dpvae_reconstruct(spots$counts[, test], model = fit, placement = "map", verbose = FALSE)
  expect_equal(map_res$dpvae_uncertainty,
               unname(fit$radius_factor * dpvae:::map_spread(mapped, mapped$coords)), tolerance = 1e-10)
})

test_that("the atlas's axes by Lanczos span the leading eigenvectors, deterministically, leaving the RNG alone", {
  set.seed(4)
  p <- matrix(rnorm(700 * 600), 700) %*% diag(seq(3, 0.1, length.out = 600))
  cp <- crossprod(p)
  seed_before <- .Random.seed
  axes <- dpvae:::top_axes(cp, 50)
  expect_identical(.Random.seed, seed_before)
  expect_identical(dpvae:::top_axes(cp, 50), axes)
  full <- eigen(cp, symmetric = TRUE)$vectors[, 1:50]
  expect_equal(tcrossprod(axes), tcrossprod(full), tolerance = 1e-10)
  small <- cp[1:100, 1:100] # below LANCZOS_MIN_GENES: eigen() as before
  expect_identical(dpvae:::top_axes(small, 50), eigen(small, symmetric = TRUE)$vectors[, 1:50])
})
