# Shared by bench/accuracy.R and bench/transfer.R: the data loader, the expression-kNN baseline of
# ../shared/reference/knn_baseline.py in R, the distance correlation and the CSV writer. The sourcing script
# defines `root` (data folder) and `out` (CSV path).

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
