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

test_that("held-out cells of one section are placed in it, never in the gap between sections", {
  # one tissue cut into two sections (left and right half), the right one shifted far away; held-out
  # cells of the right section near the cut resemble both: a mean over sections would put them in the gap
  spots <- synthetic_tissue("spots")
  left <- spots$coords[, 1] < 5
  shifted <- spots$coords
  shifted[!left, 1] <- shifted[!left, 1] + 1000
  set.seed(5)
  hold <- sample(which(!left), 40)
  right <- setdiff(which(!left), hold)
  ref <- list(left = list(counts = spots$counts[, left], coords = shifted[left, ]),
              right = list(counts = spots$counts[, right], coords = shifted[right, ]))
  res <- dpvae_reconstruct(spots$counts[, hold], reference = ref, epochs = 100, seed = 1, num.threads = 1,
                           verbose = FALSE)
  x <- res$dpvae_x
  expect_equal(sum(x > 20 & x < 990), 0) # nothing in the gap
  err <- sqrt(rowSums((as.matrix(res[, c("dpvae_x", "dpvae_y")]) - shifted[hold, ])^2))
  expect_lt(stats::median(err), 2.5) # near the true position (tissue 10 wide)
  # cells within two grid steps of the cut look like the other side of it; all others land in their section
  wrong_section <- err > 100
  expect_true(all(spots$coords[hold, 1][wrong_section] < 6.5))
  expect_gt(mean(!wrong_section), 0.5)
  expect_length(attr(res, "dpvae_model")$sections, 225 - 40)
})
