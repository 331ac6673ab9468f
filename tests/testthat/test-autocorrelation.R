# Moran's I / Geary's C: hand-computed cases, exactness against spdep on the bundled data,
# sparse == dense, permutations, user weights, objects, bad input.

lognorm <- function(counts) {
  lib <- Matrix::colSums(counts)
  l <- counts %*% Matrix::Diagonal(x = 1e4 / lib)
  l@x <- log1p(l@x)
  dimnames(l) <- dimnames(counts)
  l
}
mob_norm <- lognorm(mob$counts)
top_genes <- local({
  v <- apply(as.matrix(mob_norm), 1, stats::var)
  sort(order(-v)[1:8])
})
mob_top <- as.matrix(mob_norm[top_genes, ])

test_that("hand-computed line and checkerboard cases", {
  # 4 cells on a line, symmetric neighbours: I = 1/3, C = 0.3, E[I] = -1/3,
  # normality variances 140/540 - 1/9 (Moran) and 48/360 (Geary)
  w <- matrix(0, 4, 4)
  w[cbind(1:3, 2:4)] <- 1
  w <- w + t(w)
  x <- rbind(g = c(1, 2, 3, 4))
  r <- spatial_autocorrelation(x, weights = w, randomisation = FALSE, num.threads = 1)
  expect_equal(r$moran_statistic, 1 / 3, tolerance = 1e-14)
  expect_equal(r$geary_statistic, 0.3, tolerance = 1e-14)
  expect_equal(r$moran_expected, -1 / 3, tolerance = 1e-14)
  expect_equal(r$geary_expected, 1)
  expect_equal(r$moran_variance, 140 / 540 - 1 / 9, tolerance = 1e-14)
  expect_equal(r$geary_variance, 48 / 360, tolerance = 1e-14)
  expect_equal(r$moran_z, (1 / 3 + 1 / 3) / sqrt(140 / 540 - 1 / 9), tolerance = 1e-14)
  expect_equal(r$moran_p_value, stats::pnorm(r$moran_z, lower.tail = FALSE), tolerance = 1e-12)
  # 3 x 3 rook grid, checkerboard: every neighbour pair differs -> I = -1, C = 1.8
  grid <- expand.grid(c = 1:3, r = 1:3)
  w9 <- as.matrix(stats::dist(grid)) == 1
  x9 <- rbind(g = (grid$c + grid$r) %% 2)
  expect_equal(morans_i(x9, weights = w9, num.threads = 1)$statistic, -1, tolerance = 1e-13)
  expect_equal(gearys_c(x9, weights = w9, num.threads = 1)$statistic, 1.8, tolerance = 1e-13)
  # on the grid, k = 4 nearest neighbours with ties broken by index; a gradient is autocorrelated
  g <- morans_i(rbind(a = grid$c + 0.1 * grid$r), as.matrix(grid), k = 2, num.threads = 1)
  expect_gt(g$statistic, 0)
  expect_lt(g$p_value, 0.05)
})

