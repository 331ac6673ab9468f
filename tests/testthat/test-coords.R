test_that("missing coordinates are a classed error that says what to give", {
  expect_error(dpvae_fit(mob$counts, epochs = 2, verbose = FALSE), class = "dpvae_error_input",
               regexp = "No coordinates")
})

test_that("coordinates too large for distances are refused, not called identical", {
  huge <- mob$coords * 1e200
  err <- expect_error(dpvae_fit(mob$counts, huge, epochs = 2, verbose = FALSE), class = "dpvae_error_input")
  expect_match(conditionMessage(err), "too large")
  expect_match(conditionMessage(err), "Rescale")
})

test_that("named coordinates are matched to cells by name; partial rows are refused", {
  shuffled <- mob$coords[rev(seq_len(nrow(mob$coords))), ]
  matched <- dpvae:::as_coords(shuffled, colnames(mob$counts))
  expect_equal(unname(matched), unname(mob$coords))
  partial <- mob$coords
  partial[3, 2] <- NA
  expect_error(dpvae:::as_coords(partial, colnames(mob$counts)), class = "dpvae_error_input")
})

test_that("whole numbers above the 32-bit range are refused before they reach Rust", {
  expect_error(dpvae_fit(mob$counts, mob$coords, epochs = 3e9, verbose = FALSE), class = "dpvae_error_input",
               regexp = "epochs")
})
