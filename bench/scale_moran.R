# morans_i() on real data tiled to size (issue 14's "1M cells, 500 genes <= 60 s"): the Giotto Visium section
# copied side by side (coordinates jittered), the 500 most variable genes, k = 5 (the default).
# Usage: Rscript bench/scale_moran.R CELLS [THREADS]   (repository root, ../shared beside it)
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(TRUE)
n <- as.integer(args[1]); threads <- as.integer(if (length(args) > 1) args[2] else 1)
d <- "../shared/data/giotto_visium_brain_dg"
X <- methods::as(Matrix::readMM(gzfile(file.path(d, "counts.mtx.gz"))), "CsparseMatrix")
obs <- utils::read.delim(gzfile(file.path(d, "obs.tsv.gz")), check.names = FALSE)
S <- as.matrix(obs[, c("x", "y")])
keep <- stats::complete.cases(S); X <- X[, keep]; S <- S[keep, ]
X <- X[order(-apply(X, 1, stats::var))[1:500], ]
reps <- ceiling(n / ncol(X)); width <- diff(range(S[, 1])) * 1.1
per <- diff(X@p); counts <- rep(per, reps)[seq_len(n)]; nnz <- sum(counts)
X <- methods::new("dgCMatrix", Dim = c(nrow(X), as.integer(n)), p = c(0L, as.integer(cumsum(counts))),
                  i = rep(X@i, reps)[seq_len(nnz)], x = log1p(rep(X@x, reps)[seq_len(nnz)]))
set.seed(1)
S <- do.call(rbind, lapply(seq_len(reps) - 1, function(r) sweep(S, 2, c(r * width, 0), `+`)))[seq_len(n), ]
S <- S + stats::rnorm(length(S), sd = 5)
t0 <- proc.time()[["elapsed"]]
res <- morans_i(X, S, num.threads = threads)
cat(sprintf("morans_i: %d cells x %d genes (%.0f M non-zeros), k = 5, %d thread(s): %.1f s; median I %.3f\n",
            n, nrow(X), nnz / 1e6, threads, proc.time()[["elapsed"]] - t0, stats::median(res$statistic)))
