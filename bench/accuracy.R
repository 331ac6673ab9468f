#!/usr/bin/env Rscript
# Out-of-sample accuracy of dpvae_fit() + predict() on the shared data sets, beside the expression-kNN
# baseline of ../shared/reference/knn_baseline.py (computed here in R on the same split).
#
# usage: Rscript bench/accuracy.R OUT.csv SETS SEEDS CONFIG [CONFIG ...]
#   SETS    comma-separated directory names under $DPVAE_DATA (default /work/shared/data)
#   SEEDS   comma-separated integers (split seed; the fit seed is the same number)
#   CONFIG  dpvae_fit() arguments as R code, e.g. "lambda = 0" or "lr = 5e-4, epochs = 2000";
#           "default" = no arguments (the package defaults). "knn" alone = only the baseline.
# Every (set, seed, config) gives one CSV row appended to OUT.csv; the kNN baseline is one row per
# (set, seed) with config "knn". Split: set.seed(seed); 30 % of the cells with coordinates (after the
# under_tissue == 1 filter where the set has that column) are test cells.
# Env: DPVAE_THREADS (default 1), DPVAE_DATA, DPVAE_LIB (library to load dpvae from).
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
  library(Matrix)
})
args <- commandArgs(TRUE)
if (length(args) < 4) stop("usage: accuracy.R OUT.csv SETS SEEDS CONFIG [CONFIG ...]")
out <- args[1]
sets <- strsplit(args[2], ",")[[1]]
seeds <- as.integer(strsplit(args[3], ",")[[1]])
configs <- args[-(1:3)]
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
threads <- as.integer(Sys.getenv("DPVAE_THREADS", "1"))

load_set <- function(name) {
  d <- file.path(root, name)
  X <- Matrix::readMM(file.path(d, "counts.mtx.gz"))
  X <- methods::as(X, "CsparseMatrix")
  con <- gzfile(file.path(d, "features.tsv.gz"))
  rownames(X) <- readLines(con)
  close(con)
  obs <- utils::read.delim(file.path(d, "obs.tsv.gz"), check.names = FALSE)
  colnames(X) <- obs$cell
  keep <- if ("under_tissue" %in% names(obs)) which(obs$under_tissue %in% 1) else seq_len(nrow(obs))
  cc <- intersect(c("x", "y", "z"), names(obs))
  xy <- as.matrix(obs[keep, cc, drop = FALSE])
  rownames(xy) <- obs$cell[keep]
  ok <- stats::complete.cases(xy)
  X <- X[, keep[ok], drop = FALSE]
  xy <- xy[ok, , drop = FALSE]
  is_count <- all(X@x == round(X@x)) && all(X@x >= 0)
  list(X = X, xy = xy, is_count = is_count)
}

split_cells <- function(n, seed) {
  set.seed(seed)
  test <- sort(sample.int(n, round(0.3 * n)))
  list(train = setdiff(seq_len(n), test), test = test)
}

dist_cor <- function(a, b) {
  if (nrow(a) > 3000) { i <- sample.int(nrow(a), 3000); a <- a[i, , drop = FALSE]; b <- b[i, , drop = FALSE] }
  stats::cor(as.vector(stats::dist(a)), as.vector(stats::dist(b)))
}

