# The cell -> location map of a query data set (e.g. scRNA-seq) onto the model's training cells: entropic
# optimal transport between the two data sets' expression profiles, on a sparse support (each cell's and each
# location's nearest partners), so memory grows linearly with cells. Each data set is standardised with its
# own gene means and sds: platform-wide gene biases (capture, depth, spot mixing) cancel, which the encoder,
# trained on one platform, cannot undo (bench/RESULTS-scrna.md). Query positions are map-weighted means of the
# reference positions. The out-of-reference score comes from the same profiles.

# Partners per cell and per location in the transport support.
MAP_NEIGHBOURS <- 50L
# Entropic regularisation as a fraction of the median cost between random cell-location pairs; chosen on the
# scRNA-seq benchmark (bench/RESULTS-scrna.md: the best or within 0.006 of the best on every case).
MAP_EPSILON <- 0.1
# Weight of the soft location marginal (KL): large = every location receives the same mass (the query covers
# the tissue), small = each cell goes where it fits best regardless of the others.
MAP_TAU <- 1
# Principal axes kept for the profiles of models with more genes (dot products = correlations, approximately).
MAP_AXES <- 50L
# Neighbours for the outlier score.
OUTLIER_NEIGHBOURS <- 10L
# Above this many training cells (option `dpvae.map_locations`) the map places onto this many of them (evenly
# spaced in the training order) and the outlier score compares with as many: finding each cell's partners is
# linear in the query but proportional to the reference as well (a million cells mapped onto a million would
# take hours; onto 50,000, minutes). Every benchmark set is smaller, so its maps are unchanged.
DEFAULT_MAP_LOCATIONS <- 50000L
map_locations_max <- function(call = rlang::caller_call()) {
  size <- getOption("dpvae.map_locations", DEFAULT_MAP_LOCATIONS)
  check_number(size, "options(dpvae.map_locations)", min = 3, integer = TRUE, call = call)
  as.integer(size)
}

# How far a query's gene distribution is from the model's training cells: after the model's standardisation,
# the median |mean| plus the median |log sd| over genes. A random subset of the training data set scores
# ~1.2-1.9 / sqrt(n) (sampling noise); single cells against spots, or another platform, 0.36-4.8
# (bench/RESULTS-scrna.md, "The platform-shift rule"). `placement = "auto"` maps when the shift is beyond noise.
platform_shift <- function(model, x, call = rlang::caller_call()) {
  xs <- apply_preprocess(x, model$preprocess, call = call)
  mv <- row_mean_var(t(xs))
  shift <- stats::median(abs(mv$mean)) + stats::median(abs(log(pmax(sqrt(mv$var), 1e-3))))
  list(shift = shift, threshold = SHIFT_BASE + SHIFT_NOISE / sqrt(nrow(xs)))
}
SHIFT_BASE <- 0.1
SHIFT_NOISE <- 3

# "auto": a reference's query is another data set, always mapped; a model's query is mapped when its genes
# are distributed unlike the training cells', and otherwise (more cells of the training data set) placed at
# the mean of the encoder's and the map's positions, better than the encoder on 13 and than the map on 12 of
# the 16 shared sets (bench/RESULTS-scrna.md).
choose_placement <- function(placement, from_reference, model, x, call = rlang::caller_call()) {
  if (placement != "auto") return(placement)
  if (from_reference) return("map")
  s <- platform_shift(model, x, call = call)
  if (s$shift > s$threshold) "map" else "mean"
}

# The reported positions of a placement: the encoder's, the map's, or their mean (NA where the map has none).
placed_positions <- function(placement, encoder, mapped) {
  switch(placement, encoder = encoder, map = mapped$coords, mean = (encoder + mapped$coords) / 2)
}

latent_neighbours <- function(query, reference, k, exclude_self = FALSE, num.threads = 1L, call = rlang::caller_call()) {
  storage.mode(query) <- "double"
  storage.mode(reference) <- "double"
  rust_result(nearest_rows_impl(query, reference, as.integer(k), exclude_self, as.integer(num.threads)), call = call)
}

