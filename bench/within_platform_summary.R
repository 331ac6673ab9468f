#!/usr/bin/env Rscript
# Table of bench/accuracy_map.R's CSV (mean over seeds per set), with the expression-kNN baseline of
# bench/accuracy.R on the same splits when its CSV is given.
# The coverage of the 90 % radius around the default positions ("auto": the mean of encoder and map for
# held-out cells) is the CSV's cover_auto.
# usage: Rscript bench/within_platform_summary.R within_platform.csv [knn.csv]
args <- commandArgs(TRUE)
d <- utils::read.csv(args[1])
d$cover_mean <- d$cover_auto
knn <- if (length(args) >= 2 && nzchar(args[2])) utils::read.csv(args[2]) else NULL
cols <- c("encoder", "map", "latmap", "blend", "cover_map", "cover_encoder", "cover_mean", "radius_factor")
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
cat("| data set | encoder (today's readout) | map | latent-kNN map | mean of encoder and map | expression-kNN | best | auto picks | 90 % radius covers (map / encoder / mean) | radius factor | seeds |\n")
cat("|---|---|---|---|---|---|---|---|---|---|---|\n")
for (i in seq_len(nrow(a))) {
  r <- a[i, ]
  cat(sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s | %.2f | %d |\n", r$set, f(r$encoder), f(r$map), f(r$latmap),
              f(r$blend), f(r$knn), best(r), r$auto, f(r$cover_map), f(r$cover_encoder), f(r$cover_mean), r$radius_factor, r$seeds))
}
m <- colMeans(a[c("encoder", "map", "latmap", "blend", "knn", "cover_map", "cover_encoder", "cover_mean")])
cat(sprintf("| **mean (%d sets)** | %s | %s | %s | %s | %s | | | %s / %s / %s | | |\n", nrow(a), f(m["encoder"]), f(m["map"]),
            f(m["latmap"]), f(m["blend"]), f(m["knn"]), f(m["cover_map"]), f(m["cover_encoder"]), f(m["cover_mean"])))
for (m in c("map", "latmap", "blend")) {
  cat(sprintf("\n- %s beats the encoder on %d / %d sets", m, sum(a[[m]] < a$encoder), nrow(a)))
}
for (m in c("encoder", "map", "blend")) {
  cat(sprintf("\n- %s beats expression-kNN on %d / %d sets", m, sum(a[[m]] < a$knn, na.rm = TRUE), sum(!is.na(a$knn))))
}
inside <- function(v) sum(v >= 0.85 & v <= 0.95, na.rm = TRUE)
cat(sprintf("\n- coverage of the 90 %% radius within 0.85-0.95: map %d / %d, encoder %d / %d, mean %d / %d sets; range map %.2f-%.2f, encoder %.2f-%.2f, mean %.2f-%.2f\n",
            inside(a$cover_map), nrow(a), inside(a$cover_encoder), nrow(a), inside(a$cover_mean), nrow(a),
            min(a$cover_map), max(a$cover_map), min(a$cover_encoder), max(a$cover_encoder),
            min(a$cover_mean, na.rm = TRUE), max(a$cover_mean, na.rm = TRUE)))
