test_that("several reference sections are trained jointly with the dp term kept within each", {
  # two "sections": the two halves of the bulb, the second shifted far away so that a model mixing
  # sections would have to place cells across the gap
  a <- 1:131
  b <- 132:262
  sec1 <- list(counts = mob$counts[, a], coords = mob$coords[a, ])
  shifted <- mob$coords[b, ]
  shifted[, 1] <- shifted[, 1] + 1000
  sec2 <- list(counts = mob$counts[-(1:5), b], coords = shifted) # genes differ a little
  args <- modifyList(quick_fit_args, list(epochs = 40))
  res <- do.call(dpvae_reconstruct, c(list(mob$counts[, 1:20], reference = list(s1 = sec1, s2 = sec2), seed = 1), args))
  model <- attr(res, "dpvae_model")
  expect_equal(model$mask, "groups")
  expect_length(model$train_cells, 262)
  expect_true(all(startsWith(model$train_cells[1:131], "s1_")))
  expect_false(any(rownames(mob$counts)[1:5] %in% model$preprocess$genes))
  expect_identical(rownames(res), colnames(mob$counts)[1:20])
  expect_error(do.call(dpvae_reconstruct, c(list(mob$counts[, 1:20], reference = list(sec1, sec2), mask = "knn"), args)),
               "mask", class = "dpvae_error_input")
  bad <- list(counts = mob$counts[, a], coords = cbind(mob$coords[a, ], 1))
  expect_error(dpvae_reconstruct(mob$counts[, 1:20], reference = list(sec1, bad)), "spatial dimensions",
               class = "dpvae_error_input")
})
