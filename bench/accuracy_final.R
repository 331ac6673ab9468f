#!/usr/bin/env Rscript
# The per-set comparison table of bench/RESULTS-accuracy.md from bench/accuracy.R CSVs run with the configs
# "default" and "lambda = 0" (and the kNN rows accuracy.R always writes): mean ± sd over seeds of test
# Procrustes, distance Pearson, seconds per fit, beside the reference's figures quoted in
# bench/reference_figures.tsv (from ../shared/reference/RESULTS.md: other random splits, same protocol).
# usage: Rscript bench/accuracy_final.R FILE.csv [FILE.csv ...]
d <- do.call(rbind, lapply(commandArgs(TRUE), utils::read.csv))
d <- d[!duplicated(d[, c("set", "seed", "config")], fromLast = TRUE), ]
ref <- utils::read.delim(file.path(dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE))),
                                   "reference_figures.tsv"))
stat <- function(set, cfg, col) d[d$set == set & d$config == cfg, col]
ms <- function(v) sprintf("%.3f ± %.3f", mean(v), stats::sd(v))
sets <- unique(d$set)
cat("| data set | train/test | **dpvae defaults** | dpvae λ = 0 | expression-kNN | dist. Pearson defaults / kNN | s per fit | ref λ=0 | ref default (λ=0.1) | ref λ=1000 |\n")
cat("|---|---|---|---|---|---|---|---|---|---|\n")
agg <- NULL
for (s in sets) {
  dv <- stat(s, "default", "procrustes"); l0 <- stat(s, "lambda = 0", "procrustes"); kn <- stat(s, "knn", "procrustes")
  r <- ref[ref$set == s, ]
  cat(sprintf("| %s | %d/%d | **%s** | %s | %s | %.2f / %.2f | %.0f | %s | %s | %s |\n", s,
              stat(s, "knn", "n_train")[1], stat(s, "knn", "n_test")[1], ms(dv), ms(l0), ms(kn),
              mean(stat(s, "default", "dist_pearson")), mean(stat(s, "knn", "dist_pearson")),
              mean(stat(s, "default", "seconds")),
              if (nrow(r)) sprintf("%.3f", r$ref_lambda0) else "", if (nrow(r)) sprintf("%.3f", r$ref_default) else "", if (nrow(r) && !is.na(r$ref_lambda1000)) sprintf("%.3f", r$ref_lambda1000) else "not run"))
  agg <- rbind(agg, data.frame(set = s, dv = mean(dv), l0 = mean(l0), kn = mean(kn),
                               r1000 = if (nrow(r)) r$ref_lambda1000 else NA))
}
cat(sprintf("| **mean (%d sets)** | | **%.3f** | %.3f | %.3f | | | | | |\n", nrow(agg), mean(agg$dv), mean(agg$l0), mean(agg$kn)))
cat(sprintf("\n- beats expression-kNN on %d / %d sets (%.0f %%); loses on: %s\n", sum(agg$dv < agg$kn), nrow(agg),
            100 * mean(agg$dv < agg$kn), paste(sprintf("%s (%.3f vs %.3f)", agg$set, agg$dv, agg$kn)[agg$dv >= agg$kn], collapse = ", ")))
cat(sprintf("- beats λ = 0 on %d / %d\n", sum(agg$dv < agg$l0), nrow(agg)))
k <- !is.na(agg$r1000)
cat(sprintf("- against the reference at λ = 1000 (the %d sets it was run on): mean %.3f vs %.3f, lower on %d / %d\n",
            sum(k), mean(agg$dv[k]), mean(agg$r1000[k]), sum(agg$dv[k] < agg$r1000[k]), sum(k)))
