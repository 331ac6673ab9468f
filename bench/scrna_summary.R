# Markdown tables of bench/scrna.R's CSV: mean over seeds per case and method.
# Usage: Rscript bench/scrna_summary.R bench/out/scrna/scrna.csv
args <- commandArgs(trailingOnly = TRUE)
r <- utils::read.csv(args[1], check.names = FALSE)
fmt <- function(v, d = 3) ifelse(is.na(v), "", formatC(v, format = "f", digits = d))
agg <- function(d, cols) {
  out <- stats::aggregate(d[cols], by = list(case = d$case, method = d$method), FUN = function(v) mean(v, na.rm = TRUE))
  n <- stats::aggregate(list(seeds = d$seed), by = list(case = d$case, method = d$method), FUN = length)
  merge(out, n)
}
genes <- r[grepl("^y2_", r$case), ]
if (nrow(genes)) {
  g <- agg(genes, c("median_pearson", "median_spearman", "seconds", "n_genes"))
  g <- g[order(g$case, -g$median_pearson), ]
  cat("| case | method | median Pearson | median Spearman | genes | seconds (all folds) | seeds |\n|---|---|---|---|---|---|---|\n")
  cat(sprintf("| %s | %s | %s | %s | %d | %s | %d |\n", g$case, g$method, fmt(g$median_pearson), fmt(g$median_spearman),
              as.integer(g$n_genes), fmt(g$seconds, 1), g$seeds), sep = "")
  cat("\n")
}
cells <- r[grepl("^y1_", r$case), ]
if (nrow(cells)) {
  g <- agg(cells, c("procrustes", "dist_cor", "seconds"))
  g <- g[order(g$case, g$procrustes), ]
  cat("| case | method | test Procrustes | distance Pearson | seconds | seeds |\n|---|---|---|---|---|---|\n")
  cat(sprintf("| %s | %s | %s | %s | %s | %d |\n", g$case, g$method, fmt(g$procrustes), fmt(g$dist_cor), fmt(g$seconds, 1), g$seeds), sep = "")
}
