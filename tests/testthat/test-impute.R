# dpvae_impute() and dpvae_reconstruct(impute =): measured cells fixed, others placed from latent / c.

# Genes that are smooth functions of position (Gaussian bumps, Poisson counts): expression
# determines location, so imputation must be accurate here.
synthetic_tissue <- function(n = 300, genes = 40, seed = 1) {
  set.seed(seed)
  pos <- cbind(x = runif(n, 0, 10), y = runif(n, 0, 10))
  centres <- cbind(runif(genes, -2, 12), runif(genes, -2, 12))
  d <- as.matrix(dist(rbind(centres, pos)))[seq_len(genes), genes + seq_len(n)]
  rate <- exp(-d^2 / (2 * 3^2)) * 60 + 0.5
  counts <- matrix(rpois(length(rate), rate), genes, n,
                   dimnames = list(paste0("g", seq_len(genes)), paste0("c", seq_len(n))))
  rownames(pos) <- colnames(counts)
  list(counts = counts, coords = pos)
}
syn <- synthetic_tissue()
syn_hidden <- local({ set.seed(3); sort(sample(300, 90)) })
syn_co <- syn$coords
syn_co[syn_hidden, ] <- NA
syn_args <- list(n_genes = 40, epochs = 100, warmup = 20, patience = 0, verbose = FALSE, num.threads = 1)
syn_fit <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) cache <<- do.call(dpvae_fit, c(list(syn$counts, syn_co, seed = 2), syn_args))
    cache
  }
})

test_that("synthetic tissue: hidden cells are placed accurately, measured cells are untouched", {
  fit <- syn_fit()
  imp <- dpvae_impute(fit, syn$counts, syn_co, seed = 1, verbose = FALSE)
  expect_identical(imp[-syn_hidden, ], syn_co[-syn_hidden, ], ignore_attr = TRUE)
  expect_identical(unname(imp[-syn_hidden, ]), unname(syn$coords[-syn_hidden, ]))
  expect_identical(rownames(imp), colnames(syn$counts))
  expect_identical(attr(imp, "imputed"), seq_len(300) %in% syn_hidden)
  s1 <- attr(imp, "stress1")
  expect_true(all(is.na(s1[-syn_hidden])) && all(is.finite(s1[syn_hidden])))
  err <- procrustes_distance(syn$coords[syn_hidden, ], imp[syn_hidden, ])
  expect_lt(err, 0.2)
  # positions are in the measured units, not merely the right shape
  expect_lt(sqrt(mean((imp[syn_hidden, ] - syn$coords[syn_hidden, ])^2)), 2)
  # local placement, landmark subset, no refinement: same accuracy class
  imp_k <- dpvae_impute(fit, syn$counts, syn_co, k = 10, max_landmarks = 100, seed = 1, verbose = FALSE)
  expect_identical(unname(imp_k[-syn_hidden, ]), unname(syn$coords[-syn_hidden, ]))
  expect_lt(procrustes_distance(syn$coords[syn_hidden, ], imp_k[syn_hidden, ]), 0.2)
  # same seed, same answer
  expect_identical(dpvae_impute(fit, syn$counts, syn_co, k = 10, max_landmarks = 100, seed = 1, verbose = FALSE), imp_k)
})

test_that("above 2000 cells the default places each cell against its 10 nearest measured cells", {
  fit <- syn_fit()
  big <- synthetic_tissue(n = 2100, seed = 4)
  co <- big$coords
  co[-(1:300), ] <- NA # 300 measured, 1800 to place
  auto <- dpvae_impute(fit, big$counts, co, max_landmarks = 300, seed = 1, verbose = FALSE)
  local <- dpvae_impute(fit, big$counts, co, k = 10, max_landmarks = 300, seed = 1, verbose = FALSE)
  global <- dpvae_impute(fit, big$counts, co, refine = FALSE, k = 300, max_landmarks = 300, seed = 1, verbose = FALSE)
  expect_identical(auto, local)
  expect_false(identical(unname(auto), unname(global)))
  expect_true(all(is.finite(auto)))
})

