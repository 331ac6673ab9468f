# The main job, on the bundled mouse hippocampus (313 Visium spots + 510 scRNA-seq cells, spacexr):
# 1. hide the positions of 30 % of the spots, reconstruct them from expression, and report their error next
#    to an expression-kNN placement and random placement (out of sample: the model never saw them);
# 2. place the scRNA-seq cells in the tissue through the cell -> location map, with their out-of-reference
#    score, and report where each cell type lands;
# 3. write reconstruction.png (both) and reconstruction.csv.
# Usage: Rscript reconstruct_example.R [output folder]
suppressPackageStartupMessages(library(dpvae))
out <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(out)) out <- "."
dir.create(out, showWarnings = FALSE, recursive = TRUE)
info <- libtorch_info(num.threads = 1)
cat(sprintf("libtorch %s (%s), %d thread\n", info$version, info$path, info$threads))

hippo <- dpvae_example_data("hippo")
counts <- hippo$spatial$counts
coords <- hippo$spatial$coords
cat(sprintf("reference: %d genes x %d Visium spots; query: %d genes x %d single cells (mouse hippocampus)\n",
            nrow(counts), ncol(counts), nrow(hippo$scrna$counts), ncol(hippo$scrna$counts)))

# 1. hidden spots
set.seed(1)
hidden <- sample(ncol(counts), round(0.3 * ncol(counts)))
masked <- coords
masked[hidden, ] <- NA
res <- dpvae_reconstruct(counts, coords = masked, lambda = 30, seed = 1, num.threads = 1, verbose = TRUE)
rec <- as.matrix(res[hidden, c("dpvae_x", "dpvae_y")])

# expression-kNN placement: log-normalised, standardised on the training spots, 30 PCs, mean of 5 nearest
lognorm <- function(x) log1p(t(t(as.matrix(x)) / pmax(Matrix::colSums(x), 1) * 1e4))
y <- t(lognorm(counts))
train <- setdiff(seq_len(ncol(counts)), hidden)
y <- scale(y, center = colMeans(y[train, ]), scale = pmax(apply(y[train, ], 2, stats::sd), 1e-8))
pc <- stats::prcomp(y[train, ], center = FALSE, rank. = 30)
z_test <- y[hidden, ] %*% pc$rotation
d2 <- outer(rowSums(z_test^2), rowSums(pc$x^2), "+") - 2 * z_test %*% t(pc$x)
nn <- t(apply(d2, 1, function(v) order(v)[1:5]))
knn <- cbind(rowMeans(matrix(coords[train, 1][nn], nrow(nn))), rowMeans(matrix(coords[train, 2][nn], nrow(nn))))
random <- mean(replicate(20, procrustes_distance(coords[hidden, ], coords[hidden, ][sample(length(hidden)), ])))
cat(sprintf("hidden spots (%d, never trained on), Procrustes distance to their measured positions (lower is better):\n",
            length(hidden)))
cat(sprintf("  dp-VAE %.3f | expression-kNN %.3f | random placement %.3f\n",
            procrustes_distance(coords[hidden, ], rec), procrustes_distance(coords[hidden, ], knn), random))

# 2. scRNA-seq cells
sc <- dpvae_reconstruct(hippo$scrna$counts, reference = list(counts = counts, coords = coords), lambda = 30,
                        seed = 1, num.threads = 1, verbose = TRUE)
cat(sprintf("single cells: placed by the %s; 90 %% region radius median %.0f pixels\n",
            attr(sc, "dpvae_placement"), stats::median(sc$dpvae_uncertainty, na.rm = TRUE)))
top <- sort(tapply(sc$dpvae_outlier_score, hippo$scrna$cell_type, stats::median), decreasing = TRUE)[1:3]
cat("cell types least like the reference (median out-of-reference score):", paste(sprintf("%s %.2f", names(top), top), collapse = ", "), "\n")
cov <- mean(sqrt(rowSums((rec - coords[hidden, ])^2)) <= res$dpvae_uncertainty[hidden])
cat(sprintf("hidden spots inside their 90 %% region: %.0f %%\n", 100 * cov))
types <- c("Denate", "CA1", "CA3", "Oligodendrocyte")
med <- t(sapply(types, function(t) apply(sc[hippo$scrna$cell_type == t, c("dpvae_x", "dpvae_y")], 2, stats::median)))
cat("median position of some cell types (pixels):\n")
print(round(med))

utils::write.csv(rbind(data.frame(cell = rownames(res), kind = "spot", res[, c("dpvae_x", "dpvae_y")],
                                  measured_x = coords[, 1], measured_y = coords[, 2], hidden = seq_len(ncol(counts)) %in% hidden,
                                  cell_type = NA, uncertainty = res$dpvae_uncertainty, outlier_score = res$dpvae_outlier_score),
                       data.frame(cell = rownames(sc), kind = "single cell", sc[, c("dpvae_x", "dpvae_y")],
                                  measured_x = NA, measured_y = NA, hidden = NA, cell_type = hippo$scrna$cell_type,
                                  uncertainty = sc$dpvae_uncertainty, outlier_score = sc$dpvae_outlier_score)),
                 file.path(out, "reconstruction.csv"), row.names = FALSE)
if (requireNamespace("ggplot2", quietly = TRUE)) {
  spots <- data.frame(x = coords[, 1], y = -coords[, 2])
  a <- data.frame(x = c(coords[hidden, 1], rec[, 1]), y = -c(coords[hidden, 2], rec[, 2]),
                  what = rep(c("measured", "reconstructed"), each = length(hidden)), id = rep(seq_along(hidden), 2))
  p1 <- ggplot2::ggplot(a, ggplot2::aes(x, y)) +
    ggplot2::geom_point(data = spots, colour = "grey85", size = 1) +
    ggplot2::geom_line(ggplot2::aes(group = id), colour = "grey50", linewidth = 0.3) +
    ggplot2::geom_point(ggplot2::aes(colour = what), size = 1.4) +
    ggplot2::scale_colour_manual(values = c(measured = "#0072B2", reconstructed = "#D55E00"), name = NULL) +
    ggplot2::coord_equal() + ggplot2::theme_minimal() +
    ggplot2::labs(title = "Hidden spots: measured vs reconstructed", x = "x (pixels)", y = "-y (pixels)")
  b <- data.frame(x = sc$dpvae_x, y = -sc$dpvae_y, type = hippo$scrna$cell_type)
  b <- b[b$type %in% types, ]
  p2 <- ggplot2::ggplot(b, ggplot2::aes(x, y, colour = type)) +
    ggplot2::geom_point(data = spots, colour = "grey85", size = 1) +
    ggplot2::geom_point(size = 1.4, alpha = 0.8) +
    ggplot2::scale_colour_manual(values = c("#E69F00", "#56B4E9", "#009E73", "#CC79A7"), name = "cell type") +
    ggplot2::coord_equal() + ggplot2::theme_minimal() +
    ggplot2::labs(title = "scRNA-seq cells placed through the map", x = "x (pixels)", y = "-y (pixels)")
  png(file.path(out, "reconstruction.png"), width = 1100, height = 480, res = 100)
  grid::grid.newpage()
  grid::pushViewport(grid::viewport(layout = grid::grid.layout(1, 2)))
  print(p1, vp = grid::viewport(layout.pos.row = 1, layout.pos.col = 1))
  print(p2, vp = grid::viewport(layout.pos.row = 1, layout.pos.col = 2))
  invisible(dev.off())
  cat("wrote", file.path(out, "reconstruction.png"), "and reconstruction.csv\n")
}
