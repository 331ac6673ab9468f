# scRNA-seq placement benchmark (issue 11): dpvae with package defaults and the expression-kNN placement on
# the cases written by bench/scrna_inputs.R; the Python peers' predictions (bench/scrna_peers.py) are read
# from the same folders and scored the same way.
#   y2_*: held-out genes. Per fold, map the query with the other genes; predict each held-out gene at every
#         reference location; Pearson / Spearman per gene against the measured (log-normalised) values.
#   y1_*: pseudo-spots -> single cells; Procrustes and distance correlation against the true positions.
# Usage: Rscript bench/scrna.R OUT.csv [CASES] [SEEDS]   (CASES comma-separated, default all; SEEDS 1)
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(trailingOnly = TRUE)
out_csv <- args[1]
work <- "bench/work/scrna"
cases <- if (length(args) >= 2 && nzchar(args[2])) strsplit(args[2], ",")[[1]] else list.files(work)
seeds <- if (length(args) >= 3) as.integer(strsplit(args[3], ",")[[1]]) else 1L

load_case <- function(case) {
  dir <- file.path(work, case)
  rd <- function(f) utils::read.delim(file.path(dir, f), check.names = FALSE)
  c1 <- list(dir = dir, meta = jsonlite::fromJSON(file.path(dir, "meta.json")))
  c1$R <- as(Matrix::readMM(file.path(dir, "ref.mtx")), "CsparseMatrix")
  c1$Q <- as(Matrix::readMM(file.path(dir, "query.mtx")), "CsparseMatrix")
  rownames(c1$R) <- readLines(file.path(dir, "ref_genes.txt")); rownames(c1$Q) <- readLines(file.path(dir, "query_genes.txt"))
  c1$robs <- rd("ref_obs.tsv"); c1$qobs <- rd("query_obs.tsv")
  colnames(c1$R) <- c1$robs$cell; colnames(c1$Q) <- c1$qobs$cell
  c1$cc <- intersect(c("x", "y", "z"), names(c1$robs))
  c1$rxy <- as.matrix(c1$robs[, c1$cc]); rownames(c1$rxy) <- c1$robs$cell
  if (all(c1$cc %in% names(c1$qobs))) { c1$qxy <- as.matrix(c1$qobs[, c1$cc]); rownames(c1$qxy) <- c1$qobs$cell }
  if (file.exists(file.path(dir, "folds.tsv"))) c1$folds <- rd("folds.tsv")
  c1
}

lognorm <- function(X, values) {
  if (values != "counts") return(X)
  X <- X %*% Diagonal(x = 1e4 / pmax(colSums(X), 1), names = FALSE); X@x <- log1p(X@x); X
}

# Expression-kNN placement (the baseline of ../shared/reference/knn_baseline.py): reference-standardised
# genes, 50 PCs of the reference, each query cell at the mean position of its 5 nearest reference cells.
knn_place <- function(R, Q, rxy, values, k = 5) {
  r <- as.matrix(t(lognorm(R, values))); q <- as.matrix(t(lognorm(Q, values)))
  mu <- colMeans(r); s <- apply(r, 2, stats::sd); s[s == 0] <- 1
  r <- sweep(sweep(r, 2, mu), 2, s, "/"); q <- sweep(sweep(q, 2, mu), 2, s, "/")
  pc <- stats::prcomp(r, center = TRUE, rank. = min(50, ncol(r) - 1, nrow(r) - 1))
  zr <- pc$x; zq <- scale(q, center = pc$center, scale = FALSE) %*% pc$rotation
  d2 <- outer(rowSums(zq^2), rowSums(zr^2), "+") - 2 * zq %*% t(zr)
  nn <- t(apply(d2, 1, function(v) order(v)[seq_len(k)]))
  sapply(seq_len(ncol(rxy)), function(j) rowMeans(matrix(rxy[nn, j], nrow(nn))))
}

# Coordinate readout of a placement: each location takes the mean of the 10 query cells placed nearest to it.
coord_readout <- function(qpos, rxy, expr, k = 10) {
  ok <- stats::complete.cases(qpos); qpos <- qpos[ok, , drop = FALSE]; expr <- expr[, ok, drop = FALSE]
  d2 <- outer(rowSums(rxy^2), rowSums(qpos^2), "+") - 2 * rxy %*% t(qpos)
  nn <- t(apply(d2, 1, function(v) order(v)[seq_len(k)]))
  sapply(seq_len(nrow(rxy)), function(j) Matrix::rowMeans(expr[, nn[j, ], drop = FALSE]))
}

gene_scores <- function(pred, truth) {
  genes <- intersect(rownames(truth), rownames(pred))
  data.frame(gene = genes,
             pearson = vapply(genes, function(g) suppressWarnings(stats::cor(pred[g, ], truth[g, ], use = "complete.obs")), 1),
             spearman = vapply(genes, function(g) suppressWarnings(stats::cor(pred[g, ], truth[g, ], method = "spearman", use = "complete.obs")), 1))
}

read_peer_genes <- function(dir, method, fold, cells) {
  f <- file.path(peer_dir(dir), sprintf("pred_%s_fold%d.tsv.gz", method, fold))
  if (!file.exists(f)) return(NULL)
  p <- utils::read.delim(f, check.names = FALSE)
  m <- t(as.matrix(p[match(cells, p$cell), -1, drop = FALSE])); colnames(m) <- cells
  m
}

# the peers' outputs: committed copies in bench/out/scrna/peers/<case>, else the case folder
peer_dir <- function(dir) {
  kept <- file.path("bench/out/scrna/peers", basename(dir))
  if (dir.exists(kept)) kept else dir
}

