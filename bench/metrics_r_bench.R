#!/usr/bin/env Rscript
# metrics_r_bench.R -- R-level timings of dpvae's Moran's I / Geary's C (what an R user sees),
# next to the bare Rust call through the same binding, so the R overhead is visible.
#
# Usage: Rscript bench/metrics_r_bench.R [THREADS] [REPS]      (defaults 2, 7)
# Data: synthetic 3000 cells x 2000 genes as bench/metrics_bench.py (coords uniform * 100,
#   counts ~ Poisson(exp(sin(x / 10 * u_g))), log1p), but drawn with R's RNG (set.seed(0));
#   kNN k = 5 binary weights built from the coordinates inside every call.
suppressPackageStartupMessages({ library(Matrix); library(dpvae) })
a <- commandArgs(trailingOnly = TRUE)
threads <- if (length(a) >= 1) as.integer(a[1]) else 2L
reps <- if (length(a) >= 2) as.integer(a[2]) else 7L
set.seed(0)
n_cells <- 3000; n_genes <- 2000
coords <- matrix(runif(n_cells * 2), n_cells) * 100
u <- runif(n_genes, 0.2, 2)
lam <- exp(sin(outer(u, coords[, 1] / 10)))            # genes x cells
dense <- log1p(matrix(rpois(length(lam), lam), n_genes, n_cells))
rownames(dense) <- paste0("g", seq_len(n_genes))
sparse <- as(dense, "CsparseMatrix")
cat(sprintf("%d genes x %d cells, %.2fM non-zeros (%.0f%%), k = 5, %d threads, median of %d\n",
            n_genes, n_cells, length(sparse@x) / 1e6, 100 * length(sparse@x) / length(dense), threads, reps))

med <- function(f) {
  f() # warm-up (page faults, thread pool)
  stats::median(vapply(seq_len(reps), function(i) system.time(f())[["elapsed"]], 0))
}
core <- function(x, n_perm = 0L) {
  e <- dpvae:::expr_args(x)
  dpvae:::moran_geary_impl(e$dense, e$p, e$i, e$x, e$nrow, e$ncol, coords, 5L, NULL, NULL, NULL, "B",
                           n_perm, 1, "greater", threads)
}
rows <- list()
for (kind in c("dense", "dgCMatrix")) {
  x <- if (kind == "dense") dense else sparse
  rows[[length(rows) + 1]] <- data.frame(
    input = kind,
    core_moran_geary_s = med(function() core(x)),
    morans_i_s = med(function() morans_i(x, coords, k = 5, num.threads = threads)),
    gearys_c_s = med(function() gearys_c(x, coords, k = 5, num.threads = threads)),
    spatial_autocorrelation_s = med(function() spatial_autocorrelation(x, coords, k = 5, num.threads = threads)),
    morans_i_99perm_s = stats::median(vapply(1:3, function(i) system.time(
      morans_i(x, coords, k = 5, n_perm = 99, seed = 1, num.threads = threads))[["elapsed"]], 0)))
}
res <- do.call(rbind, rows)
print(format(res, digits = 3), row.names = FALSE)
cat(sprintf("knn only (3000 points, k = 5): %.4f s\n",
            med(function() dpvae:::knn_impl(coords, 5L, threads))))
cat(sprintf("load average: %s\n", paste(readLines("/proc/loadavg"), collapse = " ")))