# Cells x genes standardised values -> unit-length, centred rows (dot product = Pearson correlation).
# A cell with no variation across the genes (e.g. no counts) gets an NA row.
unit_profiles <- function(xs) {
  xs <- xs - rowMeans(xs)
  len <- sqrt(rowSums(xs^2))
  xs / ifelse(len > 0, len, NA_real_)
}

# Stored in the model at fit time: the training cells' profiles (from expression_source(), a block at a
# time), on at most MAP_AXES principal axes.
map_atlas <- function(source) {
  rotation <- NULL
  if (source$genes > MAP_AXES) {
    # uncentred axes of (up to 5000) profiles: they keep dot products, not variances
    rows <- evenly_spaced(source$n, min(source$n, 5000L))
    rotation <- top_axes(crossprod(atlas_profiles(source$rows(rows))), MAP_AXES)
  }
  parts <- lapply(seq_len(source$blocks), function(b) onto_axes(atlas_profiles(source$fetch(b)), rotation)) # fetch() collects between blocks
  profiles <- do.call(rbind, parts)
  rownames(profiles) <- source$names
  list(profiles = profiles, rotation = rotation)
}

# The k leading eigenvectors of a symmetric positive semi-definite matrix. A full eigen() of the genes x genes
# matrix took most of a fit's fixed cost at 2000 genes (2.6-9 s for 50 of 2000 vectors); Lanczos
# (RSpectra::eigs_sym, deterministic, leaves R's random stream alone) gives the same subspace (projector
# within ~1e-13) in a fraction of it. Small matrices keep eigen(): as fast there, and exactly as before.
LANCZOS_MIN_GENES <- 500L
top_axes <- function(cp, k) {
  if (ncol(cp) < LANCZOS_MIN_GENES) return(eigen(cp, symmetric = TRUE)$vectors[, seq_len(k), drop = FALSE])
  RSpectra::eigs_sym(cp, k, which = "LA")$vectors
}

# Training cells' profiles: a cell without variation is the zero profile (it matches nothing).
atlas_profiles <- function(xs) {
  prof <- unit_profiles(xs)
  prof[is.na(prof)] <- 0
  prof
}

# Profiles on the atlas's axes (NULL: kept as they are).
onto_axes <- function(prof, rotation) if (is.null(rotation)) prof else prof %*% rotation

# The query's profiles in the atlas's space, standardised with the query's own gene statistics.
query_profiles <- function(model, x, call = rlang::caller_call()) {
  xs <- apply_preprocess(x, model$preprocess, scaling = "data", call = call)
  blocks <- cell_blocks(nrow(xs), block_cells())
  prof <- do.call(rbind, lapply(seq_along(blocks), function(b) {
    if (b > 1L) between_blocks()
    onto_axes(unit_profiles(xs[blocks[[b]], , drop = FALSE]), model$atlas$rotation)
  }))
  rownames(prof) <- rownames(xs)
  # a cell with nothing measured on these genes has no profile, whatever standardising makes of it
  genes <- intersect(model$preprocess$genes, rownames(x))
  prof[Matrix::colSums(abs(x[genes, , drop = FALSE])) == 0, ] <- NA
  prof
}

# Sparse support: each query cell's and each location's MAP_NEIGHBOURS nearest partners; cost = 1 - r.
# `self`: for each query row, its own row of `r` (NA if none), which is left out (leave-one-out).
transport_support <- function(q, r, self = NULL, call = rlang::caller_call()) {
  kq <- min(MAP_NEIGHBOURS, nrow(r) - !is.null(self))
  kr <- min(MAP_NEIGHBOURS, nrow(q) - !is.null(self))
  a <- latent_neighbours(q, r, kq, call = call)
  b <- latent_neighbours(r, q, kr, call = call)
  i <- c(rep(seq_len(nrow(q)), kq), as.vector(b$index))
  j <- c(as.vector(a$index), rep(seq_len(nrow(r)), kr))
  cost <- c(as.vector(a$distance), as.vector(b$distance))^2 / 2
  keep <- !duplicated(i + (j - 1) * nrow(q)) # one number per pair (duplicated() on a matrix pastes strings)
  if (!is.null(self)) keep <- keep & (is.na(self[i]) | self[i] != j)
  list(i = i[keep], j = j[keep], cost = cost[keep])
}

