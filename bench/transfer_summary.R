#!/usr/bin/env Rscript
# Markdown tables from bench/transfer.R output: mean ± sd over seeds per direction and method.
# usage: Rscript bench/transfer_summary.R OUT.csv [OUT.csv ...]
args <- commandArgs(TRUE)
if (!length(args)) stop("usage: transfer_summary.R OUT.csv [OUT.csv ...]")
r <- do.call(rbind, lapply(args, utils::read.csv, stringsAsFactors = FALSE))
# kNN rows do not depend on CONFIG / FINETUNE: one label. A model's rows repeat when several runs refit it
# (same seed: identical figures, checked); the first row per (label, direction, seed, cells) is kept.
r$label <- paste0(r$method, ifelse(r$config == "default" | grepl("^knn", r$method), "", paste0(" [", r$config, "]")),
                  ifelse(r$method == "finetune" & r$finetune != "default", paste0(" [ft: ", r$finetune, "]"), ""))
r <- r[!duplicated(r[c("label", "direction", "seed", "eval_on")]), ]
ms <- function(v) {
  v <- v[is.finite(v)]
  if (!length(v)) return("")
  if (length(v) == 1) sprintf("%.3f", v) else sprintf("%.3f ± %.3f", mean(v), stats::sd(v))
}
short <- function(d) sub("^(\\w+)_(s\\d)->\\w+_(s\\d)$", "\\1 \\2→\\3", d)
dirs <- unique(r$direction)
order_methods <- c("zeroshot", "knn_src", "finetune", "target10", "knn_src_tgt10", "knn_src_tgt10_raw", "knn_tgt10")
for (ev in c("all", "rest90")) {
  s <- r[r$eval_on == ev, ]
  if (!nrow(s)) next
  labs <- unique(s$label)
  labs <- labs[order(match(sub(" .*", "", labs), order_methods), labs)]
  cat(sprintf("\n### evaluated on %s target cells (mean ± sd over seeds %s)\n\n",
              if (ev == "all") "all" else "the 90 % of", paste(sort(unique(s$seed)), collapse = ", ")))
  for (metric in c("procrustes", "dist_pearson")) {
    cat(sprintf("%s\n\n| method | %s | mean |\n|---|%s---|\n", if (metric == "procrustes") "Test Procrustes (lower is better)" else
      "Pearson correlation of pairwise distances (higher is better)", paste(short(dirs), collapse = " | "),
      strrep("---|", length(dirs))))
    for (l in labs) {
      cells <- sapply(dirs, function(d) ms(s[s$label == l & s$direction == d, metric]))
      means <- sapply(dirs, function(d) mean(s[s$label == l & s$direction == d, metric]))
      cat(sprintf("| %s | %s | %.3f |\n", l, paste(cells, collapse = " | "), mean(means)))
    }
    cat("\n")
  }
}
t <- r[r$method %in% c("zeroshot", "finetune", "target10") & r$eval_on == "rest90", ]
if (nrow(t)) {
  cat("Seconds / epochs (mean over seeds; 1 thread)\n\n| method | ", paste(short(dirs), collapse = " | "), " |\n|---|",
      strrep("---|", length(dirs)), "\n", sep = "")
  for (l in unique(t$label)) {
    cells <- sapply(dirs, function(d) {
      x <- t[t$label == l & t$direction == d, ]
      if (!nrow(x)) "" else sprintf("%.1f s / %.0f", mean(x$seconds), mean(x$epochs_run))
    })
    cat("| ", l, " | ", paste(cells, collapse = " | "), " |\n", sep = "")
  }
}