peer_seconds <- function(dir, method) {
  f <- file.path(peer_dir(dir), "timings.tsv")
  if (!file.exists(f)) return(NA_real_)
  t <- utils::read.delim(f)
  sum(t$seconds[t$method == method])
}

rows <- list()
emit <- function(...) {
  row <- data.frame(...)
  rows[[length(rows) + 1L]] <<- row
  print(row, digits = 3, row.names = FALSE)
}

for (case in cases) {
  cs <- load_case(case)
  values <- cs$meta$values
  for (seed in seeds) {
    if (cs$meta$kind == "genes") {
      truth_all <- as.matrix(lognorm(cs$R, values))
      qn <- lognorm(cs$Q, values)
      per_method <- list()
      secs <- c(dpvae = 0, knn = 0)
      for (k in sort(unique(cs$folds$fold))) {
        train <- cs$folds$gene[cs$folds$fold != k]; held <- cs$folds$gene[cs$folds$fold == k]
        truth <- truth_all[held, , drop = FALSE]
        t0 <- proc.time()[["elapsed"]]
        res <- dpvae_reconstruct(cs$Q[train, ], reference = list(counts = cs$R[train, ], coords = cs$rxy),
                                 seed = seed, num.threads = 1, verbose = FALSE)
        map <- attr(res, "dpvae_map")
        pred_map <- project_genes(map, qn[held, , drop = FALSE])
        secs[["dpvae"]] <- secs[["dpvae"]] + proc.time()[["elapsed"]] - t0
        enc <- as.matrix(predict(attr(res, "dpvae_model"), cs$Q[train, ]))
        t0 <- proc.time()[["elapsed"]]
        kp <- knn_place(cs$R[train, ], cs$Q[train, ], cs$rxy, values)
        pred_knn <- coord_readout(kp, cs$rxy, qn[held, , drop = FALSE])
        secs[["knn"]] <- secs[["knn"]] + proc.time()[["elapsed"]] - t0
        add <- function(m, p) per_method[[m]] <<- rbind(per_method[[m]], cbind(fold = k, gene_scores(p, truth)))
        add("dpvae (map)", pred_map)
        add("dpvae (map coords, k=10)", coord_readout(res[, paste0("dpvae_", c("x", "y", "z")[seq_along(cs$cc)])], cs$rxy, qn[held, , drop = FALSE]))
        add("dpvae (encoder coords, k=10)", coord_readout(enc, cs$rxy, qn[held, , drop = FALSE]))
        add("kNN placement (k=10)", pred_knn)
        for (peer in c("tangram", "novosparc")) {
          p <- read_peer_genes(cs$dir, peer, k, colnames(cs$R))
          if (!is.null(p)) add(peer, p)
        }
      }
      for (m in names(per_method)) {
        s <- per_method[[m]]
        emit(case = case, seed = seed, method = m, n_genes = sum(is.finite(s$pearson)),
             median_pearson = stats::median(s$pearson, na.rm = TRUE), median_spearman = stats::median(s$spearman, na.rm = TRUE),
             procrustes = NA, dist_cor = NA,
             seconds = switch(m, "dpvae (map)" = secs[["dpvae"]], "kNN placement (k=10)" = secs[["knn"]],
                              tangram = peer_seconds(cs$dir, "tangram"), novosparc = peer_seconds(cs$dir, "novosparc"), NA))
      }
    } else {
      t0 <- proc.time()[["elapsed"]]
      res <- dpvae_reconstruct(cs$Q, reference = list(counts = cs$R, coords = cs$rxy), seed = seed, num.threads = 1,
                               verbose = FALSE)
      sec <- proc.time()[["elapsed"]] - t0
      pos <- as.matrix(res[, paste0("dpvae_", c("x", "y", "z")[seq_along(cs$cc)])])
      enc <- as.matrix(predict(attr(res, "dpvae_model"), cs$Q))
      t0 <- proc.time()[["elapsed"]]
      kp <- knn_place(cs$R, cs$Q, cs$rxy, values)
      sec_knn <- proc.time()[["elapsed"]] - t0
      set.seed(9)
      sub <- sample.int(nrow(cs$qxy), min(3000, nrow(cs$qxy)))
      sc <- function(m, p, s) {
        ok <- stats::complete.cases(p)
        emit(case = case, seed = seed, method = m, n_genes = nrow(cs$Q), median_pearson = NA, median_spearman = NA,
             procrustes = procrustes_distance(cs$qxy[ok, , drop = FALSE], p[ok, , drop = FALSE]),
             dist_cor = stats::cor(as.vector(dist(cs$qxy[sub, ])), as.vector(dist(p[sub, ]))), seconds = s)
      }
      sc("dpvae (map)", pos, sec)
      sc("dpvae (encoder coords)", enc, NA)
      sc("kNN placement", kp, sec_knn)
      for (peer in c("tangram", "novosparc")) {
        f <- file.path(peer_dir(cs$dir), sprintf("pred_%s_coords.tsv.gz", peer))
        if (!file.exists(f)) next
        p <- utils::read.delim(f, check.names = FALSE)
        sc(peer, as.matrix(p[match(rownames(cs$qxy), p$cell), cs$cc]), peer_seconds(cs$dir, peer))
      }
    }
  }
}
res <- do.call(rbind, rows)
dir.create(dirname(out_csv), recursive = TRUE, showWarnings = FALSE)
utils::write.csv(res, out_csv, row.names = FALSE)
