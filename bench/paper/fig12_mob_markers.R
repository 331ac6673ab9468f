#!/usr/bin/env Rscript
# Fig. 12 of Zhou & Du (arXiv 2408.00911): olfactory-bulb marker genes on the measured layout and on a 2-D
# UMAP of the latent space, VAE (lambda = 0) vs dp-VAE (package defaults, lambda = 10), on meringue_mob.
#
# usage: Rscript bench/paper/fig12_mob_markers.R [OUTDIR]   (default bench/paper; needs the uwot package,
#        a bench-only dependency: apt-get install r-cran-uwot)
# One fit per model on all 262 spots, seed 1, num.threads = DPVAE_THREADS (default 1); UMAP of the 8-D
# encoder means (fit$fitted_latent) with uwot::umap(n_neighbors = 15, min_dist = 0.1, set.seed(1), one thread).
# Markers: Calb2, Gng4, S100a5, Fabp7 (the paper's) and other layer markers of the bulb present in the data.
# Writes OUTDIR/fig12_mob.tsv (spot, measured x/y, UMAP x/y per model, log-normalised expression of each
#   marker) and OUTDIR/fig12_mob_score.tsv: per model and layout (measured, UMAP, latent), the Pearson
#   correlation of its pairwise distances with the measured ones, the Procrustes disparity against the
#   measured layout and the mean Moran's I (k = 5) of the markers with neighbours in it (2-D layouts only).
# Env: DPVAE_THREADS, DPVAE_DATA, DPVAE_LIB.
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
  library(Matrix)
})
args <- commandArgs(TRUE)
outdir <- if (length(args)) args[1] else "bench/paper"
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
threads <- as.integer(Sys.getenv("DPVAE_THREADS", "1"))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "..", "bench_data.R"))
s <- load_set("meringue_mob")
markers <- intersect(c("Calb2", "Gng4", "S100a5", "Fabp7", "Doc2g", "Kctd12", "Nrgn", "Cdhr1", "Penk", "Sox11",
                       "Apod", "Mbp", "Pcp4", "Omp", "Th"), rownames(s$X))
lib_size <- Matrix::colSums(s$X)
expr <- log1p(t(as.matrix(s$X[markers, , drop = FALSE])) / lib_size * 1e4)
res <- data.frame(spot = colnames(s$X), x = s$xy[, 1], y = s$xy[, 2])
score <- list()
moran <- function(coords) mean(morans_i(t(expr), coords, k = 5, num.threads = 1)$statistic, na.rm = TRUE)
dcor <- function(a) stats::cor(as.vector(stats::dist(a)), as.vector(stats::dist(s$xy)))
score[["measured"]] <- data.frame(model = "measured", layout = "measured", dist_pearson = 1, procrustes = 0,
                                  moran_markers = moran(s$xy))
for (model in c("VAE", "dp-VAE")) {
  fit <- dpvae_fit(s$X, s$xy, lambda = if (model == "VAE") 0 else 10, seed = 1, num.threads = threads, verbose = FALSE)
  z <- fit$fitted_latent
  set.seed(1)
  um <- uwot::umap(z, n_neighbors = 15, min_dist = 0.1, n_threads = 1, n_sgd_threads = 1)
  tag <- if (model == "VAE") "vae" else "dpvae"
  res[[paste0("umap1_", tag)]] <- round(um[, 1], 4)
  res[[paste0("umap2_", tag)]] <- round(um[, 2], 4)
  score[[paste(model, "umap")]] <- data.frame(model = model, layout = "UMAP of latent", dist_pearson = dcor(um),
                                             procrustes = procrustes_distance(s$xy, um), moran_markers = moran(um))
  score[[paste(model, "latent")]] <- data.frame(model = model, layout = "latent (8-D)", dist_pearson = dcor(z),
                                               procrustes = NA, moran_markers = NA)
  score[[paste(model, "fitted")]] <- data.frame(model = model, layout = "fitted coordinates", dist_pearson = dcor(fit$fitted_coords),
                                               procrustes = procrustes_distance(s$xy, fit$fitted_coords),
                                               moran_markers = moran(fit$fitted_coords))
}
res <- cbind(res, round(expr, 3))
utils::write.table(res, file.path(outdir, "fig12_mob.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
sc <- do.call(rbind, score)
utils::write.table(sc, file.path(outdir, "fig12_mob_score.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
print(sc, row.names = FALSE)
