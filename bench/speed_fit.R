#!/usr/bin/env Rscript
# Seconds per epoch of dpvae_fit() on one synthetic data set (make_synthetic.py format).
# usage: Rscript bench/speed_fit.R DIR EPOCHS THREADS [BATCH]
# DPVAE_BENCH_UNSET_CORETYPE=1: R was started with OPENBLAS_CORETYPE (e.g. Prescott, OpenBLAS's generic
# fallback); forgetting it before dpvae loads lets dpvae's load-time BLAS check see what a fresh machine sees.
if (identical(Sys.getenv("DPVAE_BENCH_UNSET_CORETYPE"), "1")) Sys.unsetenv("OPENBLAS_CORETYPE")
# DPVAE_BF16=FALSE: single-precision products (options(dpvae.bf16); default "auto")
if (nzchar(Sys.getenv("DPVAE_BF16"))) options(dpvae.bf16 = switch(Sys.getenv("DPVAE_BF16"), "TRUE" = TRUE, "FALSE" = FALSE, "auto"))
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
})
a <- commandArgs(TRUE)
d <- a[1]; epochs <- as.integer(a[2]); threads <- as.integer(a[3])
batch <- if (length(a) >= 4) as.integer(a[4]) else 0L
X <- methods::as(Matrix::readMM(file.path(d, "counts.mtx.gz")), "CsparseMatrix")
con <- gzfile(file.path(d, "features.tsv.gz")); rownames(X) <- readLines(con); close(con)
obs <- utils::read.delim(file.path(d, "obs.tsv.gz"))
colnames(X) <- obs$cell
xy <- as.matrix(obs[, c("x", "y")]); rownames(xy) <- obs$cell
# dp term and stress monitoring active in every epoch (warmup 0), no early stopping, as bench_speed.sh
fit_epochs <- function(e) {
  dpvae_fit(X, xy, n_genes = 2000, hidden = 124, latent_dim = 2, validation = 0, lambda = 0.1, epochs = e, warmup = 0,
            patience = 0, batch_size = batch, seed = 0, num.threads = threads, verbose = FALSE)
}
t0 <- proc.time()[["elapsed"]]
fit <- fit_epochs(epochs)
total <- proc.time()[["elapsed"]] - t0
# fit$seconds also holds the per-call costs (the training tensor built from R, the final f64 encoding of
# every cell); the reference's s_per_epoch is its training loop alone. A second fit of a fifth of the epochs
# gives the per-epoch cost as the difference (s_per_epoch_loop).
short <- fit_epochs(max(1L, epochs %/% 5L))
loop <- (fit$seconds - short$seconds) / (fit$epochs_run - short$epochs_run)
info <- libtorch_info()
cat(sprintf('{"cells": %d, "batch": %d, "epochs": %d, "threads": %d, "s_per_epoch": %.5f, "s_per_epoch_loop": %.5f, "per_call_s": %.2f, "fit_call_s": %.2f, "blas_core": "%s", "blas_retuned_from": "%s"}\n',
            ncol(X), batch, fit$epochs_run, threads, fit$seconds / fit$epochs_run, loop,
            fit$seconds - loop * fit$epochs_run, total, info$blas_core, info$blas_retuned_from))
