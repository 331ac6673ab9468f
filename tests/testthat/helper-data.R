# Shared fixtures: the bundled real data set, and a quick fit reused by several test files.
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
