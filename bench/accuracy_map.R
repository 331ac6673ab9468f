#!/usr/bin/env Rscript
# Within a platform: held-out cells placed by the encoder (predict(), today's default readout) vs the cell ->
# location map (dpvae_reconstruct(model =) default), same fits, same 70/30 splits as bench/accuracy.R.
# Per-cell errors and map spreads are kept for the uncertainty calibration (bench/work/accuracy_map_cells.rds).
# usage: Rscript bench/accuracy_map.R OUT.csv SETS SEEDS
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(TRUE)
out <- args[1]
sets <- strsplit(args[2], ",")[[1]]
seeds <- as.integer(strsplit(args[3], ",")[[1]])
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
source("bench/bench_data.R")
cells_rds <- Sys.getenv("DPVAE_CELLS_RDS", "bench/work/accuracy_map_cells.rds") # one per parallel run
per_cell <- if (file.exists(cells_rds)) readRDS(cells_rds) else list()
for (set in sets) {
  s <- load_set(set)
  for (seed in seeds) {
    set.seed(seed)
    test <- sort(sample.int(nrow(s$xy), round(0.3 * nrow(s$xy))))
    train <- setdiff(seq_len(nrow(s$xy)), test)
    truth <- s$xy[test, , drop = FALSE]
    fit <- dpvae_fit(s$X[, train, drop = FALSE], s$xy[train, , drop = FALSE], seed = seed, num.threads = 1, verbose = FALSE)
    enc <- predict(fit, s$X[, test, drop = FALSE])
    t0 <- proc.time()[["elapsed"]]
    res <- suppressWarnings(dpvae_reconstruct(s$X[, test, drop = FALSE], model = fit, placement = "map", verbose = FALSE))
    map_seconds <- proc.time()[["elapsed"]] - t0
    pos <- as.matrix(res[, seq_len(ncol(truth))])
    ok <- stats::complete.cases(pos)
    map <- attr(res, "dpvae_map")
    res_enc <- suppressWarnings(dpvae_reconstruct(s$X[, test, drop = FALSE], model = fit, placement = "encoder", verbose = FALSE))
    auto <- suppressWarnings(dpvae_reconstruct(s$X[, test, drop = FALSE], model = fit, verbose = FALSE))
    cover <- function(r) { e <- sqrt(rowSums((as.matrix(r[, seq_len(ncol(truth))]) - truth)^2)); mean(e <= r$dpvae_uncertainty, na.rm = TRUE) }
    spread <- sqrt(vapply(seq_len(ncol(truth)), function(j) as.vector(map %*% fit$train_coords[, j]^2) - pos[, j]^2,
                          numeric(nrow(pos))) |> rowSums() |> pmax(0))
    # neighbours in the distance-preserving latent (encoder means of the training cells), Gaussian weights
    lat <- predict(fit, s$X[, test, drop = FALSE], type = "latent")
    nb <- dpvae:::latent_neighbours(lat, fit$fitted_latent, 10)
    h <- stats::median(nb$distance[, 1])
    w <- exp(-(nb$distance^2 - nb$distance[, 1]^2) / (2 * h^2)); w <- w / rowSums(w)
    latmap <- sapply(seq_len(ncol(truth)), function(j) rowSums(w * matrix(fit$train_coords[nb$index, j], nrow(w))))
    per_cell[[paste(set, seed)]] <- list(set = set, seed = seed, truth = truth, encoder = enc, map = pos,
                                         latmap = latmap, spread = spread, outlier = res$dpvae_outlier_score)
    row <- data.frame(set = set, seed = seed, n_train = length(train), n_test = length(test),
                      encoder = procrustes_distance(truth, enc), map = procrustes_distance(truth[ok, ], pos[ok, ]),
                      latmap = procrustes_distance(truth, latmap),
                      blend = procrustes_distance(truth[ok, ], (enc[ok, ] + pos[ok, ]) / 2),
                      auto = attr(auto, "dpvae_placement"), cover_map = cover(res), cover_encoder = cover(res_enc), cover_auto = cover(auto),
                      radius_factor = fit$radius_factor, radius_rms = fit$radius_rms, mean_factor = if (is.null(fit$radius_mean_factor)) NA else fit$radius_mean_factor, fit_seconds = fit$seconds, map_seconds = map_seconds)
    print(row, digits = 3, row.names = FALSE)
    exists <- file.exists(out)
    utils::write.table(row, out, sep = ",", row.names = FALSE, col.names = !exists, append = exists)
    saveRDS(per_cell, cells_rds)
  }
}
