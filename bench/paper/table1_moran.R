#!/usr/bin/env Rscript
# Paper Table I: spatial autocorrelation of marker genes on held-out cells placed by each model. For each of the
# four mouse-brain sections (stutility_hippo_s1-s4): 70/30 split (seed 1); models VAE (lambda = 0), dp-VAE
# (default lambda = 10), and the count-likelihood variants (likelihood = "nb": the paper's scVI / dp-scVI rows).
# The statistic: Moran's I and Geary's C (k = 5 nearest neighbours, binary weights, morans_i()/gearys_c()) of the
# held-out cells' log-normalised expression of the section's 10 marker genes, with the neighbours taken from
# the model's placed positions of those cells; "truth" = the same on their measured positions. Markers = the 10
# genes with the highest Moran's I on the measured positions of the training cells (so the test cells do not
# choose them). Writes bench/paper/table1_moran.tsv.
# usage: Rscript bench/paper/table1_moran.R
suppressPackageStartupMessages(library(dpvae))
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
source("bench/bench_data.R")
lognorm <- function(X) {
  y <- log1p(X %*% Matrix::Diagonal(x = 1e4 / pmax(Matrix::colSums(X), 1)))
  dimnames(y) <- dimnames(X)
  y
}
models <- list(VAE = list(lambda = 0), `dp-VAE` = list(), `NB-VAE (scVI)` = list(lambda = 0, likelihood = "nb"),
               `dp-NB-VAE (dp-scVI)` = list(likelihood = "nb"))
rows <- list()
for (set in sprintf("stutility_hippo_s%d", 1:4)) {
  s <- load_set(set)
  set.seed(1)
  test <- sort(sample.int(nrow(s$xy), round(0.3 * nrow(s$xy))))
  y <- lognorm(s$X)
  train_i <- morans_i(y[, -test], s$xy[-test, ], num.threads = 1)
  markers <- train_i$gene[order(-train_i$statistic)][1:10]
  stat <- function(coords) {
    c(moran = mean(morans_i(y[markers, test], coords, num.threads = 1)$statistic),
      geary = mean(gearys_c(y[markers, test], coords, num.threads = 1)$statistic))
  }
  truth <- stat(s$xy[test, ])
  rows[[length(rows) + 1]] <- data.frame(set = set, model = "truth (measured positions)", moran = truth[["moran"]],
                                         geary = truth[["geary"]], test_procrustes = 0)
  for (m in names(models)) {
    fit <- do.call(dpvae_fit, c(list(s$X[, -test], s$xy[-test, ], seed = 1, num.threads = 1, verbose = FALSE),
                                models[[m]]))
    placed <- predict(fit, s$X[, test])
    v <- stat(placed)
    rows[[length(rows) + 1]] <- data.frame(set = set, model = m, moran = v[["moran"]], geary = v[["geary"]],
                                           test_procrustes = procrustes_distance(s$xy[test, ], placed))
    print(rows[[length(rows)]], digits = 3, row.names = FALSE)
  }
}
out <- do.call(rbind, rows)
utils::write.table(out, "bench/paper/table1_moran.tsv", sep = "\t", quote = FALSE, row.names = FALSE)
print(stats::aggregate(cbind(moran, geary, test_procrustes) ~ model, out, mean), digits = 3)
