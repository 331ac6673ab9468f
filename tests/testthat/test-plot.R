skip_if_not_installed("ggplot2")

# Renders to a PNG file and checks that something non-trivial was drawn.
expect_renders <- function(p) {
  expect_s3_class(p, "ggplot")
  f <- tempfile(fileext = ".png")
  on.exit(unlink(f))
  suppressMessages(ggplot2::ggsave(f, p, width = 5, height = 3, dpi = 60))
  expect_true(file.exists(f))
  expect_gt(file.size(f), 5000)
}

args20 <- modifyList(quick_fit_args, list(epochs = 20))

test_that("plot_reconstruction() draws matrices and the data frame of the matrix method", {
  fit <- quick_fit()
  p <- plot_reconstruction(mob$coords, fit$fitted_coords, color = mob$region)
  expect_renders(p)
  expect_equal(p$labels$colour, "region")
  expect_match(p$labels$subtitle, "Procrustes distance 0\\.")
  expect_renders(plot_reconstruction(mob$coords, fit$fitted_coords, align = TRUE))
  co <- mob$coords
  co[1:20, ] <- NA
  res <- do.call(dpvae_reconstruct, c(list(mob$counts, coords = co, seed = 1), args20))
  p <- plot_reconstruction(res, color = mob$region, background = mob$coords)
  expect_renders(p)
  # hidden cells appear only in the reconstructed panel
  expect_equal(sum(p$data$panel == "measured"), 242)
  expect_equal(sum(p$data$panel == "reconstructed"), 262)
  expect_error(plot_reconstruction(mob$coords), "reconstructed", class = "dpvae_error_input")
  expect_error(plot_reconstruction(mob$coords, fit$fitted_coords[1:10, ]), class = "dpvae_error_input")
  expect_error(plot_reconstruction(mob$coords, fit$fitted_coords, color = 1:3), "one value per cell",
               class = "dpvae_error_input")
})

test_that("plot_reconstruction() works from a Seurat object's stored results, by column or gene", {
  skip_if_not_installed("SeuratObject")
  obj <- suppressWarnings(SeuratObject::CreateSeuratObject(counts = mob$counts))
  obj$x <- mob$coords[, 1]
  obj$y <- mob$coords[, 2]
  obj$region <- mob$region
  expect_error(plot_reconstruction(obj), "no reduction", class = "dpvae_error_input")
  out <- dpvae_reconstruct(obj, model = quick_fit())
  p <- plot_reconstruction(out, color = "region")
  expect_renders(p)
  expect_equal(p$labels$colour, "region")
  expect_equal(levels(p$data$panel), c("measured", "reconstructed"))
  gene <- quick_fit()$preprocess$genes[1]
  p <- plot_reconstruction(out, color = gene)
  expect_renders(p)
  expect_true(is.numeric(p$data$color))
  expect_error(plot_reconstruction(out, color = "no-such-thing"), "neither", class = "dpvae_error_input")
  # reconstruction alone
  expect_equal(levels(plot_reconstruction(out, coords = FALSE)$data$panel), "reconstructed")
  expect_renders(plot_history(out))
})

test_that("plot_reconstruction() works from SCE / SpatialExperiment results, with a reference behind a query", {
  skip_if_not_installed("SpatialExperiment")
  spe <- SpatialExperiment::SpatialExperiment(
    assays = list(counts = mob$counts), spatialCoords = mob$coords,
    colData = S4Vectors::DataFrame(region = mob$region, row.names = colnames(mob$counts)))
  out <- dpvae_reconstruct(spe, model = quick_fit())
  expect_renders(plot_reconstruction(out, color = "region"))
  q <- SingleCellExperiment::SingleCellExperiment(assays = list(counts = mob$counts[, 1:50]),
                                                  colData = S4Vectors::DataFrame(region = mob$region[1:50]))
  q <- dpvae_reconstruct(q, model = quick_fit())
  p <- plot_reconstruction(q, color = "region", background = spe)
  expect_renders(p)
  expect_equal(levels(p$data$panel), "reconstructed")
  expect_null(p$labels$subtitle)
  expect_renders(plot_history(q, terms = c("loss", "stress"), log = TRUE))
})

test_that("plot_history() draws the loss curves of a model", {
  fit <- quick_fit()
  p <- plot_history(fit)
  expect_renders(p)
  expect_setequal(levels(p$data$term), c("total loss", "reconstruction", "KL", "distance preservation", "training stress"))
  expect_error(plot_history(fit, terms = "nope"), class = "dpvae_error_input")
  expect_error(plot_history(mob$counts), "No dp-VAE model", class = "dpvae_error_input")
})

test_that("the confidence columns can be drawn", {
  fit <- quick_fit()
  res <- suppressWarnings(dpvae_reconstruct(mob$counts, model = fit))
  expect_renders(plot_reconstruction(mob$coords, as.matrix(res[, 1:2]), color = res$dpvae_outlier_score))
  expect_renders(plot_reconstruction(mob$coords, as.matrix(res[, 1:2]), color = res$dpvae_uncertainty))
})
