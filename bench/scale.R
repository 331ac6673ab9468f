# Memory and time of a minibatch fit at 10k / 33k / 100k cells (real starmap_3d data; 100k by tiling
# the real section three times side by side). One size per process, so VmHWM is that fit's peak RSS.
# Usage: Rscript bench/scale.R CELLS [EPOCHS] [THREADS]   (from the repository root, ../shared beside it)
suppressPackageStartupMessages(library(dpvae))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[1]); epochs <- as.integer(if (length(args) > 1) args[2] else 5)
threads <- as.integer(if (length(args) > 2) args[3] else 2)
d <- "../shared/data/starmap_3d"
X <- methods::as(Matrix::readMM(gzfile(file.path(d, "counts.mtx.gz"))), "CsparseMatrix")
rownames(X) <- readLines(gzfile(file.path(d, "features.tsv.gz")))
obs <- utils::read.delim(gzfile(file.path(d, "obs.tsv.gz")), check.names = FALSE)
colnames(X) <- obs$cell
S <- as.matrix(obs[, c("x", "y", "z")]); rownames(S) <- obs$cell
reps <- ceiling(n / ncol(X))
if (reps > 1) {
  width <- diff(range(S[, 1])) * 1.1
  X <- do.call(cbind, rep(list(X), reps))
  S <- do.call(rbind, lapply(seq_len(reps) - 1, function(r) sweep(S, 2, c(r * width, 0, 0), `+`)))
  colnames(X) <- rownames(S) <- paste0("c", seq_len(ncol(X)))
}
X <- X[, seq_len(n)]; S <- S[seq_len(n), ]
rss0 <- as.numeric(sub("\\D+(\\d+).*", "\\1", grep("VmHWM", readLines("/proc/self/status"), value = TRUE))) / 1024
fit <- dpvae_fit(X, S, epochs = epochs, warmup = 1, patience = 0, seed = 1, verbose = FALSE, num.threads = threads)
hwm <- as.numeric(sub("\\D+(\\d+).*", "\\1", grep("VmHWM", readLines("/proc/self/status"), value = TRUE))) / 1024
cat(sprintf("cells %d genes %d batch %d epochs %d: %.3f s/epoch, peak RSS %.0f MB (%.0f MB before the fit), train Procrustes %.3f\n",
            n, nrow(X), fit$config$batch_size, fit$epochs_run, fit$seconds / fit$epochs_run, hwm, rss0,
            procrustes_distance(S, fit$fitted_coords)))
