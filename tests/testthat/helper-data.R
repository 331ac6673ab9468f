# Shared fixtures: the bundled real data set, and a quick fit reused by several test files.
loadNamespace("Matrix") # S4 subsetting of the bundled dgCMatrix in every test file
# Fits below 2000 cells cross-fit their uncertainty calibration (up to 5 extra fits); the tests that need it
# turn it back on (test-calibration.R), every other test fits as before.
options(dpvae.crossfit = FALSE)
mob <- dpvae_example_data()

quick_fit_args <- list(n_genes = 500, epochs = 150, warmup = 20, patience = 0, verbose = FALSE, num.threads = 1)

quick_fit <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) cache <<- do.call(dpvae_fit, c(list(mob$counts, mob$coords, seed = 11), quick_fit_args))
    cache
  }
})

random_baseline <- function(coords, reps = 20) {
  set.seed(99)
  mean(replicate(reps, procrustes_distance(coords, coords[sample(nrow(coords)), ])))
}

# A synthetic tissue on a 10 x 10 square: each gene peaks at its own place (a Gaussian bump), so expression
# determines position. `spots`: a reference on a grid, deep and smooth (Visium-like); `cells`: single cells at
# random places, shallow, with gene-specific capture rates (a platform shift the encoder never saw).
synthetic_tissue <- local({
  set.seed(42)
  centres <- matrix(stats::runif(120, 0, 10), ncol = 2)
  rownames(centres) <- sprintf("Gene%02d", seq_len(60))
  capture <- stats::rlnorm(60, 0, 0.8)
  counts_at <- function(xy, depth, rate = 1) {
    d2 <- outer(centres[, 1], xy[, 1], "-")^2 + outer(centres[, 2], xy[, 2], "-")^2
    lambda <- depth * rate * (exp(-d2 / (2 * 2^2)) + 0.05)
    m <- matrix(stats::rpois(length(lambda), lambda), nrow(lambda), dimnames = list(rownames(centres), rownames(xy)))
    Matrix::Matrix(m, sparse = TRUE)
  }
  function(kind = c("spots", "cells", "other"), n = 200, seed = 1) {
    kind <- match.arg(kind)
    set.seed(seed)
    if (kind == "spots") {
      xy <- as.matrix(expand.grid(x = seq(0.25, 9.75, length.out = 15), y = seq(0.25, 9.75, length.out = 15)))
      rownames(xy) <- sprintf("spot%03d", seq_len(nrow(xy)))
      return(list(counts = counts_at(xy, 30), coords = xy))
    }
    xy <- matrix(stats::runif(2 * n, 0, 10), ncol = 2, dimnames = list(sprintf("%s%03d", kind, seq_len(n)), c("x", "y")))
    if (kind == "cells") return(list(counts = counts_at(xy, 4, capture), coords = xy))
    # another tissue: each cell expresses a few random genes highly, unrelated to any place here
    m <- matrix(stats::rpois(60 * n, 0.2), 60, n, dimnames = list(rownames(centres), rownames(xy)))
    for (j in seq_len(n)) m[sample(60, 5), j] <- stats::rpois(5, 40)
    list(counts = Matrix::Matrix(m, sparse = TRUE), coords = xy)
  }
})
