# Memory and time of a fit (and prediction) at 10k / 100k / 1M cells on real data tiled to size: copies of
# the section side by side, each copy's coordinates jittered. One size per process, so VmHWM is that run's
# peak RSS.
# Usage: Rscript bench/scale.R CELLS [EPOCHS] [THREADS] [SET] [N_GENES] [PREDICT]
#   SET: starmap_3d (default; 28 genes, 3-D) or another shared set, e.g. giotto_visium_brain_dg (634 genes)
#   PREDICT: 1 = also dpvae_reconstruct(model =) on every cell (positions, map, uncertainty);
#            e2e = instead of the fit, what a user runs: dpvae_reconstruct(X, coords) with every default
#            (EPOCHS is then ignored: the default maximum and early stopping apply)
# (from the repository root, ../shared beside it)
suppressPackageStartupMessages(library(dpvae))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[1]); epochs <- as.integer(if (length(args) > 1) args[2] else 5)
threads <- as.integer(if (length(args) > 2) args[3] else 2)
set <- if (length(args) > 3) args[4] else "starmap_3d"
n_genes <- as.integer(if (length(args) > 4) args[5] else 2000)
do_predict <- length(args) > 5 && args[6] == "1"
end_to_end <- length(args) > 5 && args[6] == "e2e"
hwm <- function() as.numeric(sub("\\D+(\\d+).*", "\\1", grep("VmHWM", readLines("/proc/self/status"), value = TRUE))) / 1024
d <- file.path("../shared/data", set)
X <- methods::as(Matrix::readMM(gzfile(file.path(d, "counts.mtx.gz"))), "CsparseMatrix")
rownames(X) <- readLines(gzfile(file.path(d, "features.tsv.gz")))
obs <- utils::read.delim(gzfile(file.path(d, "obs.tsv.gz")), check.names = FALSE)
colnames(X) <- obs$cell
S <- as.matrix(obs[, intersect(c("x", "y", "z"), names(obs))]); rownames(S) <- obs$cell
keep <- stats::complete.cases(S)
X <- X[, keep]; S <- S[keep, , drop = FALSE]
reps <- ceiling(n / ncol(X))
if (reps > 1) {
  width <- diff(range(S[, 1])) * 1.1
  spacing <- stats::median(diff(sort(unique(S[, 1])))) # jitter well below the spot/cell spacing
  set.seed(1)
  X <- do.call(cbind, rep(list(X), reps))
  S <- do.call(rbind, lapply(seq_len(reps) - 1, function(r) sweep(S, 2, c(r * width, rep(0, ncol(S) - 1)), `+`)))
  S <- S + stats::rnorm(length(S), sd = 0.1 * spacing)
  colnames(X) <- rownames(S) <- paste0("c", seq_len(ncol(X)))
}
X <- X[, seq_len(n)]; S <- S[seq_len(n), , drop = FALSE]
gc()
rss0 <- hwm()
t0 <- proc.time()[["elapsed"]]
if (end_to_end) {
  res <- dpvae_reconstruct(X, S, n_genes = n_genes, seed = 1, verbose = FALSE, num.threads = threads)
  fit <- attr(res, "dpvae_model")
  cat(sprintf("%s: cells %d genes %d, dpvae_reconstruct(X, coords) end to end: %.0f s (training %d epochs, best %d, warm-up %d, patience %d: %.1f s), peak RSS %.0f MB (%.0f MB before), NA positions %d\n",
              set, n, length(fit$preprocess$genes), proc.time()[["elapsed"]] - t0, fit$epochs_run, fit$best_epoch,
              fit$config$warmup, fit$config$patience, fit$seconds, hwm(), rss0, sum(is.na(res[, 1]))))
  quit(save = "no")
}
fit <- dpvae_fit(X, S, n_genes = n_genes, epochs = epochs, warmup = 1, patience = 0, seed = 1, verbose = FALSE,
                 num.threads = threads)
fit_wall <- proc.time()[["elapsed"]] - t0
rss_fit <- hwm()
h <- fit$history
loop <- if (nrow(h) > 1 && !is.null(h$seconds)) (h$seconds[nrow(h)] - h$seconds[1]) / (nrow(h) - 1) else NA
cat(sprintf("%s: cells %d genes %d (input nnz %.0f M, %.0f MB) batch %d epochs %d: %.3f s/epoch (fit$seconds / epochs), training loop %.3f s/epoch (epochs 2-%d), fit call %.0f s, peak RSS %.0f MB (%.0f MB before the fit)\n",
            set, n, length(fit$preprocess$genes), length(X@x) / 1e6, (length(X@x) * 12 + length(X@p) * 4) / 2^20,
            fit$config$batch_size, fit$epochs_run, fit$seconds / fit$epochs_run, loop, nrow(h), fit_wall, rss_fit, rss0))
cat(sprintf("  products in %s\n", if (isTRUE(fit$config$bf16_products)) "bfloat16" else "single precision"))
if (do_predict) {
  t0 <- proc.time()[["elapsed"]]
  res <- dpvae_reconstruct(X, model = fit, verbose = FALSE)
  cat(sprintf("  dpvae_reconstruct(model =) on all %d cells (%s): %.0f s, peak RSS %.0f MB, NA positions %d\n",
              n, attr(res, "dpvae_placement"), proc.time()[["elapsed"]] - t0, hwm(), sum(is.na(res[, 1]))))
}