# Median cost of random cell-location pairs: the unit of the entropic regularisation.
typical_cost <- function(q, r, n = 20000L) {
  pairs <- with_seed(1L, cbind(sample.int(nrow(q), n, TRUE), sample.int(nrow(r), n, TRUE)))
  cost <- rowSums((q[pairs[, 1], , drop = FALSE] - r[pairs[, 2], , drop = FALSE])^2) / 2
  max(stats::median(cost), 1e-6)
}

# Evaluates `expr` with R's generator seeded, then puts the user's generator state back.
with_seed <- function(seed, expr) {
  had <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  old <- if (had) get(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit(if (had) assign(".Random.seed", old, envir = globalenv()) else rm(".Random.seed", envir = globalenv()))
  set.seed(seed)
  expr
}

# Unbalanced Sinkhorn (rows exact, columns KL-penalised with weight MAP_TAU) on the sparse support.
sinkhorn_map <- function(support, nq, nr, eps, max_iter = 1000L, tol = 1e-4) {
  kern <- Matrix::sparseMatrix(i = support$i, j = support$j, x = exp(-(support$cost - min(support$cost)) / eps),
                               dims = c(nq, nr))
  a <- rep(1 / nq, nq)
  b <- rep(1 / nr, nr)
  power <- MAP_TAU / (MAP_TAU + eps)
  v <- rep(1, nr)
  for (it in seq_len(max_iter)) {
    u <- a / as.vector(kern %*% v)
    v_new <- (b / as.vector(Matrix::crossprod(kern, u)))^power
    done <- max(abs(v_new - v) / v) < tol
    v <- v_new
    if (done) break
  }
  plan <- Matrix::Diagonal(x = u) %*% kern %*% Matrix::Diagonal(x = v)
  plan <- Matrix::Diagonal(x = 1 / Matrix::rowSums(plan)) %*% plan
  methods::as(plan, "CsparseMatrix")
}

# Everything placing a query data set by the map gives: the map (cells x training cells, rows sum to 1),
# positions, and the out-of-reference score. Cells without a profile (no counts on the genes) get NA.
map_cells <- function(model, x, warn_empty = TRUE, call = rlang::caller_call()) {
  if (is.null(model$atlas)) {
    dpvae_abort(c("This model has no reference profiles for the cell -> location map.",
                  i = "It was fitted with dpvae < 0.2; refit it with {.fn dpvae_fit}."), kind = "model", call = call)
  }
  prof <- query_profiles(model, x, call = call)
  ok <- stats::complete.cases(prof)
  if (!any(ok)) {
    dpvae_abort("None of the {nrow(prof)} cells has expression on the model's genes.", call = call)
  }
  if (!all(ok) && warn_empty) {
    cli::cli_warn(c("{sum(!ok)} cell{?s} without expression on the model's genes {?gets/get} no position (NA).",
                    i = "First: {.val {utils::head(rownames(prof)[!ok], 3)}}."), class = "dpvae_warning_empty_cells")
  }
  loc <- map_locations(model, call)
  ref <- model$atlas$profiles
  if (length(loc) < nrow(ref)) ref <- ref[loc, , drop = FALSE]
  self <- match(colnames(x), model$train_cells[loc]) # training cells are mapped leave-one-out
  support <- transport_support(prof[ok, , drop = FALSE], ref, self = if (!all(is.na(self))) self[ok], call = call)
  eps <- MAP_EPSILON * typical_cost(prof[ok, , drop = FALSE], ref)
  plan <- Matrix::summary(one_section(sinkhorn_map(support, sum(ok), nrow(ref), eps), model$sections[loc], support, eps))
  # rows of cells without a profile stay empty
  map <- Matrix::sparseMatrix(i = which(ok)[plan$i], j = plan$j, x = plan$x, dims = c(nrow(prof), nrow(ref)),
                              dimnames = list(rownames(prof), model$train_cells[loc]))
  moments <- plan_moments(map, model$train_coords[loc, , drop = FALSE])
  moments$coords[!ok, ] <- NA
  moments$second[!ok] <- NA
  list(map = map, coords = moments$coords, second = moments$second,
       outlier_score = outlier_score(model, prof, call = call))
}

# The training cells the map places onto: all of them, or map_locations_max() evenly spaced.
map_locations <- function(model, call = rlang::caller_call()) {
  n <- length(model$train_cells)
  evenly_spaced(n, min(n, map_locations_max(call)))
}

# With several reference sections (a group mask) a cell lies in one of them: its map keeps the section its
# expression resembles most (the sum of its transport-kernel weights exp(-cost / eps) over its candidate
# partners in each section), renormalised. Both alternatives were measured wrong on a tissue split into two
# sections (tests/testthat/test-sections.R): a mean over sections puts cells between them, where there is no
# tissue, and the section receiving most transported mass follows the location marginal, not the cell.
one_section <- function(map, sections, support, eps) {
  if (is.null(sections) || length(unique(sections)) < 2L) return(map)
  f <- factor(sections)
  weight <- exp(-(support$cost - min(support$cost)) / eps)
  votes <- Matrix::sparseMatrix(i = support$i, j = as.integer(f)[support$j], x = weight,
                                dims = c(nrow(map), nlevels(f)))
  best <- max.col(as.matrix(votes), ties.method = "first")
  entries <- Matrix::summary(methods::as(map, "TsparseMatrix"))
  keep <- as.integer(f)[entries$j] == best[entries$i]
  kept <- Matrix::sparseMatrix(i = entries$i[keep], j = entries$j[keep], x = entries$x[keep], dims = dim(map),
                               dimnames = dimnames(map))
  total <- Matrix::rowSums(kept)
  out <- Matrix::Diagonal(x = ifelse(total > 0, 1 / total, 0)) %*% kept
  dimnames(out) <- dimnames(map)
  out
}

# Map-weighted first and second moments of the reference positions: each cell's position (cells x dims) and
# mean squared norm of the positions it maps to (the spread around any point follows from both).
plan_moments <- function(plan, coords) {
  list(coords = as.matrix(plan %*% coords), second = as.vector(plan %*% rowSums(coords^2)))
}

# Root mean squared distance of the mapped reference positions from the points `pos`.
map_spread <- function(moments, pos) {
  sqrt(pmax(moments$second - 2 * rowSums(pos * moments$coords) + rowSums(pos^2), 0))
}

# How unlike the reference a query cell is, relative to how like the query's other cells it is: the mean
# squared profile distance (each data set standardised on its own) to the OUTLIER_NEIGHBOURS nearest
# reference cells over that to the nearest other query cells, drawn from equal numbers of each (so that the
# ratio does not depend on the sizes; at most map_locations_max() of each). A cell type the reference lacks
# has close neighbours in the query and none in the reference: a high score. A cell is never its own neighbour (training cells in self mode).
# Absolute distances were tried and separate related tissues poorly (bench/RESULTS-scrna.md).
outlier_score <- function(model, prof, call = rlang::caller_call()) {
  score <- stats::setNames(rep(NA_real_, nrow(prof)), rownames(prof))
  ok <- which(stats::complete.cases(prof))
  ref <- model$atlas$profiles
  m <- min(length(ok), nrow(ref), map_locations_max(call))
  k <- min(OUTLIER_NEIGHBOURS, m - 2L)
  if (k < 1L) return(score)
  q <- prof[ok, , drop = FALSE]
  ref_rows <- evenly_spaced(nrow(ref), m)
  query_rows <- evenly_spaced(length(ok), m)
  own_ref <- match(rownames(q), model$train_cells) # a training cell leaves itself out of the reference
  to_ref <- nearest_but_self(q, ref[ref_rows, , drop = FALSE], ref_rows, own_ref, k, call)
  to_query <- nearest_but_self(q, q[query_rows, , drop = FALSE], query_rows, seq_along(ok), k, call)
  score[ok] <- rowMeans(to_ref^2) / pmax(rowMeans(to_query^2), .Machine$double.eps)
  score
}

# `m` row numbers spread evenly over 1..n.
evenly_spaced <- function(n, m) unique(round(seq(1, n, length.out = m)))

# Distances (n x k) from each row of `q` to its k nearest rows of `pool`, skipping the pool row that is the
# cell itself (`pool_ids[index] == own`).
nearest_but_self <- function(q, pool, pool_ids, own, k, call) {
  nb <- latent_neighbours(q, pool, min(k + 1L, nrow(pool)), call = call)
  is_self <- matrix(pool_ids[nb$index], nrow(nb$index)) == own
  is_self[is.na(is_self)] <- FALSE
  t(vapply(seq_len(nrow(q)), function(i) nb$distance[i, !is_self[i, ]][seq_len(k)], numeric(k))) |>
    matrix(nrow = nrow(q))
}

#' Project query genes onto reference locations through a cell -> location map
#'
#' Each reference location gets the map-weighted mean of the query cells'
#' expression, as Tangram's `project_genes` does with its map: with `map`
#' (cells x locations, from `attr(result, "dpvae_map")`, `Misc(obj,
#' "dpvae_map")`, `metadata(sce)$dpvae_map` or `predict(model, newdata,
#' type = "map")`) and the query's expression (genes x cells), the result is
#' genes x locations. Locations no cell was mapped to are `NA`. Pass cell-type
#' indicators (e.g. `t(model.matrix(~ 0 + cell_type))`) as `expression` to get
#' each location's cell-type composition.
#'
#' @param map A cells x locations (sparse) matrix whose rows sum to 1.
#' @param expression Genes (or any features) x cells, columns in the map's
#'   row order (matched by name when both have names).
#' @return A dense genes x locations matrix.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' train <- seq(1, ncol(mob$counts), by = 2)
#' fit <- dpvae_fit(mob$counts[, train], mob$coords[train, ], epochs = 50, seed = 1, verbose = FALSE)
#' held <- mob$counts[, -train]
#' map <- predict(fit, held, type = "map")
#' genes <- project_genes(map, log1p(held[c("Penk", "Doc2g"), ]))
#' dim(genes)
project_genes <- function(map, expression) {
  if (!methods::is(map, "Matrix") && !is.matrix(map)) {
    dpvae_abort("{.arg map} must be a cells x locations matrix, such as {.code predict(model, x, type = \"map\")}.")
  }
  if (!methods::is(expression, "Matrix") && !is.matrix(expression)) {
    dpvae_abort("{.arg expression} must be a genes x cells matrix or dgCMatrix.")
  }
  if (!is.null(rownames(map)) && !is.null(colnames(expression))) {
    idx <- match(rownames(map), colnames(expression))
    if (anyNA(idx)) {
      dpvae_abort(c("{sum(is.na(idx))} cell{?s} of {.arg map} {?is/are} not columns of {.arg expression}.",
                    i = "Give the expression of the cells that were mapped, genes x cells."))
    }
    expression <- expression[, idx, drop = FALSE]
  } else if (ncol(expression) != nrow(map)) {
    dpvae_abort("{.arg expression} has {ncol(expression)} cells but {.arg map} has {nrow(map)}.")
  }
  mass <- Matrix::colSums(map)
  out <- as.matrix(expression %*% map) %*% diag(ifelse(mass > 0, 1 / mass, NA_real_), length(mass))
  dimnames(out) <- list(rownames(expression), colnames(map))
  out
}
