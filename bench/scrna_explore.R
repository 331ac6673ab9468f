# Exploration of readouts for the scRNA-seq benchmark (issue 11): which standardisation of the query and which
# readout (coordinates vs latent map) places single cells best. Prototype in R on the package's fit/encoder.
# Usage: Rscript bench/scrna_explore.R CASE [SEEDS]
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(trailingOnly = TRUE)
case <- args[1]
seeds <- if (length(args) >= 2) as.integer(strsplit(args[2], ",")[[1]]) else 1L
dir <- file.path("bench/work/scrna", case)
rd <- function(f) utils::read.delim(file.path(dir, f), check.names = FALSE)
meta <- jsonlite::fromJSON(file.path(dir, "meta.json"))
R <- as(Matrix::readMM(file.path(dir, "ref.mtx")), "CsparseMatrix"); rownames(R) <- readLines(file.path(dir, "ref_genes.txt"))
Q <- as(Matrix::readMM(file.path(dir, "query.mtx")), "CsparseMatrix"); rownames(Q) <- readLines(file.path(dir, "query_genes.txt"))
robs <- rd("ref_obs.tsv"); qobs <- rd("query_obs.tsv")
colnames(R) <- robs$cell; colnames(Q) <- qobs$cell
cc <- intersect(c("x", "y", "z"), names(robs))
rxy <- as.matrix(robs[, cc]); rownames(rxy) <- robs$cell

lognorm <- function(X) if (meta$values == "counts") { X <- X %*% Diagonal(x = 1e4 / pmax(colSums(X), 1)); X@x <- log1p(X@x); X } else X

sqdist <- function(a, b) pmax(outer(rowSums(a^2), rowSums(b^2), "+") - 2 * a %*% t(b), 0)
knn_rows <- function(a, b, k) { d <- sqdist(a, b); idx <- t(apply(d, 1, function(r) order(r)[seq_len(k)])); list(idx = idx, d2 = t(sapply(seq_len(nrow(d)), function(i) d[i, idx[i, ]]))) }

# query standardised with its own gene means and sds (vs the reference's)
encode_own <- function(fit, X) {
  pp <- fit$preprocess
  y <- if (pp$lognorm) { Z <- X[pp$genes, ]; Z <- Z %*% Diagonal(x = pp$target_sum / pmax(colSums(X), 1)); Z@x <- log1p(Z@x); Z } else X[pp$genes, ]
  y <- as.matrix(t(y))
  mu <- colMeans(y); sd <- sqrt(pmax(colMeans(y^2) - mu^2, 0) * nrow(y) / (nrow(y) - 1)); sd[sd == 0] <- 1
  # map into the reference's scale: z = (y - mu_q)/sd_q, then back to reference units
  yr <- sweep(sweep(y, 2, mu), 2, sd, "/")
  yr <- sweep(sweep(yr, 2, pp$sd, "*"), 2, pp$mean, "+")
  if (pp$lognorm) { # re-express as counts-like so apply_preprocess replays: feed normalised values with lognorm off
    pp2 <- pp; pp2$lognorm <- FALSE
    fit$preprocess <- pp2
  }
  predict(fit, Matrix::t(Matrix::Matrix(yr, sparse = FALSE)), type = "latent")
}

results <- list()
add <- function(...) results[[length(results) + 1]] <<- data.frame(case = case, ...)

