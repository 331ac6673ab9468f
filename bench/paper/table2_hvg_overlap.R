#!/usr/bin/env Rscript
# Paper Table II: overlap of the top-100 highly variable genes between the four mouse-brain sections
# (stutility_hippo_s1-s4). HVGs as dpvae_fit() selects them: variance of log1p(1e4 * counts / library size)
# over each section's spots (under the tissue). Writes bench/paper/table2_hvg_overlap.tsv.
# usage: Rscript bench/paper/table2_hvg_overlap.R [N_TOP]
suppressPackageStartupMessages(library(dpvae))
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
source("bench/bench_data.R")
args <- commandArgs(TRUE)
n_top <- if (length(args)) as.integer(args[1]) else 100L
sets <- sprintf("stutility_hippo_s%d", 1:4)
top <- lapply(sets, function(set) {
  s <- load_set(set)
  pp <- dpvae:::fit_preprocess(s$X, n_genes = n_top)
  pp$genes
})
names(top) <- sets
overlap <- outer(seq_along(sets), seq_along(sets), Vectorize(function(i, j) length(intersect(top[[i]], top[[j]]))))
dimnames(overlap) <- list(sets, sets)
out <- data.frame(section = sets, overlap, check.names = FALSE)
utils::write.table(out, "bench/paper/table2_hvg_overlap.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
print(overlap)
off <- overlap[upper.tri(overlap)]
cat(sprintf("off-diagonal overlap of the top %d: %d-%d (mean %.1f); in all four sections: %d\n", n_top, min(off),
            max(off), mean(off), length(Reduce(intersect, top))))
