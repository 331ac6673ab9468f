# The 90 % positional uncertainty of placed cells, calibrated at fit time on the training data set.
#
# The map's radius is a factor times the map's spread of reference positions around the reported position;
# the factor is the 90 % quantile of (error / spread) of the training cells mapped onto each other
# leave-one-out. Held-out cells of the same data set are exchangeable with these, so their regions cover
# ~90 % of them (bench/RESULTS-scrna.md reports the coverage on every shared set).
#
# The mean of the encoder's and the map's positions has its own factor, calibrated the same way on training
# cells whose encoder position is honest (from a model that did not train on them): the fit's validation
# cells (mapped leave-one-out, like the map's calibration), or in fits without them (below 2000 training
# cells by default) a cross-fit: the training cells in CROSSFIT_FOLDS folds, each fold placed by a model
# fitted without it and mapped onto the cells that model trained on (bench/RESULTS-scrna.md, session 10: the
# earlier model of the mean's error from the readouts' disagreement and an encoder/map error ratio left
# 15/16 shared sets within 0.85-0.95, this 16/16).

# Radius of the 90 % region around reported positions `pos` (`mapped`: map_cells()' result, which holds the
# moments).
uncertainty_radius <- function(model, mapped, pos, placement = "map", encoder = NULL) {
  spread <- map_spread(mapped, pos)
  if (placement == "mean" && is.numeric(model$radius_mean_factor) && is.finite(model$radius_mean_factor)) {
    return(model$radius_mean_factor * spread)
  }
  radius <- model$radius_factor * spread
  if (placement == "mean") radius <- radius * mean_shrink(model, mapped, encoder)
  radius
}

# Without a calibrated factor for the mean (fits too small to cross-fit, or saved by dpvae < 0.3): the mean
# placement's radius over the map's, from E|mean error|^2 = (E|e_enc|^2 + E|e_map|^2) / 2 - E|d|^2 / 4 with d
# the readouts' disagreement on the query's own cells and E|e_enc|^2 = kappa E|e_map|^2 (kappa stored by
# dpvae 0.2 fits, else 1). Bounded below by 1/2 and above by perfectly correlated errors, (1 + sqrt(kappa)) / 2,
# also the answer for fewer than MEAN_SHRINK_MIN_CELLS cells.
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
  truth <- coords[rows, , drop = FALSE]
  mapped <- map_onto_cells(profiles[rows, , drop = FALSE], profiles[rows, , drop = FALSE], truth, sections[rows],
                           self = seq_along(rows), call = call)
  list(rows = rows, coords = mapped$coords, spread = mapped$spread, truth = truth)
}

# Profiles `q` mapped onto reference profiles `r` (positions `coords`, sections or NULL; `self`: as in
# transport_support()): the map's positions and spreads.
map_onto_cells <- function(q, r, coords, sections = NULL, self = NULL, call = rlang::caller_call()) {
  support <- transport_support(q, r, self = self, call = call)
  eps <- MAP_EPSILON * typical_cost(q, r)
  plan <- one_section(sinkhorn_map(support, nrow(q), nrow(r), eps), sections, support, eps)
  moments <- plan_moments(plan, coords)
  list(coords = moments$coords, spread = map_spread(moments, moments$coords))
}

# `factor`: the 90 % quantile of error / spread over the leave-one-out rows; `rms`: its root mean square.
calibrate_radius <- function(loo) {
  none <- c(factor = NA_real_, rms = NA_real_)
  if (is.null(loo) || !any(loo$spread > 0)) return(none)
  ok <- loo$spread > 0
  ratio <- sqrt(rowSums((loo$coords[ok, , drop = FALSE] - loo$truth[ok, , drop = FALSE])^2)) / loo$spread[ok]
  c(factor = unname(stats::quantile(ratio, 0.9)), rms = sqrt(mean(ratio^2)))
}

