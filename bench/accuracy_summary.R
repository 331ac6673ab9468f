#!/usr/bin/env Rscript
# Summarise bench/accuracy.R CSVs: mean test Procrustes per (set, config) over seeds, as a markdown table
# (configs in rows, sets in columns), plus per config the mean over sets, wins vs kNN and vs "lambda = 0".
# usage: Rscript bench/accuracy_summary.R FILE.csv [FILE.csv ...]
d <- do.call(rbind, lapply(commandArgs(TRUE), utils::read.csv))
d$config <- gsub("\\\\", "\"", d$config) # rows written with qmethod = "escape"
d <- d[!duplicated(d[, c("set", "seed", "config")], fromLast = TRUE), ]
m <- tapply(d$procrustes, list(d$config, d$set), mean)
sets <- colnames(m)
knn <- m["knn", ]
l0 <- if ("lambda = 0" %in% rownames(m)) m["lambda = 0", ] else NA * knn
fmt <- function(v) ifelse(is.na(v), "", sprintf("%.3f", v))
cat("| config |", paste(sets, collapse = " | "), "| mean | beats kNN | beats λ=0 |\n")
cat("|---|", paste(rep("---", length(sets) + 3), collapse = "|"), "|\n")
for (cfg in rownames(m)) {
  v <- m[cfg, ]
  ok <- !is.na(v)
  cat("|", cfg, "|", paste(fmt(v), collapse = " | "), "|", sprintf("%.3f", mean(v[ok])), "|",
      sprintf("%d/%d", sum(v[ok] < knn[ok]), sum(ok)), "|",
      if (all(is.na(l0))) "" else sprintf("%d/%d", sum(v[ok] < l0[ok], na.rm = TRUE), sum(ok & !is.na(l0))), "|\n")
}
cat("\n(mean over seeds", paste(sort(unique(d$seed)), collapse = ","), "where run; a config's mean is over the sets it ran on)\n")