test_that("Moran's I and Geary's C equal spdep's moran.test / geary.test on the bundled data", {
  skip_if_not_installed("spdep")
  nb <- spdep::knn2nb(spdep::knearneigh(mob$coords, k = 5))
  # the kNN sets are spdep's (ties on the array grid broken the same way)
  nn <- dpvae:::knn_impl(mob$coords, 5L, 1L)
  expect_true(all(vapply(seq_along(nb), function(i) setequal(nb[[i]], nn[i, ]), logical(1))))
  sparse_top <- methods::as(mob_top, "CsparseMatrix")
  for (style in c("B", "W")) {
    lw <- spdep::nb2listw(nb, style = style)
    for (rnd in c(TRUE, FALSE)) {
      m <- morans_i(mob_top, mob$coords, k = 5, style = style, randomisation = rnd, num.threads = 1)
      g <- gearys_c(sparse_top, mob$coords, k = 5, style = style, randomisation = rnd, num.threads = 1)
      both <- spatial_autocorrelation(mob_top, weights = lw, randomisation = rnd, num.threads = 1)
      ref <- t(vapply(seq_len(nrow(mob_top)), function(i) {
        mt <- spdep::moran.test(mob_top[i, ], lw, randomisation = rnd)
        gt <- spdep::geary.test(mob_top[i, ], lw, randomisation = rnd)
        c(mt$estimate, mt$statistic, mt$p.value, gt$estimate, gt$statistic, gt$p.value)
      }, numeric(10)))
      ours <- cbind(m$statistic, m$expected, m$variance, m$z, m$p_value,
                    g$statistic, g$expected, g$variance, g$z, g$p_value)
      ours_lw <- as.matrix(both[, c("moran_statistic", "moran_expected", "moran_variance", "moran_z",
                                    "moran_p_value", "geary_statistic", "geary_expected",
                                    "geary_variance", "geary_z", "geary_p_value")])
      for (j in 1:10) {
        expect_equal(ours[, j], ref[, j], tolerance = 1e-6, label = paste(style, rnd, j))
        expect_equal(ours_lw[, j], ref[, j], tolerance = 1e-6, ignore_attr = TRUE, label = paste(style, rnd, j))
      }
      # exact per gene too (not only on average): worst relative difference
      expect_lt(max(abs(ours - ref) / abs(ref)), 1e-9)
    }
  }
  lw <- spdep::nb2listw(nb, style = "B")
  for (alt in c("less", "two.sided")) {
    m <- morans_i(mob_top[1:3, ], mob$coords, alternative = alt, num.threads = 1)
    g <- gearys_c(mob_top[1:3, ], mob$coords, alternative = alt, num.threads = 1)
    expect_equal(m$p_value, vapply(1:3, function(i) spdep::moran.test(mob_top[i, ], lw, alternative = alt)$p.value, 1),
                 tolerance = 1e-6)
    expect_equal(g$p_value, vapply(1:3, function(i) spdep::geary.test(mob_top[i, ], lw, alternative = alt)$p.value, 1),
                 tolerance = 1e-6)
  }
})

test_that("3-D coordinates: kNN equals brute force (ties by lower index)", {
  set.seed(3)
  co <- cbind(sample(0:4, 60, TRUE), sample(0:4, 60, TRUE), sample(0:2, 60, TRUE)) * 1.0
  nn <- dpvae:::knn_impl(co, 6L, 1L)
  d <- as.matrix(stats::dist(co))
  brute <- t(vapply(1:60, function(i) setdiff(order(d[i, ], seq_len(60)), i)[1:6], integer(6)))
  expect_identical(nn, brute)
  x <- rbind(a = co[, 3] + stats::rnorm(60, sd = 0.1), b = stats::rnorm(60))
  w <- matrix(0, 60, 60)
  w[cbind(rep(1:60, 6), as.vector(brute))] <- 1
  expect_equal(morans_i(x, co, k = 6, num.threads = 1), morans_i(x, weights = w, num.threads = 1),
               ignore_attr = TRUE)
})

test_that("sparse equals dense; constant genes are NA, flagged, and left out of the adjustment", {
  x <- mob_norm[1:60, ]
  x[5, ] <- 0                                   # never detected
  xd <- as.matrix(x)
  xd[7, ] <- 2.5                                # constant, non-zero
  xs <- methods::as(xd, "CsparseMatrix")
  a <- spatial_autocorrelation(xd, mob$coords, num.threads = 1)
  b <- spatial_autocorrelation(xs, mob$coords, num.threads = 1)
  expect_equal(a, b, tolerance = 1e-12)
  expect_identical(a$gene, rownames(x))
  expect_identical(which(a$constant), c(5L, 7L))
  expect_true(all(is.na(a[c(5, 7), setdiff(names(a), c("gene", "constant"))])))
  expect_false(anyNA(a[-c(5, 7), ]))
  expect_equal(a$moran_p_adj, stats::p.adjust(a$moran_p_value, "BH"))
  expect_equal(a$moran_p_adj[-c(5, 7)], stats::p.adjust(a$moran_p_value[-c(5, 7)], "BH"))
  # the one-statistic verbs are the same numbers; features select genes
  m <- morans_i(xs, mob$coords, features = rownames(x)[10:12], num.threads = 1)
  expect_equal(m$statistic, a$moran_statistic[10:12], tolerance = 1e-12)
  expect_equal(gearys_c(xd, mob$coords, features = 8, num.threads = 1)$statistic, a$geary_statistic[8])
  # integer matrices and row-less names work
  xi <- as.matrix(mob$counts[1:3, ])
  storage.mode(xi) <- "integer"
  expect_equal(morans_i(unname(xi), mob$coords, num.threads = 1)$statistic,
               morans_i(as.matrix(mob$counts[1:3, ]), mob$coords, num.threads = 1)$statistic)
})

