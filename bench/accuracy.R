#!/usr/bin/env Rscript
# Out-of-sample accuracy of dpvae_fit() + predict() on the shared data sets, beside the expression-kNN
# baseline of ../shared/reference/knn_baseline.py (computed here in R on the same split).
#
# usage: Rscript bench/accuracy.R OUT.csv SETS SEEDS CONFIG [CONFIG ...]
#   SETS    comma-separated directory names under $DPVAE_DATA (default /work/shared/data)
#   SEEDS   comma-separated integers (split seed; the fit seed is the same number)
#   CONFIG  dpvae_fit() arguments as R code, e.g. "lambda = 0" or "lr = 5e-4, epochs = 2000";
#           "default" = no arguments (the package defaults). "knn" alone = only the baseline.
# Every (set, seed, config) gives one CSV row appended to OUT.csv; the kNN baseline is one row per
# (set, seed) with config "knn". Split: set.seed(seed); 30 % of the cells with coordinates (after the
# under_tissue == 1 filter where the set has that column) are test cells.
# Env: DPVAE_THREADS (default 1), DPVAE_DATA, DPVAE_LIB (library to load dpvae from).
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
  library(Matrix)
})
args <- commandArgs(TRUE)
if (length(args) < 4) stop("usage: accuracy.R OUT.csv SETS SEEDS CONFIG [CONFIG ...]")
out <- args[1]
sets <- strsplit(args[2], ",")[[1]]
seeds <- as.integer(strsplit(args[3], ",")[[1]])
configs <- args[-(1:3)]
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
threads <- as.integer(Sys.getenv("DPVAE_THREADS", "1"))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "bench_data.R"))

split_cells <- function(n, seed) {
  set.seed(seed)
  test <- sort(sample.int(n, round(0.3 * n)))
  list(train = setdiff(seq_len(n), test), test = test)
}

for (set in sets) {
  s <- load_set(set)
  for (seed in seeds) {
    sp <- split_cells(nrow(s$xy), seed)
    truth <- s$xy[sp$test, , drop = FALSE]
    t0 <- proc.time()[["elapsed"]]
    pk <- knn_baseline(s, sp)
    write_row(data.frame(set = set, seed = seed, config = "knn", n_train = length(sp$train),
                         n_test = length(sp$test), procrustes = procrustes_distance(truth, pk),
                         dist_pearson = dist_cor(truth, pk), train_procrustes = NA, epochs_run = NA,
                         best_epoch = NA, seconds = proc.time()[["elapsed"]] - t0))
    for (cfg in configs) {
      if (cfg == "knn") next
      a <- if (cfg == "default") list() else eval(parse(text = paste0("list(", cfg, ")")))
      a <- utils::modifyList(list(seed = seed, num.threads = threads, verbose = FALSE), a)
      res <- tryCatch({
        fit <- do.call(dpvae_fit, c(list(s$X[, sp$train, drop = FALSE], s$xy[sp$train, , drop = FALSE]), a))
        pred <- predict(fit, s$X[, sp$test, drop = FALSE])
        data.frame(procrustes = procrustes_distance(truth, pred), dist_pearson = dist_cor(truth, pred),
                   train_procrustes = procrustes_distance(s$xy[sp$train, , drop = FALSE], fit$fitted_coords),
                   epochs_run = fit$epochs_run, best_epoch = fit$best_epoch, seconds = fit$seconds)
      }, error = function(e) {
        message(set, " ", seed, " ", cfg, ": ", conditionMessage(e))
        data.frame(procrustes = NA, dist_pearson = NA, train_procrustes = NA, epochs_run = NA,
                   best_epoch = NA, seconds = NA)
      })
      write_row(cbind(data.frame(set = set, seed = seed, config = cfg, n_train = length(sp$train),
                                 n_test = length(sp$test)), res))
      message(sprintf("%s seed %d [%s]: test %.3f (kNN %.3f), train %.3f, %s epochs (best %s), %.1f s", set, seed,
                      cfg, res$procrustes, procrustes_distance(truth, pk), res$train_procrustes, res$epochs_run,
                      res$best_epoch, res$seconds))
    }
  }
}
