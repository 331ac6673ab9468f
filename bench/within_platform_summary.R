#!/usr/bin/env Rscript
# Table of bench/accuracy_map.R's CSV (mean over seeds per set), with the expression-kNN baseline of
# bench/accuracy.R on the same splits when its CSV is given.
# usage: Rscript bench/within_platform_summary.R within_platform.csv [knn.csv]
args <- commandArgs(TRUE)
d <- utils::read.csv(args[1])
knn <- if (length(args) >= 2) utils::read.csv(args[2]) else NULL
cols <- c("encoder", "map", "latmap", "blend", "cover_map", "cover_encoder", "radius_factor")
a <- stats::aggregate(d[cols], by = list(set = d$set), FUN = mean)
a$seeds <- as.vector(table(d$set)[a$set])
a$auto <- vapply(a$set, function(s) paste(unique(d$auto[d$set == s]), collapse = "/"), "")
if (!is.null(knn)) {
  k <- knn[knn$config == "knn" & knn$seed %in% d$seed, ]
  a$knn <- vapply(a$set, function(s) mean(k$procrustes[k$set == s]), 1)
} else a$knn <- NA
a <- a[order(match(a$set, unique(d$set))), ]
f <- function(v) sprintf("%.3f", v)
best <- function(r) c("encoder", "map", "latmap", "blend")[which.min(unlist(r[c("encoder", "map", "latmap", "blend")]))]
cat("| data set | encoder (today's readout) | map | latent-kNN map | mean of encoder and map | expression-kNN | best | auto picks | 90 % radius covers (map / encoder) | radius factor | seeds |\n")
cat("|---|---|---|---|---|---|---|---|---|---|---|\n")
for (i in seq_len(nrow(a))) {
  r <- a[i, ]
  cat(sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %.2f | %d |\n", r$set, f(r$encoder), f(r$map), f(r$latmap),
              f(r$blend), f(r$knn), best(r), r$auto, f(r$cover_map), f(r$cover_encoder), r$radius_factor, r$seeds))
}
m <- colMeans(a[c("encoder", "map", "latmap", "blend", "knn", "cover_map", "cover_encoder")])
cat(sprintf("| **mean (%d sets)** | %s | %s | %s | %s | %s | | | %s / %s | | |\n", nrow(a), f(m["encoder"]), f(m["map"]),
            f(m["latmap"]), f(m["blend"]), f(m["knn"]), f(m["cover_map"]), f(m["cover_encoder"])))
for (m in c("map", "latmap", "blend")) {
  cat(sprintf("\n- %s beats the encoder on %d / %d sets", m, sum(a[[m]] < a$encoder), nrow(a)))
}
for (m in c("encoder", "map", "blend")) {
  cat(sprintf("\n- %s beats expression-kNN on %d / %d sets", m, sum(a[[m]] < a$knn, na.rm = TRUE), sum(!is.na(a$knn))))
}
cat(sprintf("\n- coverage of the 90 %% radius within 0.85-0.95: map %d / %d, encoder %d / %d sets; range map %.2f-%.2f, encoder %.2f-%.2f\n",
            sum(a$cover_map >= 0.85 & a$cover_map <= 0.95), nrow(a), sum(a$cover_encoder >= 0.85 & a$cover_encoder <= 0.95), nrow(a),
            min(a$cover_map), max(a$cover_map), min(a$cover_encoder), max(a$cover_encoder)))
