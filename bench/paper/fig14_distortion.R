#!/usr/bin/env Rscript
# Paper Fig. 14: distortion (bi-Lipschitz constants) of latent vs spatial distances for held-out cells, the plain
# VAE (lambda = 0) against the package default (lambda = 10). 70/30 split, seed 1, package defaults otherwise;
# distortion() on the held-out cells' encoder means and their true coordinates. Writes bench/paper/fig14_distortion.tsv.
# usage: Rscript bench/paper/fig14_distortion.R [SETS|all] [LATENT]
#   LATENT "spatial": latent_dim = the coordinates' dimension (2, or 3 for the 3-D sets), the paper's setting,
#          written to bench/paper/fig14_distortion_latent_spatial.tsv (default: the package's 8-D latent)
suppressPackageStartupMessages(library(dpvae))
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
source("bench/bench_data.R")
args <- commandArgs(TRUE)
all_sets <- unique(utils::read.csv("bench/out/scrna/within_platform.csv")$set)
sets <- if (length(args) && args[1] != "all") strsplit(args[1], ",")[[1]] else all_sets
spatial_latent <- length(args) > 1 && args[2] == "spatial"
out_file <- if (spatial_latent) "bench/paper/fig14_distortion_latent_spatial.tsv" else "bench/paper/fig14_distortion.tsv"
rows <- list()
for (set in sets) {
  s <- load_set(set)
  set.seed(1)
  test <- sort(sample.int(nrow(s$xy), round(0.3 * nrow(s$xy))))
  for (lambda in c(0, 10)) {
    fit <- dpvae_fit(s$X[, -test, drop = FALSE], s$xy[-test, , drop = FALSE], lambda = lambda, seed = 1,
                     latent_dim = if (spatial_latent) ncol(s$xy) else NULL, num.threads = 1, verbose = FALSE)
    lat <- predict(fit, s$X[, test, drop = FALSE], type = "latent")
    d <- distortion(lat, s$xy[test, , drop = FALSE], seed = 1, num.threads = 1)
    rows[[length(rows) + 1]] <- data.frame(set = set, lambda = lambda, distortion = d$distortion,
                                           robust_distortion = d$robust_distortion, stress = d$stress,
                                           test_procrustes = procrustes_distance(s$xy[test, , drop = FALSE],
                                                                                 predict(fit, s$X[, test, drop = FALSE])))
    print(rows[[length(rows)]], digits = 3, row.names = FALSE)
  }
}
out <- do.call(rbind, rows)
utils::write.table(out, out_file, sep = "\t", quote = FALSE, row.names = FALSE)
w <- stats::reshape(out[c("set", "lambda", "robust_distortion", "stress")], idvar = "set", timevar = "lambda", direction = "wide")
cat(sprintf("robust distortion lower with lambda = 10 on %d / %d sets; stress lower on %d / %d\n",
            sum(w$robust_distortion.10 < w$robust_distortion.0), nrow(w), sum(w$stress.10 < w$stress.0), nrow(w)))
