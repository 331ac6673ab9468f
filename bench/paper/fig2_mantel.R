#!/usr/bin/env Rscript
# Paper Fig. 2: how strongly spatial distance and expression dissimilarity (1 - Pearson r of log-normalised
# profiles) go together in each data set (a Mantel-type correlation, spatial_expression_correlation(), 99
# permutations), against how well dp-VAE reconstructs held-out cells there (mean test Procrustes of the encoder,
# seeds 1-3, from bench/out/scrna/within_platform.csv). Writes bench/paper/fig2_mantel.tsv.
# usage: Rscript bench/paper/fig2_mantel.R
suppressPackageStartupMessages(library(dpvae))
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
source("bench/bench_data.R")
acc <- utils::read.csv("bench/out/scrna/within_platform.csv")
sets <- unique(acc$set)
rows <- lapply(sets, function(set) {
  s <- load_set(set)
  x <- if (s$is_count) log1p(s$X %*% Matrix::Diagonal(x = 1e4 / pmax(Matrix::colSums(s$X), 1))) else s$X
  dimnames(x) <- dimnames(s$X)
  t0 <- proc.time()[["elapsed"]]
  r <- spatial_expression_correlation(x, s$xy, n_perm = 99, seed = 1, num.threads = 1)
  data.frame(set = set, cells = ncol(x), genes = nrow(x), pearson = r$pearson, spearman = r$spearman,
             p_perm = r$p_value_pearson, test_procrustes = mean(acc$encoder[acc$set == set]),
             seconds = proc.time()[["elapsed"]] - t0)
})
out <- do.call(rbind, rows)
utils::write.table(out, "bench/paper/fig2_mantel.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
print(out, digits = 3)
ct <- stats::cor.test(out$pearson, out$test_procrustes, method = "spearman", exact = FALSE)
cat(sprintf("Spearman correlation across the %d sets of distance-expression r and test Procrustes: %.2f (p = %.2g)\n",
            nrow(out), ct$estimate, ct$p.value))
