# Work on cells in blocks: memory holds one block of dense expression at a time, and blocks can go to
# BiocParallel workers (`BPPARAM`). Block boundaries depend only on the number of cells and the option
# `dpvae.block_cells`, never on the workers, so results are the same serially and in parallel.

DEFAULT_BLOCK_CELLS <- 10000L

# Cells per block: option `dpvae.block_cells` (default 10000).
block_cells <- function(call = rlang::caller_call()) {
  size <- getOption("dpvae.block_cells", DEFAULT_BLOCK_CELLS)
  check_number(size, "options(dpvae.block_cells)", min = 1, integer = TRUE, call = call)
  as.integer(size)
}

# Called between blocks: a block's temporaries are garbage, and a collection returns them before
# the next block allocates its own. Left to itself R collects when the heap has grown by a share of its size:
# with a large input, gigabytes of finished blocks.
between_blocks <- function() invisible(gc(verbose = FALSE))

# On-disk input (DelayedArray: HDF5Array, TileDB, ...) is never realised whole: every step reads it in
# blocks of cells through cell_block().
is_delayed <- function(x) methods::is(x, "DelayedArray")

# Cells `cells` of x: x itself when that is all of it; still on disk for a DelayedArray.
subset_cells <- function(x, cells) {
  if (length(cells) == ncol(x) && all(cells == seq_len(ncol(x)))) return(x)
  x[, cells, drop = FALSE]
}

# Cells `cells` of x in memory (a matrix or dgCMatrix). Blocks of a DelayedArray are realised as dgCMatrix,
# so an on-disk copy of a dgCMatrix gives the same numbers as the dgCMatrix itself.
cell_block <- function(x, cells) {
  xb <- subset_cells(x, cells)
  if (is_delayed(xb)) methods::as(xb, "dgCMatrix") else xb
}

# Genes of x in memory: a DelayedArray's rows realised as dgCMatrix (metrics read on-disk input by genes),
# read a block of cells at a time and assembled from the blocks' slots: as(x, "dgCMatrix") on all cells at
# once peaked at ~4x the result (DelayedArray's dense blocks and triplets), this at ~2x. A SnowParam worker
# receives the DelayedArray unrealised: it loads the packages that define its seeds (HDF5Array, ...) first,
# which unserialising does not do.
gene_block <- function(x) {
  if (!isS4(x) || is.matrix(x) || methods::is(x, "dgCMatrix")) return(x)
  load_seed_packages(x)
  pieces <- lapply(cell_blocks(ncol(x), block_cells()), function(cells) cell_block(x, cells))
  bind_cell_blocks(pieces, x)
}

# The cells `cells` (sorted) of a DelayedArray in memory as dgCMatrix, read a block of cells at a time and
# keeping only those: memory grows with the cells asked for, not with x.
cells_in_memory <- function(x, cells) {
  blocks <- cell_blocks(ncol(x), block_cells())
  starts <- vapply(blocks, `[`, 1L, 1L)
  wanted <- split(cells, factor(findInterval(cells, starts), levels = seq_along(blocks)))
  pieces <- lapply(wanted[lengths(wanted) > 0L], function(keep) {
    block <- cell_block(x, keep)
    between_blocks()
    block
  })
  bind_cell_blocks(pieces, x, cells)
}

# One dgCMatrix from dgCMatrix blocks of consecutive cells, assembled slot by slot (cbind() copies more).
bind_cell_blocks <- function(pieces, x, cells = seq_len(ncol(x))) {
  p <- c(0L, cumsum(unlist(lapply(pieces, function(m) diff(m@p)), use.names = FALSE)))
  i <- unlist(lapply(pieces, methods::slot, "i"), use.names = FALSE)
  values <- unlist(lapply(pieces, methods::slot, "x"), use.names = FALSE)
  rm(pieces)
  methods::new("dgCMatrix", Dim = c(nrow(x), length(cells)),
               Dimnames = list(rownames(x), colnames(x)[cells]), p = as.integer(p), i = i, x = values)
}

