# How the map's two constants were chosen (bench/RESULTS-scrna.md): entropic regularisation MAP_EPSILON and
# location-marginal weight MAP_TAU, swept on every scRNA-seq benchmark case with one seed, plus a query that
# covers only part of the tissue (cells of the left half of each y1 section), where a hard location
# marginal would push cells into the other half.
# Usage: Rscript bench/scrna_sweep.R OUT.csv [CASES]
suppressPackageStartupMessages({ library(dpvae); library(Matrix) })
args <- commandArgs(trailingOnly = TRUE)
out_csv <- args[1]
work <- "bench/work/scrna"
cases <- if (length(args) >= 2) strsplit(args[2], ",")[[1]] else list.files(work)
source_lines <- readLines("bench/scrna.R")
# reuse the loaders and scorers of bench/scrna.R (everything before its main loop)
eval(parse(text = source_lines[seq_len(grep("^rows <- list", source_lines) - 1L)]))
set_const <- function(name, value) utils::assignInNamespace(name, value, "dpvae")
grid <- expand.grid(eps = c(0.03, 0.05, 0.1, 0.2, 0.4), tau = c(0.1, 1, 10))
out <- list()
for (case in cases) {
  cs <- load_case(case)
  if (cs$meta$kind == "genes") {
    qn <- lognorm(cs$Q, cs$meta$values); truth_all <- as.matrix(lognorm(cs$R, cs$meta$values))
    fits <- lapply(sort(unique(cs$folds$fold)), function(k) {
      train <- cs$folds$gene[cs$folds$fold != k]
      list(k = k, train = train, held = cs$folds$gene[cs$folds$fold == k],
           fit = dpvae_fit(cs$R[train, ], cs$rxy, seed = 1, num.threads = 1, verbose = FALSE))
    })
    for (g in seq_len(nrow(grid))) {
      set_const("MAP_EPSILON", grid$eps[g]); set_const("MAP_TAU", grid$tau[g])
      s <- do.call(rbind, lapply(fits, function(f) {
        map <- predict(f$fit, cs$Q[f$train, ], type = "map")
        gene_scores(project_genes(map, qn[f$held, , drop = FALSE]), truth_all[f$held, , drop = FALSE])
      }))
      out[[length(out) + 1]] <- data.frame(case = case, eps = grid$eps[g], tau = grid$tau[g],
                                           score = stats::median(s$pearson, na.rm = TRUE), metric = "median Pearson")
    }
  } else {
    fit <- dpvae_fit(cs$R, cs$rxy, seed = 1, num.threads = 1, verbose = FALSE)
    left <- cs$qxy[, 1] < stats::median(cs$qxy[, 1])
    for (g in seq_len(nrow(grid))) {
      set_const("MAP_EPSILON", grid$eps[g]); set_const("MAP_TAU", grid$tau[g])
      res <- dpvae_reconstruct(cs$Q, model = fit, verbose = FALSE)
      pos <- as.matrix(res[, paste0("dpvae_", c("x", "y", "z")[seq_along(cs$cc)])])
      ok <- stats::complete.cases(pos)
      half <- dpvae_reconstruct(cs$Q[, left], model = fit, verbose = FALSE)
      hpos <- as.matrix(half[, paste0("dpvae_", c("x", "y", "z")[seq_along(cs$cc)])])
      hok <- stats::complete.cases(hpos)
      out[[length(out) + 1]] <- data.frame(
        case = c(case, paste0(case, "_lefthalf")), eps = grid$eps[g], tau = grid$tau[g],
        score = c(procrustes_distance(cs$qxy[ok, ], pos[ok, ]),
                  # half query: mean position error in units of the section's width (no rescaling)
                  mean(sqrt(rowSums((hpos[hok, ] - cs$qxy[left, ][hok, ])^2))) / diff(range(cs$qxy[, 1]))),
        metric = c("Procrustes", "mean error / width"))
    }
  }
  done <- do.call(rbind, out[vapply(out, function(d) sub("_lefthalf$", "", d$case[1]) == case, TRUE)])
  print(done, digits = 3)
  ex <- file.exists(out_csv)
  utils::write.table(done, out_csv, sep = ",", row.names = FALSE, col.names = !ex, append = ex)
}
