# Imputation accuracy on the shared data sets: hide 30 % of the cells' coordinates, fit dpvae on
# the rest, place the hidden cells, report test Procrustes (normalised, as scipy) beside the
# expression-kNN baseline (each hidden cell at the mean position of its 5 nearest training cells
# in PCA-50 space of log-normalised, standardised top-2000 genes; /work/shared/reference/knn_baseline.py
# re-implemented here so that both use the same split).
#
# Usage: R_LIBS=/tmp/rlib-geometry Rscript bench/impute_accuracy.R DATA_ROOT OUT.tsv [sets...] [--seeds 0,1] [--epochs 300]
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(TRUE)
root <- args[1]; out <- args[2]; rest <- args[-(1:2)]
opt <- function(name, default) { i <- match(name, rest); if (is.na(i)) default else rest[i + 1] }
seeds <- as.integer(strsplit(opt("--seeds", "0"), ",")[[1]])
epochs <- as.integer(opt("--epochs", "300"))
sets <- rest[!rest %in% c("--seeds", "--epochs") & !(seq_along(rest) - 1) %in% which(rest %in% c("--seeds", "--epochs"))]

load_set <- function(d) {
  X <- Matrix::readMM(gzfile(file.path(d, "counts.mtx.gz")))
  X <- as(X, "CsparseMatrix")
  con <- gzfile(file.path(d, "features.tsv.gz")); rownames(X) <- readLines(con); close(con)
  obs <- read.delim(gzfile(file.path(d, "obs.tsv.gz")), check.names = FALSE)
  colnames(X) <- obs$cell
  if ("under_tissue" %in% names(obs)) {
    keep <- !is.na(obs$under_tissue) & obs$under_tissue == 1
    X <- X[, keep]; obs <- obs[keep, ]
  }
  cc <- intersect(c("x", "y", "z"), names(obs))
  co <- as.matrix(obs[, cc]); rownames(co) <- obs$cell
  list(X = X, coords = co)
}

knn_baseline <- function(X, coords, train, test, k = 5, lognorm = TRUE) {
  x <- t(as.matrix(X))
  if (lognorm) x <- log1p(x / pmax(rowSums(x), 1e-12) * 1e4)
  v <- apply(x[train, , drop = FALSE], 2, var)
  x <- x[, order(-v)[seq_len(min(2000, ncol(x)))], drop = FALSE]
  mu <- colMeans(x[train, ]); sd <- apply(x[train, ], 2, sd) * sqrt((length(train) - 1) / length(train))
  sd[sd == 0] <- 1
  x <- sweep(sweep(x, 2, mu), 2, sd, "/")
  p <- prcomp(x[train, ], center = TRUE, scale. = FALSE, rank. = min(50, ncol(x) - 1))
  z <- predict(p, x)
  ztr <- z[train, ]; zte <- z[test, , drop = FALSE]
  pred <- t(apply(zte, 1, function(q) {
    d <- colSums((t(ztr) - q)^2)
    colMeans(coords[train, , drop = FALSE][order(d)[1:k], , drop = FALSE])
  }))
  procrustes_distance(coords[test, ], pred)
}

if (!file.exists(out)) cat("set\tn\tn_test\tgenes\tseed\tepochs_run\tfit_s\tknn\tencoder\tmds\tmds_refine\tmds_k10\trandom\n", file = out)
man <- read.delim(file.path(root, "manifest.tsv"))
for (s in sets) {
  d <- load_set(file.path(root, s))
  lognorm <- man$values[man$name == s] %in% c("counts", "intensity")
  n <- ncol(d$X)
  for (seed in seeds) {
    set.seed(seed)
    test <- sort(sample(n, round(0.3 * n))); train <- setdiff(seq_len(n), test)
    co <- d$coords; co[test, ] <- NA
    t0 <- proc.time()[["elapsed"]]
    fit <- dpvae_fit(d$X, co, n_genes = 2000, normalize = if (lognorm) "lognorm" else "none", epochs = epochs,
                     patience = 100, seed = seed + 1, device = "cpu", num.threads = 1, verbose = FALSE)
    fit_s <- proc.time()[["elapsed"]] - t0
    truth <- d$coords[test, ]
    enc <- predict(fit, d$X[, test])
    pd <- function(imp) procrustes_distance(truth, imp[test, ])
    mds <- pd(dpvae_impute(fit, d$X, co, refine = FALSE, seed = 1, device = "cpu", verbose = FALSE))
    mdsr <- pd(dpvae_impute(fit, d$X, co, refine = TRUE, seed = 1, device = "cpu", verbose = FALSE))
    mdsk <- pd(dpvae_impute(fit, d$X, co, k = 10, seed = 1, device = "cpu", verbose = FALSE))
    knn <- knn_baseline(d$X, d$coords, train, test, lognorm = lognorm)
    rnd <- mean(replicate(5, procrustes_distance(truth, truth[sample(nrow(truth)), ])))
    row <- c(s, n, length(test), length(fit$preprocess$genes), seed, fit$epochs_run, sprintf("%.1f", fit_s),
             sprintf("%.3f", c(knn, procrustes_distance(truth, enc), mds, mdsr, mdsk, rnd)))
    cat(paste(row, collapse = "\t"), "\n", sep = "", file = out, append = TRUE)
    message(paste(row, collapse = "\t"))
  }
}
