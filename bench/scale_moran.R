# morans_i() on real data tiled to size (issue 14's "1M cells, 500 genes <= 60 s"): the Giotto Visium section
# copied side by side (coordinates jittered), the 500 most variable genes, k = 5 (the default).
# Usage: Rscript bench/scale_moran.R CELLS [THREADS] [H5]   (repository root, ../shared beside it)
#   H5: instead, the tiled counts in that HDF5 file (bench/scale_steps.R ... hdf5 writes it; 634 genes), its
#       first 500 genes read a gene block at a time (peak RSS reported), then the same genes realised in
#       memory for the in-memory result, which must be identical.
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(TRUE)
n <- as.integer(args[1]); threads <- as.integer(if (length(args) > 1) args[2] else 1)
h5 <- if (length(args) > 2) args[3] else ""
hwm <- function() as.numeric(sub("\\D+(\\d+).*", "\\1", grep("VmHWM", readLines("/proc/self/status"), value = TRUE))) / 1024
d <- "../shared/data/giotto_visium_brain_dg"
X <- methods::as(Matrix::readMM(gzfile(file.path(d, "counts.mtx.gz"))), "CsparseMatrix")
obs <- utils::read.delim(gzfile(file.path(d, "obs.tsv.gz")), check.names = FALSE)
S <- as.matrix(obs[, c("x", "y")])
keep <- stats::complete.cases(S); X <- X[, keep]; S <- S[keep, ]
X <- X[order(-apply(X, 1, stats::var))[1:500], ]
reps <- ceiling(n / ncol(X)); width <- diff(range(S[, 1])) * 1.1
per <- diff(X@p); counts <- rep(per, reps)[seq_len(n)]; nnz <- sum(counts)
if (!nzchar(h5)) {
  X <- methods::new("dgCMatrix", Dim = c(nrow(X), as.integer(n)), p = c(0L, as.integer(cumsum(counts))),
                    i = rep(X@i, reps)[seq_len(nnz)], x = log1p(rep(X@x, reps)[seq_len(nnz)]))
}
set.seed(1)
S <- do.call(rbind, lapply(seq_len(reps) - 1, function(r) sweep(S, 2, c(r * width, 0), `+`)))[seq_len(n), ]
S <- S + stats::rnorm(length(S), sd = 5)
if (nzchar(h5)) {
  H <- HDF5Array::HDF5Array(h5, "counts")
  stopifnot(ncol(H) == n)
  before <- hwm()
  t0 <- proc.time()[["elapsed"]]
  on_disk <- morans_i(H, S, features = 1:500, num.threads = threads)
  cat(sprintf("morans_i on HDF5 (%s): %d cells x 500 genes, k = 5, %d thread(s): %.1f s; peak RSS %.0f MB (%.0f MB before)\n",
              h5, n, threads, proc.time()[["elapsed"]] - t0, hwm(), before))
  X <- methods::as(H[1:500, ], "dgCMatrix")
  t0 <- proc.time()[["elapsed"]]
  in_memory <- morans_i(X, S, num.threads = threads)
  cat(sprintf("in memory: %.1f s; identical to HDF5: %s\n", proc.time()[["elapsed"]] - t0,
              identical(on_disk$statistic, in_memory$statistic) && identical(on_disk$p_value, in_memory$p_value)))
  quit(save = "no")
}
t0 <- proc.time()[["elapsed"]]
res <- morans_i(X, S, num.threads = threads)
cat(sprintf("morans_i: %d cells x %d genes (%.0f M non-zeros), k = 5, %d thread(s): %.1f s; median I %.3f\n",
            n, nrow(X), nnz / 1e6, threads, proc.time()[["elapsed"]] - t0, stats::median(res$statistic)))
