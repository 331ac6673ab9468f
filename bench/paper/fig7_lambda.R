#!/usr/bin/env Rscript
# Fig. 7 + Fig. 9 (test error of held-out cells vs lambda) and Fig. 5 (training curves per lambda) of
# Zhou & Du (arXiv 2408.00911) on the shared sets with coordinates.
#
# usage: Rscript bench/paper/fig7_lambda.R OUT.csv HIST.tsv SETS SEEDS LAMBDAS
#   SETS     comma-separated directory names under $DPVAE_DATA (default /work/shared/data), or "all" (the 16)
#   SEEDS    comma-separated split seeds (the fit seed is the same number), e.g. 1,2,3
#   LAMBDAS  comma-separated lambda values, e.g. 0,0.1,0.3,1,3,10,30,100,1000
# Split, fit and score are those of bench/accuracy.R (70/30 with set.seed(seed), package defaults except
# lambda, num.threads = DPVAE_THREADS (default 1), test Procrustes of the held-out cells), so a row here
# equals bench/accuracy.R's row for config "lambda = L" with the same seed.
# Writes: OUT.csv, one row per (set, seed, lambda) with the columns of bench/accuracy.R (config = "lambda = L")
#         plus `lambda`; HIST.tsv, the fit's history (epoch, loss, recon, kl, dp, stress) per (set, seed,
#         lambda). Loops seed-major (seed 1 over all sets and lambdas first) and appends, so an interrupted
#         run keeps what it finished; (set, seed, lambda) rows already in OUT.csv are skipped.
# Env: DPVAE_THREADS, DPVAE_DATA, DPVAE_LIB (library to load dpvae from).
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
  library(Matrix)
})
args <- commandArgs(TRUE)
if (length(args) < 5) stop("usage: fig7_lambda.R OUT.csv HIST.tsv SETS SEEDS LAMBDAS")
out <- args[1]
hist_out <- args[2]
all_sets <- c("meringue_mob", "paste_breast_s1", "paste_breast_s2", "spacexr_visium_hippo", "giotto_visium_brain_dg",
              "spacexr_visium_lymph", "stutility_hippo_s1", "stutility_hippo_s2", "stutility_hippo_s3",
              "stutility_hippo_s4", "stutility_mob_s1", "stutility_mob_s2", "bdtnp_drosophila", "osmfish_sscortex",
              "merfish_hypothalamus_s1", "starmap_3d")
sets <- if (args[3] == "all") all_sets else strsplit(args[3], ",")[[1]]
seeds <- as.integer(strsplit(args[4], ",")[[1]])
lambdas <- as.numeric(strsplit(args[5], ",")[[1]])
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
threads <- as.integer(Sys.getenv("DPVAE_THREADS", "1"))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "..", "bench_data.R"))

done <- if (file.exists(out)) utils::read.csv(out) else NULL
is_done <- function(set, seed, lambda) {
  !is.null(done) && any(done$set == set & done$seed == seed & done$lambda == lambda)
}

for (seed in seeds) {
  for (set in sets) {
    todo <- Filter(function(l) !is_done(set, seed, l), lambdas)
    if (!length(todo)) next
    s <- load_set(set)
    set.seed(seed)
    test <- sort(sample.int(nrow(s$xy), round(0.3 * nrow(s$xy))))
    train <- setdiff(seq_len(nrow(s$xy)), test)
    truth <- s$xy[test, , drop = FALSE]
    for (lambda in todo) {
      res <- tryCatch({
        fit <- dpvae_fit(s$X[, train, drop = FALSE], s$xy[train, , drop = FALSE], lambda = lambda, seed = seed,
                         num.threads = threads, verbose = FALSE)
        pred <- predict(fit, s$X[, test, drop = FALSE])
        h <- fit$history
        h <- data.frame(set = set, seed = seed, lambda = lambda, epoch = seq_len(nrow(h)),
                        signif(h[intersect(c("loss", "recon", "kl", "dp", "stress"), names(h))], 6))
        ex <- file.exists(hist_out)
        utils::write.table(h, hist_out, sep = "\t", row.names = FALSE, col.names = !ex, append = ex, quote = FALSE)
        data.frame(procrustes = procrustes_distance(truth, pred), dist_pearson = dist_cor(truth, pred),
                   train_procrustes = procrustes_distance(s$xy[train, , drop = FALSE], fit$fitted_coords),
                   epochs_run = fit$epochs_run, best_epoch = fit$best_epoch, seconds = fit$seconds)
      }, error = function(e) {
        message(set, " ", seed, " ", lambda, ": ", conditionMessage(e))
        data.frame(procrustes = NA, dist_pearson = NA, train_procrustes = NA, epochs_run = NA,
                   best_epoch = NA, seconds = NA)
      })
      write_row(cbind(data.frame(set = set, seed = seed, config = paste("lambda =", lambda), lambda = lambda,
                                 n_train = length(train), n_test = length(test)), res))
      message(sprintf("%s %s seed %d lambda %g: test %.3f, train %.3f, %s epochs (best %s), %.1f s", format(Sys.time(), "%H:%M"),
                      set, seed, lambda, res$procrustes, res$train_procrustes, res$epochs_run, res$best_epoch, res$seconds))
    }
  }
}