for (seed in seeds) {
  if (meta$kind == "genes") {
    folds <- rd("folds.tsv")
    truth_all <- lognorm(R)
    qn <- lognorm(Q)
    for (k in sort(unique(folds$fold))) {
      train <- folds$gene[folds$fold != k]; held <- folds$gene[folds$fold == k]
      t0 <- Sys.time()
      fit <- dpvae_fit(R[train, ], rxy, seed = seed, num.threads = 1, verbose = FALSE)
      lat_model <- predict(fit, Q[train, ], type = "latent")
      lat_own <- encode_own(fit, Q[train, ])
      co_model <- predict(fit, Q[train, ])
      lat_ref <- fit$fitted_latent
      truth <- as.matrix(truth_all[held, ])
      qh <- as.matrix(qn[held, ])
      score <- function(pred, label) { # pred: genes x locations
        pr <- sapply(seq_along(held), function(g) suppressWarnings(stats::cor(pred[g, ], truth[g, ])))
        sp <- sapply(seq_along(held), function(g) suppressWarnings(stats::cor(pred[g, ], truth[g, ], method = "spearman")))
        add(seed = seed, fold = k, method = label, pearson = stats::median(pr, na.rm = TRUE), spearman = stats::median(sp, na.rm = TRUE))
      }
      # location side: each location averages the k query cells nearest to it (coordinates or latent)
      loc_side <- function(qpos, rpos, kk = 10) { nn <- knn_rows(rpos, qpos, kk)$idx; sapply(seq_len(nrow(rpos)), function(j) rowMeans(qh[, nn[j, ], drop = FALSE])) }
      score(loc_side(co_model, rxy), "coords_model")
      # rescaled coords: query spread to reference spread
      co_resc <- scale(co_model) %*% diag(apply(rxy, 2, sd)) ; co_resc <- sweep(co_resc, 2, colMeans(rxy), "+")
      score(loc_side(co_resc, rxy), "coords_rescaled")
      score(loc_side(lat_model, lat_ref), "latent_loc10_model")
      score(loc_side(lat_own, lat_ref), "latent_loc10_own")
      score(loc_side(lat_own, lat_ref, 30), "latent_loc30_own")
      # cell side map: each cell spreads over its k nearest locations in latent, Gaussian kernel, then column means
      cell_map <- function(lq, kk = 10) {
        nn <- knn_rows(lq, lat_ref, kk); h2 <- stats::median(nn$d2[, 1]) + 1e-12
        w <- exp(-(nn$d2 - nn$d2[, 1]) / (2 * h2)); w <- w / rowSums(w)
        P <- sparseMatrix(i = rep(seq_len(nrow(lq)), kk), j = as.vector(nn$idx), x = as.vector(w), dims = c(nrow(lq), nrow(lat_ref)))
        cs <- colSums(P); pred <- as.matrix(qh %*% P) %*% Diagonal(x = ifelse(cs > 0, 1 / cs, 0))
        pred <- as.matrix(pred); pred[, cs == 0] <- NA
        # uncovered locations: the mean over the 10 nearest query cells in latent
        if (any(cs == 0)) pred[, cs == 0] <- loc_side(lq, lat_ref[cs == 0, , drop = FALSE])
        pred
      }
      score(cell_map(lat_model), "map10_model")
      score(cell_map(lat_own), "map10_own")
      score(cell_map(lat_own, 30), "map30_own")
      # balanced (optimal-transport) maps: uniform mass over cells and locations, entropic Sinkhorn
      sinkhorn <- function(C, eps, iters = 300) {
        K <- exp(-(C - min(C)) / eps); a <- rep(1 / nrow(C), nrow(C)); b <- rep(1 / ncol(C), ncol(C))
        v <- rep(1, ncol(C)); for (it in seq_len(iters)) { u <- a / pmax(K %*% v, 1e-300); v <- b / pmax(crossprod(K, u), 1e-300) }
        P <- K * outer(as.vector(u), as.vector(v)); P / rowSums(P)
      }
      proj <- function(P) { cs <- colSums(P); (qh %*% P) %*% diag(1 / pmax(cs, 1e-300)) }
      own_std <- function(X) { y <- as.matrix(t(lognorm(X)[train, ])); y <- scale(y); y[!is.finite(y)] <- 0; y }
      eq <- own_std(Q); er <- own_std(R)
      Cexpr <- 1 - stats::cor(t(eq), t(er))
      Clat <- sqrt(sqdist(lat_own, lat_ref)); Clat <- Clat / stats::median(Clat)
      # reference smoothed over its spatial neighbours (denoises spots before the comparison)
      nnr <- knn_rows(rxy, rxy, 7)$idx
      er_s <- t(sapply(seq_len(nrow(er)), function(j) colMeans(er[nnr[j, ], , drop = FALSE])))
      Cs <- 1 - stats::cor(t(eq), t(er_s))
      for (e in c(0.1, 0.2, 0.5)) score(proj(sinkhorn(Cs, e * stats::median(Cs))), paste0("ot_exprsmooth_eps", e))
      for (e in c(0.5)) score(proj(sinkhorn(Cexpr, e * stats::median(Cexpr))), paste0("ot_expr_eps", e))
      for (e in c(0.05, 0.1, 0.2)) {
        score(proj(sinkhorn(Cexpr, e * stats::median(Cexpr))), paste0("ot_expr_eps", e))
        score(proj(sinkhorn(Clat, e)), paste0("ot_lat_eps", e))
        score(proj(sinkhorn(0.5 * Clat + 0.5 * Cexpr / stats::median(Cexpr), e)), paste0("ot_mix_eps", e))
      }
      # expression kNN placement (PCA on the reference), coordinate readout
      cat(sprintf("%s seed %d fold %d done (%.0f s)\n", case, seed, k, as.numeric(Sys.time() - t0, units = "secs")))
    }
  }
  if (meta$kind == "cells") {
    qxy <- as.matrix(qobs[, cc]); rownames(qxy) <- qobs$cell
    fit <- dpvae_fit(R, rxy, seed = seed, num.threads = 1, verbose = FALSE)
    genes <- fit$preprocess$genes
    sc <- function(pos, label) add(seed = seed, fold = 0, method = label, pearson = procrustes_distance(qxy, pos), spearman = { set.seed(9); i <- sample.int(nrow(qxy), min(2000, nrow(qxy))); stats::cor(as.vector(dist(qxy[i, ])), as.vector(dist(pos[i, ]))) })
    sc(predict(fit, Q), "coords_model")
    lat_own <- encode_own(fit, Q)
    lat_ref <- fit$fitted_latent
    nn <- knn_rows(lat_own, lat_ref, 15)
    for (h in c(0.5, 1, 2)) {
      h2 <- (h * stats::median(sqrt(nn$d2[, 1])))^2
      w <- exp(-(nn$d2 - nn$d2[, 1]) / (2 * h2)); w <- w / rowSums(w)
      sc(sapply(seq_along(cc), function(j) rowSums(w * matrix(rxy[nn$idx, j], nrow(w)))), paste0("latmap_own_h", h))
    }
    own_std <- function(X) { y <- as.matrix(t(lognorm(X)[genes, ])); y <- scale(y); y[!is.finite(y)] <- 0; y }
    eq <- own_std(Q); er <- own_std(R)
    Cexpr <- 1 - stats::cor(t(eq), t(er))
    sinkhorn <- function(C, eps, iters = 300) {
      K <- exp(-(C - min(C)) / eps); a <- rep(1 / nrow(C), nrow(C)); b <- rep(1 / ncol(C), ncol(C))
      v <- rep(1, ncol(C)); for (it in seq_len(iters)) { u <- a / pmax(K %*% v, 1e-300); v <- b / pmax(crossprod(K, u), 1e-300) }
      P <- K * outer(as.vector(u), as.vector(v)); P / rowSums(P)
    }
    for (e in c(0.01, 0.02, 0.05, 0.1)) sc(sinkhorn(Cexpr, e * stats::median(Cexpr)) %*% rxy, paste0("ot_expr_eps", e))
    # nearest reference spots by expression correlation (kNN placement, 5 spots)
    nnx <- t(apply(Cexpr, 1, function(r) order(r)[1:5]))
    sc(sapply(seq_along(cc), function(j) rowMeans(matrix(rxy[nnx, j], nrow(nnx)))), "knn_corr5")
  }
}
res <- do.call(rbind, results)
agg <- aggregate(cbind(pearson, spearman) ~ method, data = res, FUN = mean)
print(agg[order(-agg$pearson), ], digits = 3)
utils::write.csv(res, file.path("bench/work", paste0("explore_", case, ".csv")), row.names = FALSE)
