# Inputs of the scRNA-seq placement benchmark (issue 11), one folder per case under OUT (default
# bench/work/scrna), read by bench/scrna.R (dpvae, kNN) and bench/scrna_peers.py (Tangram, novoSpaRc).
#   y2_<pair>: real scRNA-seq query + spatial reference, shared genes in 5 seeded folds (held-out genes).
#   y1_<set>_{plain,thin}: a single-cell-resolution section binned into Visium-like pseudo-spots (the
#     reference) and its single cells (the query, true positions in query_obs.tsv); "thin" binomially
#     thins the query's counts (overall capture 30 %, gene rates log-normal) to mimic scRNA-seq.
# Usage: Rscript bench/scrna_inputs.R [OUT] [DATA]
args <- commandArgs(trailingOnly = TRUE)
out_root <- if (length(args) >= 1) args[1] else "bench/work/scrna"
root <- if (length(args) >= 2) args[2] else "../shared/data"
`%||%` <- function(a, b) if (is.null(a)) b else a

read_set <- function(name) {
  d <- file.path(root, name)
  X <- methods::as(Matrix::readMM(file.path(d, "counts.mtx.gz")), "CsparseMatrix")
  con <- gzfile(file.path(d, "features.tsv.gz")); rownames(X) <- readLines(con); close(con)
  obs <- utils::read.delim(file.path(d, "obs.tsv.gz"), check.names = FALSE)
  colnames(X) <- obs$cell
  list(X = X, obs = obs)
}

