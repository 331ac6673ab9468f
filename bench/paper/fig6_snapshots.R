#!/usr/bin/env Rscript
# Fig. 6 (snapshots of the reconstructed training layout during training, dp-VAE vs VAE, two anchor
# triangles) and Fig. 8 (held-out reconstruction with three anchor spots) of Zhou & Du (arXiv 2408.00911),
# on stutility_hippo_s1 (spots under the tissue), 70/30 split seed 1 as bench/accuracy.R.
#
# usage: Rscript bench/paper/fig6_snapshots.R [OUTDIR]   (default bench/paper)
# dpvae_fit() has no snapshot option. It keeps the state with the lowest training stress after the warm-up
# (50 epochs), so a snapshot at epoch E is a fit with the same seed and epochs = E, patience = 0:
#   VAE (lambda = 0): also warmup = E; lambda = 0 never uses the warm-up (no dp term), so training is the same,
#     but the state returned is then the one *at* epoch E (the scale c fitted to it), not the lowest-stress one.
#   dp-VAE (lambda = 10): the package defaults otherwise; for E <= 50 (warm-up, no dp term yet) the state at
#     E, after it the lowest-stress state of epochs 51..E (its epoch is in the `state_epoch` column; the
#     training stress of a dp-VAE falls almost every epoch, so it is E or close to it).
# Same seed, same thread count: the first E epochs are the same in every fit (checked: the histories agree).
# "final" = the package-default fit (early stopping, patience 100), also used for Fig. 8.
# Writes OUTDIR/fig6_snapshots.tsv.gz (model, epoch, state_epoch, cell, x, y: training cells' fitted
#   positions after similarity-Procrustes alignment onto the standardised measured layout, whose own
#   positions are the rows with model "measured"), OUTDIR/fig6_snapshots_score.tsv (model, epoch,
#   state_epoch, train procrustes), OUTDIR/fig8_heldout.tsv (model, cell, measured x/y standardised,
#   reconstructed x/y aligned, anchor 0-3) and fig6_anchors.tsv (the two triangles' training-cell indices).
# Env: DPVAE_THREADS (default 1), DPVAE_DATA, DPVAE_LIB.
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
  library(Matrix)
})
args <- commandArgs(TRUE)
outdir <- if (length(args)) args[1] else "bench/paper"
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
threads <- as.integer(Sys.getenv("DPVAE_THREADS", "1"))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "..", "bench_data.R"))
seed <- 1L
s <- load_set("stutility_hippo_s1")
set.seed(seed)
test <- sort(sample.int(nrow(s$xy), round(0.3 * nrow(s$xy))))
train <- setdiff(seq_len(nrow(s$xy)), test)
xtr <- s$X[, train, drop = FALSE]
ytr <- s$xy[train, , drop = FALSE]

fit_at <- function(lambda, epochs = NULL) {
  a <- list(xtr, ytr, lambda = lambda, seed = seed, num.threads = threads, verbose = FALSE)
  if (!is.null(epochs)) {
    a$epochs <- epochs
    a$patience <- 0
    if (lambda == 0) a$warmup <- epochs
  }
  do.call(dpvae_fit, a)
}

# anchors: two triangles of training cells, the cells nearest to fixed fractions of the bounding box
near <- function(xy, fx, fy) {
  r <- apply(xy, 2, range)
  p <- c(r[1, 1] + fx * diff(r[, 1]), r[1, 2] + fy * diff(r[, 2]))
  which.min(colSums((t(xy) - p)^2))
}
tri1 <- c(near(ytr, 0.15, 0.2), near(ytr, 0.5, 0.85), near(ytr, 0.85, 0.2))
tri2 <- c(near(ytr, 0.4, 0.45), near(ytr, 0.6, 0.45), near(ytr, 0.5, 0.6))
utils::write.table(data.frame(triangle = rep(1:2, each = 3), cell = c(tri1, tri2)),
                   file.path(outdir, "fig6_anchors.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)

snap_epochs <- c(1, 10, 25, 50, 75, 100, 150, 200, 300)
rows <- list()
scores <- list()
finals <- list()
std <- NULL
for (model in c("VAE", "dp-VAE")) {
  lambda <- if (model == "VAE") 0 else 10
  final <- fit_at(lambda)
  finals[[model]] <- final
  message(sprintf("%s %s final: %d epochs, best %d, train %.3f", format(Sys.time(), "%H:%M"), model, final$epochs_run,
                  final$best_epoch, procrustes_distance(ytr, final$fitted_coords)))
  ep <- c(snap_epochs[snap_epochs < final$epochs_run], NA)
  for (e in ep) {
    fit <- if (is.na(e)) final else fit_at(lambda, e)
    if (!is.na(e)) {
      h1 <- final$history[seq_len(e), c("loss", "recon", "kl")]
      if (!isTRUE(all.equal(as.matrix(h1), as.matrix(fit$history[, c("loss", "recon", "kl")]), check.attributes = FALSE)))
        warning(model, " epoch ", e, ": history differs from the final fit's first epochs")
    }
    state <- if (fit$best_epoch > 0) fit$best_epoch else fit$epochs_run
    al <- procrustes_distance(ytr, fit$fitted_coords, aligned = TRUE)
    if (is.null(std)) {
      std <- al$x
      rows[["measured"]] <- data.frame(model = "measured", epoch = NA, state_epoch = NA, cell = seq_along(train),
                                       x = round(std[, 1], 4), y = round(std[, 2], 4))
    }
    lab <- if (is.na(e)) "final" else as.character(e)
    rows[[paste(model, lab)]] <- data.frame(model = model, epoch = lab, state_epoch = state, cell = seq_along(train),
                                            x = round(al$y[, 1], 4), y = round(al$y[, 2], 4))
    scores[[paste(model, lab)]] <- data.frame(model = model, epoch = lab, state_epoch = state, epochs_run = fit$epochs_run,
                                              train_procrustes = al$disparity)
    message(sprintf("  %s epoch %s (state %d): train %.3f", model, lab, state, al$disparity))
  }
}
con <- gzfile(file.path(outdir, "fig6_snapshots.tsv.gz"), "w")
utils::write.table(do.call(rbind, rows), con, sep = "\t", quote = FALSE, row.names = FALSE)
close(con)
utils::write.table(do.call(rbind, scores), file.path(outdir, "fig6_snapshots_score.tsv"), sep = "\t", quote = FALSE,
                   row.names = FALSE)

# Fig. 8: the held-out 30 %, measured vs reconstructed by the final fits; three anchor spots spread over the section
truth <- s$xy[test, , drop = FALSE]
anchors <- c(near(truth, 0.2, 0.25), near(truth, 0.5, 0.8), near(truth, 0.8, 0.3))
f8 <- list()
for (model in names(finals)) {
  pred <- predict(finals[[model]], s$X[, test, drop = FALSE])
  al <- procrustes_distance(truth, pred, aligned = TRUE)
  message(sprintf("Fig. 8 %s: test Procrustes %.3f", model, al$disparity))
  f8[[model]] <- data.frame(model = model, cell = colnames(s$X)[test], x = round(al$x[, 1], 4), y = round(al$x[, 2], 4),
                            rx = round(al$y[, 1], 4), ry = round(al$y[, 2], 4),
                            anchor = match(seq_along(test), anchors, nomatch = 0), procrustes = round(al$disparity, 4))
}
utils::write.table(do.call(rbind, f8), file.path(outdir, "fig8_heldout.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