test_that("the default method trains on the measured cells; reconstruct writes separate imputed columns", {
  imp <- do.call(dpvae_impute, c(list(syn$counts, syn_co, seed = 2), syn_args))
  expect_s3_class(attr(imp, "dpvae_model"), "dpvae_model")
  expect_false(any(colnames(syn$counts)[syn_hidden] %in% attr(imp, "dpvae_model")$train_cells))
  expect_lt(procrustes_distance(syn$coords[syn_hidden, ], imp[syn_hidden, ]), 0.2)

  res <- do.call(dpvae_reconstruct, c(list(syn$counts, coords = syn_co, seed = 2), syn_args))
  expect_named(res, c("dpvae_x", "dpvae_y", "measured", "dpvae_uncertainty", "dpvae_outlier_score", "dpvae_imputed_x", "dpvae_imputed_y"))
  expect_true(all(is.na(res$dpvae_imputed_x[res$measured])))
  imputed <- as.matrix(res[!res$measured, c("dpvae_imputed_x", "dpvae_imputed_y")])
  expect_equal(imputed, imp[syn_hidden, ], ignore_attr = TRUE, tolerance = 1e-12) # same fit, same placement
  # the reconstruction columns stay the encoder's reconstruction for every cell
  model <- attr(res, "dpvae_model")
  expect_equal(as.matrix(res[, 1:2]), predict(model, syn$counts), ignore_attr = TRUE, tolerance = 1e-10)

  full <- dpvae_reconstruct(syn$counts, coords = syn_co, model = NULL, seed = 2, complete = TRUE,
                            n_genes = 40, epochs = 100, warmup = 20, patience = 0, verbose = FALSE, num.threads = 1)
  expect_identical(unname(as.matrix(full[full$measured, c("dpvae_imputed_x", "dpvae_imputed_y")])), unname(syn$coords[-syn_hidden, ]))
  expect_equal(as.matrix(full[!full$measured, c("dpvae_imputed_x", "dpvae_imputed_y")]), imputed, tolerance = 1e-12)
  enc <- dpvae_reconstruct(syn$counts, coords = syn_co, seed = 2, impute = "encoder",
                           n_genes = 40, epochs = 100, warmup = 20, patience = 0, verbose = FALSE, num.threads = 1)
  expect_identical(enc$dpvae_imputed_x[!enc$measured], enc$dpvae_x[!enc$measured])
  expect_error(dpvae_reconstruct(syn$counts, coords = syn_co, impute = "knn"))
  expect_error(dpvae_reconstruct(syn$counts, coords = syn_co, complete = NA), class = "dpvae_error_input")
})

test_that("real data (bundled olfactory bulb): placement from the latent space of seen cells is accurate", {
  # Out-of-sample accuracy on this tissue is poor for every method (bench/RESULTS-geometry.md), so
  # here the model has seen all cells: what is tested is that the placement, given good latent
  # distances, puts 30 % of the cells back where they belong.
  fit <- quick_fit()
  set.seed(8)
  hide <- sort(sample(nrow(mob$coords), round(0.3 * nrow(mob$coords))))
  co <- mob$coords
  co[hide, ] <- NA
  imp <- dpvae_impute(fit, mob$counts, co, seed = 1, verbose = FALSE)
  expect_identical(unname(imp[-hide, ]), unname(mob$coords[-hide, ]))
  err <- procrustes_distance(mob$coords[hide, ], imp[hide, ])
  expect_lt(err, 0.5 * random_baseline(mob$coords[hide, ]))
})

test_that("bad input raises classed errors", {
  fit <- syn_fit()
  expect_error(dpvae_impute(fit, syn$counts, syn_co, k = 0), class = "dpvae_error_input")
  expect_error(dpvae_impute(fit, syn$counts, syn_co, refine = "yes"), class = "dpvae_error_input")
  expect_error(dpvae_impute(fit, syn$counts, syn_co, max_landmarks = 0), class = "dpvae_error_input")
  expect_error(dpvae_impute(fit, syn$counts, cbind(syn_co, z = 1), verbose = FALSE), class = "dpvae_error_input")
  expect_error(dpvae_impute(fit, syn$counts, syn_co[1:10, ]), class = "dpvae_error_input")
  expect_error(dpvae_impute(syn$counts, syn_co, model = fit, epochs = 3), class = "dpvae_error_input")
  expect_error(dpvae_impute(syn$counts, syn_co, model = list()), class = "dpvae_error_model")
  # nothing to impute: the coordinates come back as they are
  full <- dpvae_impute(fit, syn$counts, syn$coords, verbose = FALSE)
  expect_identical(unname(full[, ]), unname(syn$coords))
  expect_false(any(attr(full, "imputed")))
})

test_that("imputation with a progress bar (verbose = TRUE) runs to the end", {
  # the bar used to terminate itself at 100 % and the next update read as Ctrl-C
  co <- mob$coords
  co[1:30, ] <- NA
  res <- suppressMessages(dpvae_reconstruct(mob$counts, coords = co, seed = 2, n_genes = 200, epochs = 30, warmup = 5,
                                            patience = 0, num.threads = 1, verbose = TRUE))
  expect_true(all(is.finite(as.matrix(res[1:30, c("dpvae_imputed_x", "dpvae_imputed_y")]))))
})
