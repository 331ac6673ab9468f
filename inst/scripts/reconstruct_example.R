# The main job: fit a dp-VAE on the bundled mouse olfactory bulb (262 ST spots), reconstruct every
# spot's position from its expression, report the Procrustes distance and write a PNG.
# Usage: Rscript reconstruct_example.R [output folder]
suppressPackageStartupMessages(library(dpvae))
out <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(out)) out <- "."
dir.create(out, showWarnings = FALSE, recursive = TRUE)

mob <- dpvae_example_data()
cat(sprintf("data: %d genes x %d spots (mouse olfactory bulb, Stahl et al. 2016)\n", nrow(mob$counts), ncol(mob$counts)))
info <- libtorch_info()
cat(sprintf("libtorch %s (%s), %d threads\n", info$version, info$path, info$threads))

res <- dpvae_reconstruct(mob$counts, coords = mob$coords, seed = 1, epochs = 500, verbose = TRUE)
model <- attr(res, "dpvae_model")
print(model)
rec <- as.matrix(res[, c("dpvae_x", "dpvae_y")])
set.seed(1)
random <- mean(replicate(20, procrustes_distance(mob$coords, mob$coords[sample(nrow(mob$coords)), ])))
cat(sprintf("Procrustes distance, reconstructed vs measured: %.4f (random placement: %.4f)\n",
            procrustes_distance(mob$coords, rec), random))
cat(sprintf("seconds per epoch: %.4f\n", model$seconds / model$epochs_run))
utils::write.csv(data.frame(cell = rownames(res), res, region = mob$region), file.path(out, "reconstruction.csv"),
                 row.names = FALSE)
if (requireNamespace("ggplot2", quietly = TRUE)) {
  p <- plot_reconstruction(mob$coords, rec, color = mob$region, color_name = "layer")
  ggplot2::ggsave(file.path(out, "reconstruction.png"), p, width = 9, height = 4.5, dpi = 110)
  cat("wrote", file.path(out, "reconstruction.png"), "and reconstruction.csv\n")
}