write_case <- function(case, kind, values, ref, ref_obs, query, query_obs, folds = NULL) {
  d <- file.path(out_root, case)
  dir.create(d, recursive = TRUE, showWarnings = FALSE)
  Matrix::writeMM(methods::as(ref, "CsparseMatrix"), file.path(d, "ref.mtx"))
  Matrix::writeMM(methods::as(query, "CsparseMatrix"), file.path(d, "query.mtx"))
  writeLines(rownames(ref), file.path(d, "ref_genes.txt"))
  writeLines(rownames(query), file.path(d, "query_genes.txt"))
  utils::write.table(ref_obs, file.path(d, "ref_obs.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
  utils::write.table(query_obs, file.path(d, "query_obs.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
  if (!is.null(folds)) utils::write.table(folds, file.path(d, "folds.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
  writeLines(jsonlite::toJSON(list(case = case, kind = kind, values = values, n_folds = 5L), auto_unbox = TRUE),
             file.path(d, "meta.json"))
  cat(sprintf("%-22s ref %d x %d, query %d x %d\n", case, nrow(ref), ncol(ref), nrow(query), ncol(query)))
}

# --- yardstick 2: held-out genes -------------------------------------------------------------------
pairs <- list(hippo = c("spacexr_visium_hippo", "spacexr_hippo_scrna_ref"),
              drosophila = c("bdtnp_drosophila", "dream_drosophila_scrna"),
              lymph = c("spacexr_visium_lymph", "spacexr_lymph_scrna_ref"))
for (nm in names(pairs)) {
  r <- read_set(pairs[[nm]][1]); q <- read_set(pairs[[nm]][2])
  shared <- sort(intersect(rownames(r$X), rownames(q$X)))
  # genes measured in both, and varying in both (a constant gene has no Pearson)
  vary <- function(X) apply(as.matrix(X[shared, , drop = FALSE]), 1, stats::var) > 0
  shared <- shared[vary(r$X) & vary(q$X)]
  set.seed(1)
  folds <- data.frame(gene = shared, fold = sample(rep_len(1:5, length(shared))))
  values <- if (all(r$X@x == round(r$X@x))) "counts" else "normalized"
  ref_obs <- r$obs[, intersect(c("cell", "x", "y", "z"), names(r$obs))]
  query_obs <- q$obs[, intersect(c("cell", "cell_type"), names(q$obs)), drop = FALSE]
  # counts: library sizes over all genes of each data set, so keep every gene; folds name the shared ones
  write_case(paste0("y2_", nm), "genes", values, r$X[shared, ], ref_obs, q$X[shared, ], query_obs, folds)
}

# --- yardstick 1: pseudo-spots -> single cells -------------------------------------------------------
# Disks of diameter 0.55 * spacing on a square (2-D) or cubic (3-D) grid, as Visium's 55 um spots on a
# 100 um grid; spacing 100 for micrometres, otherwise chosen so a disk holds ~7 cells on average.
pseudo_spots <- function(xy, spacing) {
  lo <- apply(xy, 2, min); hi <- apply(xy, 2, max)
  axes <- lapply(seq_len(ncol(xy)), function(j) seq(lo[j], hi[j] + spacing, by = spacing))
  centres <- as.matrix(expand.grid(axes))
  r2 <- (0.55 * spacing / 2)^2
  members <- lapply(seq_len(nrow(centres)), function(s) which(colSums((t(xy) - centres[s, ])^2) <= r2))
  list(centres = centres, cell = unlist(members), spot = rep(seq_along(members), lengths(members)))
}

spacing_for <- function(xy, target = 7) {
  # cells per disk = density * disk volume; density from the bounding box (conservative for ragged sections)
  vol <- prod(apply(xy, 2, function(v) diff(stats::quantile(v, c(0.02, 0.98)))))
  dens <- nrow(xy) / vol
  k <- ncol(xy)
  unit <- if (k == 2) pi * (0.55 / 2)^2 else 4 / 3 * pi * (0.55 / 2)^3
  (target / (dens * unit))^(1 / k)
}

thin_counts <- function(X, seed, overall = 0.3) {
  set.seed(seed)
  rate <- pmin(overall * stats::rlnorm(nrow(X), meanlog = -0.5, sdlog = 1), 1) # mean rate = overall
  Xt <- methods::as(X, "TsparseMatrix")
  Xt@x <- as.numeric(stats::rbinom(length(Xt@x), size = round(Xt@x), prob = rate[Xt@i + 1L]))
  X <- methods::as(Xt, "CsparseMatrix")
  keep <- Matrix::colSums(X) > 0 # a cell thinned to nothing is not a cell a user would have
  list(X = X, keep = keep)
}

sets <- list(merfish = list(name = "merfish_hypothalamus_s1", spacing = 100),
             osmfish = list(name = "osmfish_sscortex", spacing = NULL),
             starmap = list(name = "starmap_3d", spacing = NULL, max_query = 8000))
for (nm in names(sets)) {
  s <- read_set(sets[[nm]]$name)
  cc <- intersect(c("x", "y", "z"), names(s$obs))
  xy <- as.matrix(s$obs[, cc]); rownames(xy) <- s$obs$cell
  X <- s$X
  values <- "counts"
  if (!all(X@x == round(X@x))) {
    # MERFISH logcounts: back to (normalised) counts, rounded, so spots are sums of molecules
    X@x <- round(expm1(X@x * log(2)))
    X <- Matrix::drop0(X)
  }
  spacing <- sets[[nm]]$spacing %||% spacing_for(xy)
  ps <- pseudo_spots(xy, spacing)
  A <- Matrix::sparseMatrix(i = ps$cell, j = ps$spot, x = 1, dims = c(nrow(xy), nrow(ps$centres)))
  used <- which(Matrix::colSums(A) > 0)
  A <- A[, used, drop = FALSE]
  ref <- X %*% A
  colnames(ref) <- paste0("spot_", used)
  keep_spot <- Matrix::colSums(ref) > 0
  ref <- ref[, keep_spot]
  centres <- ps$centres[used[keep_spot], , drop = FALSE]
  ref_obs <- data.frame(cell = colnames(ref), centres); names(ref_obs) <- c("cell", cc)
  per_spot <- Matrix::colSums(A[, keep_spot])
  cat(sprintf("%s: spacing %.3g, %d spots, cells per spot median %g (IQR %g-%g), %d of %d cells inside a spot\n",
              nm, spacing, ncol(ref), stats::median(per_spot), stats::quantile(per_spot, 0.25),
              stats::quantile(per_spot, 0.75), length(unique(ps$cell)), nrow(xy)))
  set.seed(1)
  qi <- seq_len(ncol(X))
  if (!is.null(sets[[nm]]$max_query) && length(qi) > sets[[nm]]$max_query) qi <- sort(sample(qi, sets[[nm]]$max_query))
  for (variant in c("plain", "thin")) {
    Q <- X[, qi]
    if (variant == "thin") {
      th <- thin_counts(Q, seed = 2)
      Q <- th$X[, th$keep]
    }
    qobs <- data.frame(cell = colnames(Q), xy[colnames(Q), , drop = FALSE], check.names = FALSE)
    if ("cell_type" %in% names(s$obs)) qobs$cell_type <- s$obs$cell_type[match(colnames(Q), s$obs$cell)]
    write_case(sprintf("y1_%s_%s", nm, variant), "cells", values, ref, ref_obs, Q, qobs)
  }
}