load_seed_packages <- function(x) {
  loadNamespace("DelayedArray")
  seeds <- unlist(DelayedArray::seedApply(x, function(seed) attr(class(seed), "package")))
  for (pkg in unique(seeds)) loadNamespace(pkg)
}

# Row blocks for the metrics: one per worker in memory; for a DelayedArray, as many as keep each gene block's
# realisation (gene_block(): 24 bytes per non-zero at its peak) within options(dpvae.metric_block_mb) MB
# (default 1000), by the density of the first block of cells. A million cells x 500 genes at 43 % non-zero
# is six blocks, each reading the file once.
DEFAULT_METRIC_BLOCK_MB <- 1000
metric_gene_blocks <- function(x, workers = 1L, call = rlang::caller_call()) {
  n_genes <- nrow(x)
  n_blocks <- min(n_genes, workers)
  budget <- budget_mb("dpvae.metric_block_mb", DEFAULT_METRIC_BLOCK_MB, call = call)
  if (is_delayed(x) && n_genes > 1L && is.finite(budget)) {
    first <- cell_block(x, seq_len(min(ncol(x), block_cells(call = call))))
    density <- Matrix::nnzero(first) / max(1, length(first))
    bytes_per_gene <- 24 * max(density, 1 / ncol(x)) * ncol(x)
    n_blocks <- max(n_blocks, min(n_genes, ceiling(n_genes * bytes_per_gene / (budget * 1e6))))
  }
  if (n_blocks <= 1L) return(list(seq_len(n_genes)))
  split(seq_len(n_genes), cut(seq_len(n_genes), n_blocks, labels = FALSE))
}

# A memory budget in MB from option `name`: a number >= 0, or Inf for no limit.
budget_mb <- function(name, default, call = rlang::caller_call()) {
  budget <- getOption(name, default)
  if (!identical(budget, Inf)) check_number(budget, sprintf("options(%s)", name), min = 0, call = call)
  budget
}

# Consecutive index blocks covering 1..n.
cell_blocks <- function(n, size) {
  if (n == 0L) return(list())
  split(seq_len(n), ceiling(seq_len(n) / size))
}

# NULL, or a BiocParallelParam (BiocParallel installed).
check_bpparam <- function(BPPARAM, call = rlang::caller_call()) {
  if (is.null(BPPARAM)) return(invisible())
  if (!requireNamespace("BiocParallel", quietly = TRUE)) {
    dpvae_abort(c("{.arg BPPARAM} needs the BiocParallel package.",
                  i = "Install it (Bioconductor; Debian: r-bioc-biocparallel), or leave {.arg BPPARAM} NULL."),
                kind = "unsupported", call = call)
  }
  if (!methods::is(BPPARAM, "BiocParallelParam")) {
    dpvae_abort("{.arg BPPARAM} must be a BiocParallel parameter object (e.g. {.code MulticoreParam(2)}), not {.cls {class(BPPARAM)[1]}}.",
                call = call)
  }
  invisible()
}

# `fun(x_block, block_number, ...)` over the column blocks of `x`, serially or with BiocParallel; a list of
# results in block order. `fun` should be a package-level function (a closure would carry its whole
# environment, `x` included, to every worker); each worker receives only its block and `...`.
over_cell_blocks <- function(x, fun, ..., BPPARAM = NULL, call = rlang::caller_call()) {
  blocks <- cell_blocks(ncol(x), block_cells(call = call))
  if (length(blocks) == 1L) return(list(fun(cell_block(x, blocks[[1]]), 1L, ...))) # usually no copy of x
  if (is.null(BPPARAM)) {
    return(lapply(seq_along(blocks), function(b) {
      if (b > 1L) between_blocks()
      fun(cell_block(x, blocks[[b]]), b, ...)
    }))
  }
  parts <- lapply(seq_along(blocks), function(b) list(x = cell_block(x, blocks[[b]]), b = b))
  BiocParallel::bplapply(parts, run_block, fun = fun, ..., BPPARAM = BPPARAM)
}

run_block <- function(part, fun, ...) fun(part$x, part$b, ...)