test_that("permutation p-values are deterministic with a seed, follow set.seed, and ignore thread count", {
  x <- mob_top[1:4, ]
  a <- morans_i(x, mob$coords, n_perm = 49, seed = 7, num.threads = 1)
  b <- morans_i(x, mob$coords, n_perm = 49, seed = 7, num.threads = 2)
  expect_identical(a, b)
  expect_true(all(a$p_perm > 0 & a$p_perm <= 1))
  expect_equal(a$p_perm, rep(1 / 50, 4))       # strongly patterned genes
  expect_equal(a$p_perm_adj, stats::p.adjust(a$p_perm, "BH"))
  expect_equal(attr(a, "parameters")$seed, 7)
  set.seed(1)
  c1 <- gearys_c(mob_norm[100:110, ], mob$coords, n_perm = 29, num.threads = 1)
  set.seed(1)
  c2 <- gearys_c(mob_norm[100:110, ], mob$coords, n_perm = 29, num.threads = 1)
  expect_identical(c1, c2)
  c3 <- gearys_c(mob_norm[100:110, ], mob$coords, n_perm = 29, seed = attr(c1, "parameters")$seed + 1,
                 num.threads = 1)
  expect_false(identical(c1$p_perm, c3$p_perm))
  # a gene's permutation p-value does not depend on the other genes in the call
  one <- gearys_c(mob_norm[105, , drop = FALSE], mob$coords, n_perm = 29,
                  seed = attr(c1, "parameters")$seed, num.threads = 1)
  expect_identical(one$p_perm, c1$p_perm[6])
  # no RNG draw without permutations
  set.seed(2)
  r1 <- stats::runif(1)
  set.seed(2)
  morans_i(x, mob$coords, num.threads = 1)
  expect_identical(stats::runif(1), r1)
})

test_that("user weights: dense, sparse, symmetric Matrix, listw and nb agree; style applies", {
  co <- mob$coords
  nn <- dpvae:::knn_impl(co, 4L, 1L)
  n <- nrow(co)
  w <- Matrix::sparseMatrix(i = rep(seq_len(n), 4), j = as.vector(nn), x = 1, dims = c(n, n))
  x <- mob_top[1:3, ]
  ref <- spatial_autocorrelation(x, co, k = 4, num.threads = 1)
  for (ww in list(w, as.matrix(w), as.matrix(w) > 0)) {
    expect_equal(spatial_autocorrelation(x, weights = ww, num.threads = 1), ref, ignore_attr = TRUE)
  }
  refw <- spatial_autocorrelation(x, co, k = 4, style = "W", num.threads = 1)
  expect_equal(spatial_autocorrelation(x, weights = 3 * w, style = "W", num.threads = 1), refw,
               ignore_attr = TRUE, tolerance = 1e-12)
  expect_equal(spatial_autocorrelation(x, weights = 3 * w, style = "B", num.threads = 1), ref,
               ignore_attr = TRUE)
  # weights used as given when style is not set: scaling W leaves I and C unchanged
  expect_equal(morans_i(x, weights = 3 * w, num.threads = 1)$statistic, ref$moran_statistic)
  # a symmetric matrix class (both triangles are used)
  ws <- Matrix::forceSymmetric(w + Matrix::t(w) > 0)
  expect_equal(morans_i(x, weights = ws, num.threads = 1)$statistic,
               morans_i(x, weights = as.matrix(ws) * 1, num.threads = 1)$statistic)
  skip_if_not_installed("spdep")
  nb <- spdep::knn2nb(spdep::knearneigh(co, k = 4))
  expect_equal(spatial_autocorrelation(x, weights = nb, num.threads = 1), ref, ignore_attr = TRUE)
  # a cell without neighbours (spdep: zero.policy) changes n as spdep's adjust.n
  nb2 <- nb
  nb2[[1]] <- 0L
  lw2 <- spdep::nb2listw(nb2, style = "B", zero.policy = TRUE)
  m2 <- morans_i(x[1, , drop = FALSE], weights = lw2, num.threads = 1)
  mt <- spdep::moran.test(x[1, ], lw2, zero.policy = TRUE)
  expect_equal(c(m2$statistic, m2$expected, m2$variance), unname(mt$estimate), tolerance = 1e-10)
})

