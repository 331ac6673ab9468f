# Peak memory and time of each step of dpvae_fit() on real data tiled to size (peak RSS reset between steps
# through /proc/self/clear_refs), then predict() with uncertainty samples on every cell.
# Usage: Rscript bench/scale_steps.R CELLS [SET] [N_GENES] [THREADS] [memory|hdf5]   (repository root, ../shared beside it)
#   hdf5: the tiled matrix is written to an HDF5 file (HDF5Array::writeHDF5Array: integer counts, chunks of
#         1000 cells, gzip level 1, in $TMPDIR), dropped from memory, and every step reads it from disk (an
#         HDF5Matrix, a DelayedMatrix). (writeTENxMatrix fails with Debian 12's rhdf5.)
#         With DPVAE_SCALE_H5=FILE: written there, and when FILE exists already it is read instead of
#         tiling anew, so a fresh process measures the fit without the in-memory matrix it was built from
#         (R keeps freed heap in its RSS).
# Env: DPVAE_SCALE_EPOCHS (default 1) epochs to fit (warm-up 1: the dp term from epoch 2);
#      DPVAE_SCALE_COORDS=FILE.rds saves the fit's coordinates (to compare in-memory and HDF5 runs);
#      DPVAE_SCALE_SKIP_PREDICT=1 stops after the fit.
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(TRUE)
n <- as.integer(args[1])
set <- if (length(args) > 1) args[2] else "giotto_visium_brain_dg"
n_genes <- as.integer(if (length(args) > 2) args[3] else 500)
threads <- as.integer(if (length(args) > 3) args[4] else 1)
mode <- if (length(args) > 4) args[5] else "memory"
status <- function(field) as.numeric(sub("\\D+(\\d+).*", "\\1", grep(field, readLines("/proc/self/status"), value = TRUE))) / 1024
step <- function(label, expr) {
  gc(); writeLines("5", "/proc/self/clear_refs"); r0 <- status("VmRSS"); t0 <- proc.time()[[3]]
  v <- force(expr)
  cat(sprintf("| %s | %.1f | %.0f | %.0f |\n", label, proc.time()[[3]] - t0, status("VmHWM"), r0))
  v
}
d <- file.path("../shared/data", set)
X <- methods::as(Matrix::readMM(gzfile(file.path(d, "counts.mtx.gz"))), "CsparseMatrix")
con <- gzfile(file.path(d, "features.tsv.gz")); rownames(X) <- readLines(con); close(con)
obs <- utils::read.delim(gzfile(file.path(d, "obs.tsv.gz")), check.names = FALSE)
S <- as.matrix(obs[, intersect(c("x", "y", "z"), names(obs))])
keep <- stats::complete.cases(S); X <- X[, keep]; S <- S[keep, , drop = FALSE]
# `reps` copies of a dgCMatrix's columns side by side, the first n columns, built from its slots
# (do.call(cbind, ...) of a thousand copies folds pairwise: quadratic time).
tile_columns <- function(X, reps, n) {
  per <- diff(X@p)
  counts <- rep(per, reps)[seq_len(n)]
  nnz <- sum(counts)
  methods::new("dgCMatrix", Dim = c(nrow(X), as.integer(n)), Dimnames = list(rownames(X), NULL),
               p = c(0L, as.integer(cumsum(counts))), i = rep(X@i, reps)[seq_len(nnz)],
               x = rep(X@x, reps)[seq_len(nnz)])
}
# copies side by side, coordinates jittered by a tenth of the spot spacing
reps <- ceiling(n / ncol(X)); width <- diff(range(S[, 1])) * 1.1
spacing <- stats::median(diff(sort(unique(S[, 1]))))
set.seed(1)
h5 <- Sys.getenv("DPVAE_SCALE_H5", tempfile(fileext = ".h5"))
reuse <- mode == "hdf5" && file.exists(h5)
X <- if (reuse) X[, 1:2] else tile_columns(X, reps, n) # (the reused file holds the tiled matrix)
S <- do.call(rbind, lapply(seq_len(reps) - 1, function(r) sweep(S, 2, c(r * width, rep(0, ncol(S) - 1)), `+`)))[seq_len(n), , drop = FALSE]
S <- S + stats::rnorm(length(S), sd = 0.1 * spacing)
rownames(S) <- paste0("c", seq_len(n))
if (!reuse) colnames(X) <- rownames(S)
genes <- rownames(X)
if (!reuse) cat(sprintf("%s tiled to %d cells x %d genes (%.0f M non-zeros, %.0f MB), %d thread(s)\n\n", set, n, nrow(X),
            length(X@x) / 1e6, as.numeric(object.size(X)) / 2^20, threads))
if (mode == "hdf5") {
  t0 <- proc.time()[[3]]
  X <- if (reuse) HDF5Array::HDF5Array(h5, "counts")
       else HDF5Array::writeHDF5Array(X, h5, name = "counts", H5type = "H5T_NATIVE_INT32",
                                      chunkdim = c(nrow(X), 1000L), level = 1L, as.sparse = TRUE)
  gc()
  dimnames(X) <- list(genes, rownames(S))
  cat(sprintf("%s %s (%.0f MB on disk) in %.0f s; the matrix is now read from there\n\n",
              if (reuse) "opened" else "written to", h5, file.size(h5) / 2^20, proc.time()[[3]] - t0))
}
cat("| step | seconds | peak RSS (MB) | RSS before (MB) |\n|---|---|---|---|\n")
epochs <- as.integer(Sys.getenv("DPVAE_SCALE_EPOCHS", "1"))
fit <- step(sprintf("dpvae_fit, %d epoch(s) (minibatch 1024)", epochs),
            dpvae_fit(X, S, n_genes = n_genes, epochs = epochs, warmup = 1, seed = 1, verbose = FALSE, num.threads = threads))
cat(sprintf("| (of which training + calibration, fit$seconds) | %.1f | | |\n", fit$seconds))
h <- fit$history
if (nrow(h) > 1 && !is.null(h$seconds)) {
  cat(sprintf("| (training loop, epochs 2-%d: s/epoch from history$seconds) | %.2f | | |\n", nrow(h),
              (h$seconds[nrow(h)] - h$seconds[1]) / (nrow(h) - 1)))
}
if (nzchar(Sys.getenv("DPVAE_SCALE_COORDS"))) saveRDS(fit$fitted_coords, Sys.getenv("DPVAE_SCALE_COORDS"))
if (nzchar(Sys.getenv("DPVAE_SCALE_SKIP_PREDICT"))) quit(save = "no")
pred <- step("predict(n_samples = 10)", predict(fit, X, n_samples = 10, seed = 1, num.threads = threads))
