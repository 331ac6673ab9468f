# R-level timings of the geometry functions.
# 1. smacof() on the same inputs as bench/geometry_bench.py (scikit-learn) writes (.npy, n x n):
#      python3 bench/geometry_bench.py --n 1000 2000 --out /tmp/dpvae-geometry-bench
#      R_LIBS=... Rscript bench/geometry_r_bench.R smacof /tmp/dpvae-geometry-bench 1000 2000
# 2. Constrained placement of m new cells against L fixed cells, the R path of dpvae_impute()
#    (impute_cells() -> impute_impl), with a synthetic 2-D latent = c * standardised position + noise:
#      R_LIBS=... Rscript bench/geometry_r_bench.R place 100000 5000
suppressPackageStartupMessages(library(dpvae))
args <- commandArgs(TRUE)

read_npy <- function(path) {
  con <- file(path, "rb"); on.exit(close(con))
  magic <- readBin(con, "raw", 6); ver <- readBin(con, "integer", 2, size = 1)
  hlen <- if (ver[1] == 1) readBin(con, "integer", 1, size = 2, endian = "little") else readBin(con, "integer", 1, size = 4, endian = "little")
  header <- rawToChar(readBin(con, "raw", hlen))
  stopifnot(grepl("'<f8'", header), grepl("'fortran_order': False", header))
  shape <- as.integer(strsplit(sub(".*'shape': \\(([0-9, ]+)\\).*", "\\1", header), ",\\s*")[[1]])
  x <- readBin(con, "double", prod(shape), size = 8, endian = "little")
  matrix(x, shape[1], shape[2], byrow = TRUE)
}

if (args[1] == "smacof") {
  for (n in args[-(1:2)]) {
    d <- read_npy(file.path(args[2], sprintf("geometry_n%s.npy", n)))
    for (init in c("random", "classical")) {
      t <- system.time(f <- smacof(d, init = init, max_iter = 300, eps = 1e-6, n_init = 1, seed = 20240801))
      cat(sprintf("smacof\tn=%s\tinit=%s\ttime_s=%.2f\titerations=%d\tstress1=%.4f\n", n, init, t[["elapsed"]],
                  f$iterations, f$stress1))
    }
  }
} else if (args[1] == "place") {
  m <- as.integer(args[2]); l <- as.integer(args[3])
  set.seed(1)
  pos <- matrix(runif(2 * (m + l), 0, 10), ncol = 2)
  centre <- colMeans(pos[seq_len(l), ]); unit <- sqrt(mean(sweep(pos[seq_len(l), ], 2, centre)^2))
  c <- 1.7
  latent <- c * sweep(pos, 2, centre) / unit + matrix(rnorm(2 * (m + l), sd = 0.01), ncol = 2)
  coords <- pos
  coords[l + seq_len(m), ] <- NA
  model <- list(scale = c, spatial_dims = 2L, frame_json = jsonlite::toJSON(list(centre = centre, unit = unit, align = NULL),
                                                                      auto_unbox = TRUE, digits = NA, null = "null"))
  opts <- dpvae:::impute_options(seed = 1)
  gc(reset = TRUE)
  t <- system.time(res <- dpvae:::impute_cells(latent, coords, model, opts))
  mem <- gc()
  err <- sqrt(rowSums((res$coords - pos[l + seq_len(m), ])^2))
  cat(sprintf("place\tm=%d\tL=%d\ttime_s=%.2f\tmedian_err=%.4f\tp99_err=%.4f\tR_max_mem_MB=%.0f\trefined=%s\n", m, l,
              t[["elapsed"]], median(err), quantile(err, 0.99), sum(mem[, 6]), res$refined))
}
