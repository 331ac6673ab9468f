#!/usr/bin/env Rscript
# Fig. 10 + Fig. 11 of Zhou & Du (arXiv 2408.00911): the 4 x 4 train -> test transfer matrix over the four
# mouse-brain sections stutility_hippo_s1-s4, zero-shot and after dpvae_finetune() on 10 % of the target,
# and per-spot error maps for one source row.
#
# usage: Rscript bench/paper/fig10_transfer.R OUT.tsv SEEDS GENES [SPOTS.tsv]
#   SEEDS  comma-separated; the source fit seed, the fine-tune seed and the seed of the target's 10 % split
#   GENES  "default" = package defaults (2000 HVGs of the source; the four sections share all 10000 genes) or
#          "hvg100" = the genes in the top-100 HVGs of all four sections (as bench/paper/table2_hvg_overlap.R
#          selects them: 49 genes), every one of them used (n_genes = their number)
#   SPOTS.tsv  optional: per-spot errors of the row with source stutility_hippo_s1 (first seed): target, spot,
#          measured x/y, error = distance between the standardised measured and the Procrustes-aligned
#          predicted position (procrustes_distance(aligned = TRUE); its mean square is the disparity),
#          for zero-shot (all spots) and fine-tuned (the 90 % not used for fine-tuning)
# Per (seed, source) one dpvae_fit() on all spots of the source (under_tissue == 1), package defaults,
# num.threads = DPVAE_THREADS (default 1); per target section: predict() on every target spot ("zeroshot",
# cells "all") and on the 90 % not drawn for fine-tuning ("zeroshot", "rest90"); dpvae_finetune() (defaults:
# 100 epochs) on the 10 % (set.seed(seed); sample.int(n, round(0.1 * n))) then predict() on the 90 %
# ("finetune", "rest90"). Diagonal: the same section's 70/30 held-out error is in bench/paper/fig7_lambda.csv.
# Writes OUT.tsv: genes, seed, source, target, method, cells, n, procrustes, dist_pearson, seconds.
# Env: DPVAE_THREADS, DPVAE_DATA, DPVAE_LIB.
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
  library(Matrix)
})
args <- commandArgs(TRUE)
if (length(args) < 3) stop("usage: fig10_transfer.R OUT.tsv SEEDS GENES [SPOTS.tsv]")
out <- args[1]
seeds <- as.integer(strsplit(args[2], ",")[[1]])
genes_mode <- args[3]
spots_out <- if (length(args) >= 4) args[4] else ""
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
threads <- as.integer(Sys.getenv("DPVAE_THREADS", "1"))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "..", "bench_data.R"))

sections <- sprintf("stutility_hippo_s%d", 1:4)
data <- lapply(sections, load_set)
names(data) <- sections
shared <- Reduce(intersect, lapply(data, function(s) rownames(s$X)))
genes <- if (genes_mode == "hvg100") {
  Reduce(intersect, lapply(data, function(s) dpvae:::fit_preprocess(s$X, n_genes = 100)$genes))
} else shared
fit_args <- if (genes_mode == "hvg100") list(n_genes = length(genes)) else list()
message(genes_mode, ": ", length(genes), " genes")

write_tsv <- function(row, path) {
  ex <- file.exists(path)
  utils::write.table(row, path, sep = "\t", row.names = FALSE, col.names = !ex, append = ex, quote = FALSE)
}
score <- function(truth, pred) c(procrustes = procrustes_distance(truth, pred), dist_pearson = dist_cor(truth, pred))
spot_error <- function(truth, pred) {
  a <- procrustes_distance(truth, pred, aligned = TRUE)
  sqrt(rowSums((a$x - a$y)^2))
}

for (seed in seeds) {
  for (src in sections) {
    s <- data[[src]]
    t0 <- proc.time()[["elapsed"]]
    fit <- do.call(dpvae_fit, c(list(s$X[genes, , drop = FALSE], s$xy, seed = seed, num.threads = threads,
                                     verbose = FALSE), fit_args))
    fit_seconds <- proc.time()[["elapsed"]] - t0
    message(sprintf("%s seed %d source %s: %d epochs, %.0f s", format(Sys.time(), "%H:%M"), seed, src,
                    fit$epochs_run, fit_seconds))
    for (tgt in setdiff(sections, src)) {
      tg <- data[[tgt]]
      x <- tg$X[genes, , drop = FALSE]
      row <- function(method, cells, n, sc, sec) {
        write_tsv(data.frame(genes = genes_mode, seed = seed, source = src, target = tgt, method = method,
                             cells = cells, n = n, procrustes = sc[["procrustes"]],
                             dist_pearson = sc[["dist_pearson"]], seconds = sec), out)
      }
      zs <- predict(fit, x)
      row("zeroshot", "all", ncol(x), score(tg$xy, zs), fit_seconds)
      set.seed(seed)
      ft_cells <- sample.int(ncol(x), round(0.1 * ncol(x)))
      rest <- setdiff(seq_len(ncol(x)), ft_cells)
      row("zeroshot", "rest90", length(rest), score(tg$xy[rest, ], zs[rest, ]), fit_seconds)
      t1 <- proc.time()[["elapsed"]]
      ft <- dpvae_finetune(fit, x[, ft_cells, drop = FALSE], tg$xy[ft_cells, , drop = FALSE], seed = seed,
                           num.threads = threads, verbose = FALSE)
      pft <- predict(ft, x[, rest, drop = FALSE])
      ft_seconds <- proc.time()[["elapsed"]] - t1
      row("finetune", "rest90", length(rest), score(tg$xy[rest, ], pft), ft_seconds)
      message(sprintf("  -> %s: zero-shot %.3f (all), %.3f (90 %%), fine-tuned %.3f", tgt,
                      score(tg$xy, zs)[[1]], score(tg$xy[rest, ], zs[rest, ])[[1]], score(tg$xy[rest, ], pft)[[1]]))
      if (nzchar(spots_out) && src == sections[1] && seed == seeds[1]) {
        write_tsv(data.frame(genes = genes_mode, target = tgt, method = "zeroshot", spot = colnames(x),
                             x = tg$xy[, 1], y = tg$xy[, 2], error = round(spot_error(tg$xy, zs), 4)), spots_out)
        write_tsv(data.frame(genes = genes_mode, target = tgt, method = "finetune", spot = colnames(x)[rest],
                             x = tg$xy[rest, 1], y = tg$xy[rest, 2],
                             error = round(spot_error(tg$xy[rest, ], pft), 4)), spots_out)
      }
    }
  }
}