test_that("bad input gives classed errors", {
  x <- mob_top[1:2, ]
  co <- mob$coords
  bad <- co
  bad[3, ] <- NA
  expect_error(morans_i(x, bad, num.threads = 1), "NA", class = "dpvae_error_input")
  expect_error(morans_i(x, co, k = nrow(co), num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co, k = 0, num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co[-1, ], num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, cbind(co, 1, 2), num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co, style = "S", num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co, n_perm = -1, num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co, num.threads = 0), class = "dpvae_error_input")
  expect_error(morans_i(x, co, p.adjust.method = "nope", num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co, features = "nope", num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co, alternative = "nope"), "alternative", class = "dpvae_error_input")
  expect_error(morans_i("a", co), class = "dpvae_error_input")
  expect_error(morans_i(x, weights = diag(3), num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, co, weights = diag(ncol(x)), num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, weights = matrix(0, ncol(x), ncol(x)), num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x, weights = "w", num.threads = 1), class = "dpvae_error_input")
  xn <- x
  xn[1, 5] <- NA
  expect_error(morans_i(xn, co, num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(methods::as(xn, "CsparseMatrix"), co, num.threads = 1), class = "dpvae_error_input")
  expect_error(morans_i(x[, 1:3], co[1:3, ], k = 1, num.threads = 1), "at least 4", class = "dpvae_error_input")
  # all genes constant: NA rows, not an error
  r <- gearys_c(matrix(1, 2, nrow(co)), co, num.threads = 1)
  expect_true(all(r$constant) && all(is.na(r$statistic)) && all(is.na(r$p_adj)))
})

make_seurat_metrics <- function() {
  obj <- suppressWarnings(SeuratObject::CreateSeuratObject(counts = mob$counts))
  obj$x <- mob$coords[, 1]
  obj$y <- mob$coords[, 2]
  obj
}

test_that("Seurat (v4 and v5): results go to the assay's feature metadata", {
  skip_if_not_installed("SeuratObject")
  obj <- make_seurat_metrics()
  genes <- rownames(obj)[1:12]
  out <- morans_i(obj, features = genes, num.threads = 1)
  expect_s4_class(out, "Seurat")
  mf <- out[["RNA"]][[]]
  expect_identical(rownames(mf), rownames(obj))
  ref <- morans_i(mob$counts[genes, ], mob$coords, num.threads = 1)
  expect_equal(mf[genes, "moran_i_statistic"], ref$statistic)
  expect_equal(mf[genes, "moran_i_p_adj"], ref$p_adj)
  expect_true(all(is.na(mf[-(1:12), "moran_i_statistic"])))
  # both statistics, measured coordinates named explicitly, a custom layer and prefix
  out <- spatial_autocorrelation(out, coords = c("x", "y"), features = genes, name = c("mi", "gc"),
                                 layer = "counts", num.threads = 1)
  mf <- out[["RNA"]][[]]
  expect_true(all(c("moran_i_statistic", "mi_statistic", "gc_statistic", "gc_p_value") %in% names(mf)))
  expect_equal(mf[genes, "mi_statistic"], ref$statistic)
  # reconstructed coordinates: the "dpvae" reduction
  emb <- mob$coords[, 2:1] * 3
  colnames(emb) <- c("dpvae_1", "dpvae_2")
  out[["dpvae"]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = "dpvae_", assay = "RNA")
  out <- gearys_c(out, coords = "dpvae", features = genes, num.threads = 1)
  expect_equal(out[["RNA"]][[]][genes, "geary_c_statistic"],
               gearys_c(mob$counts[genes, ], emb, num.threads = 1)$statistic)
  # distortion and correlation read reductions and measured coordinates
  lat <- cbind(emb, 0)
  colnames(lat) <- paste0("dpvaelatent_", 1:3)
  out[["dpvae_latent"]] <- SeuratObject::CreateDimReducObject(embeddings = lat, key = "dpvaelatent_", assay = "RNA")
  expect_equal(distortion(out, num.threads = 1)$distortion, 1, tolerance = 1e-10)
  expect_lt(procrustes_distance(out), 1e-12)     # "dpvae" is a similarity transform of x/y
  yperm <- mob$coords[c(2:nrow(mob$coords), 1), ]
  rownames(yperm) <- colnames(out)
  expect_equal(procrustes_distance(out, y = yperm), procrustes_distance(yperm, emb), tolerance = 1e-12)
  expect_error(procrustes_distance(out, reduction = "dpvae_latent"), class = "dpvae_error_input")
  expect_equal(spatial_expression_correlation(out, features = genes, num.threads = 1)$pearson,
               spatial_expression_correlation(mob$counts[genes, ], mob$coords, num.threads = 1)$pearson)
  expect_error(distortion(out, reduction = "nope"), class = "dpvae_error_input")
  expect_error(morans_i(out, coords = c("x", "nope"), num.threads = 1), class = "dpvae_error_input")
})

test_that("SingleCellExperiment and SpatialExperiment: results go to rowData", {
  skip_if_not_installed("SingleCellExperiment")
  genes <- rownames(mob$counts)[1:10]
  ref <- morans_i(log1p(mob$counts[genes, ]), mob$coords, num.threads = 1)
  sce <- SingleCellExperiment::SingleCellExperiment(
    assays = list(counts = mob$counts, logcounts = log1p(mob$counts)))
  SummarizedExperiment::colData(sce)$x <- mob$coords[, 1]
  SummarizedExperiment::colData(sce)$y <- mob$coords[, 2]
  out <- morans_i(sce, features = genes, num.threads = 1)
  rd <- SummarizedExperiment::rowData(out)
  expect_equal(rd[genes, "moran_i_statistic"], ref$statistic)
  expect_true(all(is.na(rd$moran_i_statistic[-(1:10)])))
  SingleCellExperiment::reducedDim(out, "dpvae") <- mob$coords * 2
  out <- morans_i(out, coords = "dpvae", features = genes, assay.type = "counts", name = "rec",
                  num.threads = 1)
  expect_lt(procrustes_distance(out), 1e-12)
  expect_equal(SummarizedExperiment::rowData(out)[genes, "rec_statistic"],
               morans_i(mob$counts[genes, ], mob$coords, num.threads = 1)$statistic)
  expect_error(morans_i(sce, assay.type = "nope", num.threads = 1), class = "dpvae_error_input")
  skip_if_not_installed("SpatialExperiment")
  spe <- SpatialExperiment::SpatialExperiment(assays = list(counts = mob$counts), spatialCoords = mob$coords)
  spe <- gearys_c(spe, features = genes, num.threads = 1)
  expect_s4_class(spe, "SpatialExperiment")
  expect_equal(SummarizedExperiment::rowData(spe)[genes, "geary_c_statistic"],
               gearys_c(mob$counts[genes, ], mob$coords, num.threads = 1)$statistic)
})
