#!/usr/bin/env Rscript
# metrics_spdep_check.R -- reference values for dpvae's Moran's I / Geary's C from spdep.
#
# Usage: Rscript bench/metrics_spdep_check.R [DATA_DIR] [OUT_DIR] [N_GENES] [K]
#   DATA_DIR default ../shared/data/spacexr_visium_hippo, OUT_DIR default /tmp/spdep_check,
#   N_GENES 20 (top by variance of log1p-normalised expression), K 5.
# Writes to OUT_DIR: expr.csv (genes x cells, log1p(1e4 * counts / libsize)), coords.csv,
#   nb.csv (0-based i,j of spdep's knn2nb neighbour list, not symmetrised),
#   spdep.csv (gene, moran I / E / V / z / p under randomisation and normality, same for geary).
suppressPackageStartupMessages({ library(Matrix); library(spdep) })
a <- commandArgs(trailingOnly = TRUE)
d <- if (length(a) >= 1) a[1] else "../shared/data/spacexr_visium_hippo"
out <- if (length(a) >= 2) a[2] else "/tmp/spdep_check"
ng <- if (length(a) >= 3) as.integer(a[3]) else 20L
k <- if (length(a) >= 4) as.integer(a[4]) else 5L
dir.create(out, showWarnings = FALSE, recursive = TRUE)
X <- as(Matrix::readMM(gzfile(file.path(d, "counts.mtx.gz"))), "CsparseMatrix")
rownames(X) <- readLines(gzfile(file.path(d, "features.tsv.gz")))
obs <- read.delim(gzfile(file.path(d, "obs.tsv.gz")), check.names = FALSE)
coords <- as.matrix(obs[, c("x", "y")])
lib <- Matrix::colSums(X)
L <- X %*% Diagonal(x = 1e4 / lib)
L@x <- log1p(L@x)
v <- apply(as.matrix(L), 1, var)
sel <- sort(order(-v)[seq_len(ng)])
E <- as.matrix(L[sel, , drop = FALSE])
nb <- knn2nb(knearneigh(coords, k = k))
lw <- nb2listw(nb, style = "B")
sym <- is.symmetric.nb(nb, verbose = FALSE, force = TRUE)
res <- do.call(rbind, lapply(seq_len(nrow(E)), function(g) {
  x <- E[g, ]
  mr <- moran.test(x, lw, randomisation = TRUE); mn <- moran.test(x, lw, randomisation = FALSE)
  gr <- geary.test(x, lw, randomisation = TRUE); gn <- geary.test(x, lw, randomisation = FALSE)
  data.frame(gene = rownames(E)[g],
             moran_I = mr$estimate[[1]], moran_E = mr$estimate[[2]],
             moran_V_rand = mr$estimate[[3]], moran_z_rand = mr$statistic[[1]], moran_p_rand = mr$p.value,
             moran_V_norm = mn$estimate[[3]], moran_z_norm = mn$statistic[[1]], moran_p_norm = mn$p.value,
             geary_C = gr$estimate[[1]], geary_E = gr$estimate[[2]],
             geary_V_rand = gr$estimate[[3]], geary_z_rand = gr$statistic[[1]], geary_p_rand = gr$p.value,
             geary_V_norm = gn$estimate[[3]], geary_z_norm = gn$statistic[[1]], geary_p_norm = gn$p.value)
}))
write.table(E, file.path(out, "expr.csv"), sep = ",", col.names = FALSE, row.names = FALSE)
write.table(coords, file.path(out, "coords.csv"), sep = ",", col.names = FALSE, row.names = FALSE)
nbdf <- do.call(rbind, lapply(seq_along(nb), function(i) data.frame(i = i - 1L, j = nb[[i]] - 1L)))
write.table(nbdf, file.path(out, "nb.csv"), sep = ",", col.names = FALSE, row.names = FALSE)
write.csv(format(res, digits = 17), file.path(out, "spdep.csv"), row.names = FALSE, quote = FALSE)
cat(sprintf("spdep %s: %d genes x %d cells, k = %d, nb symmetric: %s -> %s\n",
            packageVersion("spdep"), nrow(E), ncol(E), k, sym, out))
