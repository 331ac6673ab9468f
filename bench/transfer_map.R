#!/usr/bin/env Rscript
# Section -> section transfer (zero-shot): the other section's spots placed by the encoder vs the cell ->
# location map, model fitted on all spots of the first section with the package defaults.
# usage: Rscript bench/transfer_map.R OUT.csv SEEDS
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(TRUE)
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
source("bench/bench_data.R")
dirs <- list(c("stutility_hippo_s1", "stutility_hippo_s2"), c("stutility_hippo_s3", "stutility_hippo_s4"),
             c("paste_breast_s1", "paste_breast_s2"), c("stutility_mob_s1", "stutility_mob_s2"))
for (seed in as.integer(strsplit(args[2], ",")[[1]])) for (d in dirs) {
  a <- load_set(d[1]); b <- load_set(d[2])
  genes <- intersect(rownames(a$X), rownames(b$X))
  fit <- dpvae_fit(a$X[genes, ], a$xy, seed = seed, num.threads = 1, verbose = FALSE)
  enc <- predict(fit, b$X[genes, ])
  res <- suppressWarnings(dpvae_reconstruct(b$X[genes, ], model = fit, placement = "map", verbose = FALSE))
  pos <- as.matrix(res[, 1:2]); ok <- stats::complete.cases(pos)
  row <- data.frame(train = d[1], test = d[2], seed = seed, encoder = procrustes_distance(b$xy, enc),
                    map = procrustes_distance(b$xy[ok, ], pos[ok, ]))
  print(row, digits = 3, row.names = FALSE)
  ex <- file.exists(args[1]); utils::write.table(row, args[1], sep = ",", row.names = FALSE, col.names = !ex, append = ex)
}
