suppressPackageStartupMessages({library(dpvae, lib.loc = "/tmp/rlib-transfer"); library(Matrix)})
ld <- function(set) { d <- file.path("/work/shared/data", set); X <- as(readMM(file.path(d, "counts.mtx.gz")), "CsparseMatrix")
  con <- gzfile(file.path(d, "features.tsv.gz")); rownames(X) <- readLines(con); close(con)
  obs <- read.delim(file.path(d, "obs.tsv.gz")); colnames(X) <- obs$cell; xy <- as.matrix(obs[, c("x","y")]); rownames(xy) <- obs$cell; list(X = X, xy = xy) }
for (p in list(c("paste_breast_s1","paste_breast_s2"), c("paste_breast_s2","paste_breast_s1"))) {
  s <- ld(p[1]); t <- ld(p[2])
  fit <- dpvae_fit(s$X, s$xy, seed = 0, num.threads = 1, verbose = FALSE)
  cat(p[1], "->", p[2], ": model genes missing in target:", sum(!fit$preprocess$genes %in% rownames(t$X)), "of", length(fit$preprocess$genes), "\n")
  pr <- withCallingHandlers(predict(fit, t$X), warning = function(w) { cat("warning class:", class(w)[1], "-", conditionMessage(w), "\n"); invokeRestart("muffleWarning") })
  cat("zero-shot Procrustes (all genes of each set, seed 0):", procrustes_distance(t$xy, pr), "\n")
}