# The 90 % quantile of (error / spread around the mean placement) over cells with an honest encoder position
# (`honest`: encoder and map positions, the map's spread and the true positions), or NA with fewer than
# MEAN_SHRINK_MIN_CELLS of them.
calibrate_mean_radius <- function(honest) {
  if (is.null(honest)) return(NA_real_)
  spread <- sqrt(honest$spread^2 + rowSums((honest$encoder - honest$map)^2) / 4)
  ok <- which(spread > 0 & stats::complete.cases(honest$encoder, honest$map))
  if (length(ok) < MEAN_SHRINK_MIN_CELLS) return(NA_real_)
  error <- sqrt(rowSums(((honest$encoder + honest$map) / 2 - honest$truth)^2))
  unname(stats::quantile(error[ok] / spread[ok], 0.9))
}

# The fit's validation cells (`res$validation`, rows of the training cells; `pred`: the fit's encoder
# positions) among the leave-one-out calibration's rows, or NULL with fewer than MEAN_SHRINK_MIN_CELLS.
validation_honest <- function(loo, res, pred) {
  if (is.null(loo)) return(NULL)
  at <- match(res$validation, loo$rows)
  keep <- which(!is.na(at))
  if (length(keep) < MEAN_SHRINK_MIN_CELLS) return(NULL)
  at <- at[keep]
  list(encoder = pred$coords[res$validation[keep], , drop = FALSE], map = loo$coords[at, , drop = FALSE],
       spread = loo$spread[at], truth = loo$truth[at, , drop = FALSE])
}

# Cross-fit of a fit without validation cells: every CROSSFIT_FOLDS-th training cell forms a fold; folds are
# refitted until at least CROSSFIT_CELLS cells (or all) have an honest position: up to five more fits on
# 80 % of the cells, fewer above 800 training cells (bench/RESULTS-scrna.md, session 10: 3 folds left the ST
# hippocampus sections nearer the band's edge than 5). Only between CROSSFIT_MIN_CELLS and
# CROSSFIT_MAX_CELLS training cells (larger fits hold out validation cells by default);
# options(dpvae.crossfit = FALSE) turns it off.
CROSSFIT_FOLDS <- 5L
CROSSFIT_CELLS <- 800L
CROSSFIT_MIN_CELLS <- 50L
CROSSFIT_MAX_CELLS <- 4000L
crossfit_folds <- function(n) {
  if (!isTRUE(getOption("dpvae.crossfit", TRUE)) || n < CROSSFIT_MIN_CELLS || n > CROSSFIT_MAX_CELLS) return(0L)
  as.integer(min(CROSSFIT_FOLDS, ceiling(CROSSFIT_FOLDS * CROSSFIT_CELLS / n)))
}

# `refit(keep)`: the encoder's positions of the training cells not in `keep` (logical), from a model fitted
# on those in `keep` as the fit was, or NULL if that fit was interrupted. The held-out cells are mapped onto
# the kept ones, so both readouts work from the same, smaller reference.
crossfit_honest <- function(refit, profiles, coords, sections = NULL, verbose = FALSE, call = rlang::caller_call()) {
  n <- nrow(coords)
  folds <- crossfit_folds(n)
  if (folds == 0L) return(NULL)
  fold <- rep_len(seq_len(CROSSFIT_FOLDS), n)
  if (isTRUE(verbose)) cli::cli_inform("Calibrating the uncertainty: {folds} cross-fit{?s} on {n} training cells.")
  parts <- vector("list", folds)
  for (k in seq_len(folds)) {
    keep <- fold != k
    encoder <- refit(keep)
    if (is.null(encoder)) {
      cli::cli_warn(c("The uncertainty's cross-fit was interrupted; the model is complete without it.",
                      i = "The mean placement's radius then follows the readouts' disagreement (see {.fn dpvae_reconstruct})."),
                    class = "dpvae_warning_interrupted")
      return(NULL)
    }
    mapped <- map_onto_cells(profiles[!keep, , drop = FALSE], profiles[keep, , drop = FALSE],
                             coords[keep, , drop = FALSE], sections[keep], call = call)
    parts[[k]] <- list(encoder = encoder, map = mapped$coords, spread = mapped$spread,
                       truth = coords[!keep, , drop = FALSE])
  }
  lapply(stats::setNames(nm = names(parts[[1]])), function(nm) do.call(rbind_or_c, lapply(parts, `[[`, nm)))
}
rbind_or_c <- function(...) if (is.matrix(..1)) rbind(...) else c(...)
