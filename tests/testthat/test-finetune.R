test_that("fine-tuning on a few target cells beats zero-shot on target cells it did not see", {
  spots <- synthetic_tissue("spots")
  # the target: single cells of another platform (shallow, gene-specific capture), with positions
  target <- synthetic_tissue("cells", n = 300, seed = 8)
  base <- dpvae_fit(spots$counts, spots$coords, epochs = 200, seed = 2, verbose = FALSE, num.threads = 1)
  tune <- 1:60
  unseen <- 61:300
  tuned <- dpvae_finetune(base, target$counts[, tune], target$coords[tune, ], epochs = 100, seed = 2,
                          verbose = FALSE, num.threads = 1)
  zero_shot <- procrustes_distance(target$coords[unseen, ], predict(base, target$counts[, unseen]))
  after <- procrustes_distance(target$coords[unseen, ], predict(tuned, target$counts[, unseen]))
  expect_lt(after, zero_shot)
})

test_that("fine-tuning continues training on target cells and keeps the scale", {
  base <- do.call(dpvae_fit, c(list(mob$counts[, 1:150], mob$coords[1:150, ], seed = 1),
                               modifyList(quick_fit_args, list(epochs = 60))))
  tuned <- dpvae_finetune(base, mob$counts[, 151:262], mob$coords[151:262, ], epochs = 40, seed = 1,
                          verbose = FALSE, num.threads = 1)
  expect_s3_class(tuned, "dpvae_model")
  expect_equal(tuned$epochs_run, 40)
  expect_identical(tuned$preprocess$genes, base$preprocess$genes)
  expect_lt(abs(tuned$history$scale[1] - base$scale) / base$scale, 0.2)
  # the target cells are fitted much better after tuning than before
  before <- procrustes_distance(mob$coords[151:262, ], predict(base, mob$counts[, 151:262]))
  after <- procrustes_distance(mob$coords[151:262, ], predict(tuned, mob$counts[, 151:262]))
  expect_lt(after, before)
  expect_error(dpvae_finetune(base, mob$counts[, 1:10], cbind(mob$coords[1:10, ], 1)), class = "dpvae_error_input")
  expect_error(dpvae_finetune(list(), mob$counts, mob$coords), class = "dpvae_error_model")
})

test_that("a fine-tuned model cross-fits its mean placement's factor from the base weights", {
  base <- do.call(dpvae_fit, c(list(mob$counts[, 1:150], mob$coords[1:150, ], seed = 1),
                               modifyList(quick_fit_args, list(epochs = 60))))
  tune <- function() dpvae_finetune(base, mob$counts[, 151:262], mob$coords[151:262, ], epochs = 40, seed = 1,
                                    verbose = FALSE, num.threads = 1)
  a <- withr_options(list(dpvae.crossfit = TRUE), tune())
  b <- withr_options(list(dpvae.crossfit = TRUE), tune())
  expect_true(is.finite(a$radius_mean_factor) && a$radius_mean_factor > 0)
  expect_identical(a$radius_mean_factor, b$radius_mean_factor)
  expect_identical(a$fitted_coords, tune()$fitted_coords) # the cross-fit leaves the tuned model alone
})
