#!/usr/bin/env Rscript
# Out-of-reference score: spots of another tissue vs held-out spots of the reference tissue. Model fitted with
# the package defaults on 70 % of a section; scored as one query: its other 30 % together with as many spots of
# the other tissue (a query holding cells the reference lacks). AUC = probability that a foreign spot scores
# above a held-out one.
# usage: Rscript bench/outlier.R OUT.csv SEEDS
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(TRUE)
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
source("bench/bench_data.R")
pairs <- list(c("stutility_hippo_s1", "stutility_mob_s1"), c("stutility_mob_s1", "stutility_hippo_s1"),
              c("stutility_hippo_s3", "stutility_mob_s2"), c("paste_breast_s1", "spacexr_visium_lymph"))
auc <- function(pos, neg) mean(outer(pos, neg, ">") + 0.5 * outer(pos, neg, "=="))
for (seed in as.integer(strsplit(args[2], ",")[[1]])) for (p in pairs) {
  a <- load_set(p[1]); b <- load_set(p[2])
  genes <- intersect(rownames(a$X), rownames(b$X))
  set.seed(seed)
  test <- sort(sample.int(ncol(a$X), round(0.3 * ncol(a$X))))
  fit <- dpvae_fit(a$X[genes, -test], a$xy[-test, ], seed = seed, num.threads = 1, verbose = FALSE)
  foreign <- sort(sample.int(ncol(b$X), min(length(test), ncol(b$X))))
  query <- cbind(a$X[genes, test], b$X[genes, foreign])
  colnames(query) <- c(colnames(a$X)[test], paste0("other_", colnames(b$X)[foreign]))
  score <- predict(fit, query, type = "outlier")
  held <- score[seq_along(test)]
  other <- score[-seq_along(test)]
  row <- data.frame(reference = p[1], other = p[2], seed = seed, genes = length(genes),
                    held_out_median = stats::median(held, na.rm = TRUE), held_out_q95 = stats::quantile(held, 0.95, na.rm = TRUE),
                    other_median = stats::median(other, na.rm = TRUE), auc = auc(other[!is.na(other)], held[!is.na(held)]))
  print(row, digits = 3, row.names = FALSE)
  ex <- file.exists(args[1]); utils::write.table(row, args[1], sep = ",", row.names = FALSE, col.names = !ex, append = ex)
}
