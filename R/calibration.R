# The 90 % positional uncertainty of placed cells, calibrated at fit time on the training data set.
#
# The map's radius is a factor times the map's spread of reference positions around the reported position;
# the factor is the 90 % quantile of (error / spread) of the training cells mapped onto each other
# leave-one-out. Held-out cells of the same data set are exchangeable with these, so their regions cover
# ~90 % of them (bench/RESULTS-scrna.md reports the coverage on every shared set).
#
# The mean of the encoder's and the map's positions errs less where the two err apart. Its mean squared
# error (per unit spread) follows from the two readouts' errors and their disagreement d, measured on the
# query's own cells: E|mean error|^2 = (E|e_enc|^2 + E|e_map|^2) / 2 - E|d|^2 / 4. E|e_map|^2 is rms^2 of the
# calibration; E|e_enc|^2 = kappa * rms^2, where kappa, the encoder's held-out error over the map's, is
# measured at fit time on the validation cells the encoder did not train on (1, equally accurate, without).

# Radius of the 90 % region around reported positions `pos` (`mapped`: map_cells()' result, which holds the
# moments).
uncertainty_radius <- function(model, mapped, pos, placement = "map", encoder = NULL) {
  radius <- model$radius_factor * map_spread(mapped, pos)
  if (placement == "mean") radius <- radius * mean_shrink(model, mapped, encoder)
  radius
}

# The mean placement's radius over the map's. Bounded below by 1/2 (never more than two equally good,
# independent readouts gain) and above by the case of perfectly correlated errors, (1 + sqrt(kappa)) / 2,
# which is also the answer for fewer than MEAN_SHRINK_MIN_CELLS cells (no disagreement to measure). Models
# fitted before kappa was measured take the readouts as equally accurate (kappa = 1).
MEAN_SHRINK_MIN_CELLS <- 20L
mean_shrink <- function(model, mapped, encoder) {
  rms <- model$radius_rms
  kappa <- model$encoder_error_ratio
  if (is.null(kappa) || !is.finite(kappa)) kappa <- 1
  correlated <- ((1 + sqrt(kappa)) / 2)^2
  spread <- map_spread(mapped, mapped$coords)
  ok <- which(is.finite(spread) & spread > 0 & stats::complete.cases(encoder))
  if (is.null(rms) || !is.finite(rms) || length(ok) < MEAN_SHRINK_MIN_CELLS) return(sqrt(correlated))
  disagreement <- mean(rowSums((encoder[ok, , drop = FALSE] - mapped$coords[ok, , drop = FALSE])^2) / spread[ok]^2)
  sqrt(min(max((1 + kappa) / 2 - disagreement / (4 * rms^2), 0.25), correlated))
}

# The training cells mapped onto each other, leave-one-out (at most CALIBRATION_CELLS of them, evenly
# spaced): for each such row, the map's position, its spread and the true position.
CALIBRATION_CELLS <- 5000L
loo_map <- function(profiles, coords, sections = NULL, call = rlang::caller_call()) {
  n <- nrow(profiles)
  rows <- evenly_spaced(n, min(n, CALIBRATION_CELLS))
  if (length(rows) < 3L) return(NULL)
  p <- profiles[rows, , drop = FALSE]
  truth <- coords[rows, , drop = FALSE]
  support <- transport_support(p, p, self = seq_along(rows), call = call)
  eps <- MAP_EPSILON * typical_cost(p, p)
  plan <- one_section(sinkhorn_map(support, length(rows), length(rows), eps), sections[rows], support, eps)
  moments <- plan_moments(plan, truth)
  list(rows = rows, coords = moments$coords, spread = map_spread(moments, moments$coords), truth = truth)
}

# `factor`: the 90 % quantile of error / spread over the leave-one-out rows; `rms`: its root mean square.
calibrate_radius <- function(loo) {
  none <- c(factor = NA_real_, rms = NA_real_)
  if (is.null(loo) || !any(loo$spread > 0)) return(none)
  ok <- loo$spread > 0
  ratio <- sqrt(rowSums((loo$coords[ok, , drop = FALSE] - loo$truth[ok, , drop = FALSE])^2)) / loo$spread[ok]
  c(factor = unname(stats::quantile(ratio, 0.9)), rms = sqrt(mean(ratio^2)))
}

# kappa: the encoder's mean squared error over the map's, both per unit spread, on the held-out cells
# (`held`: their row indices among the training cells and the encoder's positions for them), the map's
# from the leave-one-out rows of the calibration (`loo`). Tried and dropped: mapping the held-out cells
# onto the other training cells only (bench/RESULTS-scrna.md: validation cells, chosen for early stopping,
# then looked 4x better than the map, and Drosophila's coverage fell to 0.72).
encoder_error_ratio <- function(loo, held) {
  if (is.null(loo) || is.null(held)) return(NA_real_)
  at <- match(held$rows, loo$rows)
  keep <- which(!is.na(at))
  at <- at[keep]
  mapped <- list(coords = loo$coords[at, , drop = FALSE], spread = loo$spread[at], truth = loo$truth[at, , drop = FALSE])
  error_ratio(mapped, held$coords[keep, , drop = FALSE])
}

# Mean squared error per unit spread of the encoder's positions over the map's (`mapped`: the map's
# positions, spreads and true positions of the same cells). NA with fewer than MEAN_SHRINK_MIN_CELLS usable
# cells; kept within [1/4, 4] against the noise of a few dozen cells.
error_ratio <- function(mapped, encoder) {
  use <- which(mapped$spread > 0 & stats::complete.cases(encoder))
  if (length(use) < MEAN_SHRINK_MIN_CELLS) return(NA_real_)
  s2 <- mapped$spread[use]^2
  enc <- mean(rowSums((encoder[use, , drop = FALSE] - mapped$truth[use, , drop = FALSE])^2) / s2)
  map <- mean(rowSums((mapped$coords[use, , drop = FALSE] - mapped$truth[use, , drop = FALSE])^2) / s2)
  if (!(map > 0)) return(NA_real_)
  min(max(enc / map, 0.25), 4)
}

# The encoder's positions for training cells it did not train on: the fit's validation cells (above 2000
# training cells by default), or NULL. Below, a cross-fit (a second fit without every 5th or 10th cell) was
# tried: it doubled small fits and its kappa, from a few dozen cells, was noisier than it was worth
# (coverage 14/16 sets within 0.85-0.95 either way, vs 15/16 taking the readouts as equally accurate;
# bench/RESULTS-scrna.md).
held_out_encoder <- function(res, pred) {
  if (length(res$validation) < MEAN_SHRINK_MIN_CELLS) return(NULL)
  list(rows = res$validation, coords = pred$coords[res$validation, , drop = FALSE])
}