# knn_baseline.py in R: log-normalise (counts), top-2000 variance on training cells, standardise (ddof 0),
# PCA 50 fitted on training cells, each test cell at the mean position of its 5 nearest training cells.
knn_baseline <- function(s, sp, k = 5, n_hvg = 2000) {
  x <- as.matrix(Matrix::t(s$X)) # cells x genes
  if (s$is_count) x <- log1p(x / pmax(rowSums(x), 1e-12) * 1e4)
  tr <- x[sp$train, , drop = FALSE]
  v <- colMeans(tr^2) - colMeans(tr)^2
  top <- order(-v, seq_along(v))[seq_len(min(n_hvg, ncol(x)))]
  x <- x[, top, drop = FALSE]
  tr <- x[sp$train, , drop = FALSE]
  mu <- colMeans(tr)
  sd <- sqrt(pmax(colMeans(tr^2) - mu^2, 0))
  sd[sd == 0] <- 1
  x <- sweep(sweep(x, 2, mu), 2, sd, "/")
  npc <- min(50, ncol(x) - 1, length(sp$train) - 1)
  tr <- x[sp$train, , drop = FALSE]
  rot <- if (requireNamespace("irlba", quietly = TRUE) && npc < min(dim(tr)) / 2) {
    set.seed(0)
    irlba::prcomp_irlba(tr, n = npc, center = TRUE, scale. = FALSE)$rotation
  } else {
    stats::prcomp(tr, center = TRUE, scale. = FALSE, rank. = npc)$rotation
  }
  z <- sweep(x, 2, colMeans(tr)) %*% rot
  ztr <- z[sp$train, , drop = FALSE]
  zte <- z[sp$test, , drop = FALSE]
  d2 <- outer(rowSums(zte^2), rowSums(ztr^2), "+") - 2 * zte %*% t(ztr)
  nn <- t(apply(d2, 1, function(r) order(r)[seq_len(k)]))
  xytr <- s$xy[sp$train, , drop = FALSE]
  pred <- sapply(seq_len(ncol(xytr)), function(j) rowMeans(matrix(xytr[nn, j], nrow = nrow(nn))))
  pred
}

write_row <- function(row) {
  exists <- file.exists(out)
  utils::write.table(row, out, sep = ",", row.names = FALSE, col.names = !exists, append = exists, quote = TRUE, qmethod = "double")
}

for (set in sets) {
  s <- load_set(set)
  for (seed in seeds) {
    sp <- split_cells(nrow(s$xy), seed)
    truth <- s$xy[sp$test, , drop = FALSE]
    t0 <- proc.time()[["elapsed"]]
    pk <- knn_baseline(s, sp)
    write_row(data.frame(set = set, seed = seed, config = "knn", n_train = length(sp$train),
                         n_test = length(sp$test), procrustes = procrustes_distance(truth, pk),
                         dist_pearson = dist_cor(truth, pk), train_procrustes = NA, epochs_run = NA,
                         best_epoch = NA, seconds = proc.time()[["elapsed"]] - t0))
    for (cfg in configs) {
      if (cfg == "knn") next
      a <- if (cfg == "default") list() else eval(parse(text = paste0("list(", cfg, ")")))
      a <- utils::modifyList(list(seed = seed, num.threads = threads, verbose = FALSE), a)
      res <- tryCatch({
        fit <- do.call(dpvae_fit, c(list(s$X[, sp$train, drop = FALSE], s$xy[sp$train, , drop = FALSE]), a))
        pred <- predict(fit, s$X[, sp$test, drop = FALSE])
        data.frame(procrustes = procrustes_distance(truth, pred), dist_pearson = dist_cor(truth, pred),
                   train_procrustes = procrustes_distance(s$xy[sp$train, , drop = FALSE], fit$fitted_coords),
                   epochs_run = fit$epochs_run, best_epoch = fit$best_epoch, seconds = fit$seconds)
      }, error = function(e) {
        message(set, " ", seed, " ", cfg, ": ", conditionMessage(e))
        data.frame(procrustes = NA, dist_pearson = NA, train_procrustes = NA, epochs_run = NA,
                   best_epoch = NA, seconds = NA)
      })
      write_row(cbind(data.frame(set = set, seed = seed, config = cfg, n_train = length(sp$train),
                                 n_test = length(sp$test)), res))
      message(sprintf("%s seed %d [%s]: test %.3f (kNN %.3f), train %.3f, %s epochs (best %s), %.1f s", set, seed,
                      cfg, res$procrustes, procrustes_distance(truth, pk), res$train_procrustes, res$epochs_run,
                      res$best_epoch, res$seconds))
    }
  }
}
