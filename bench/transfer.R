#!/usr/bin/env Rscript
# Section -> section transfer (issue 4): a dp-VAE fitted on one whole section predicts the cells of another,
# zero-shot and after dpvae_finetune() on a seeded random 10 % of the target section, beside the
# expression-kNN baseline of ../shared/reference/knn_baseline.py (as in bench/accuracy.R).
#
# usage: Rscript bench/transfer.R OUT.csv SEEDS [CONFIG [FINETUNE]]
#   SEEDS     comma-separated integers (target split seed; the fit and fine-tune seeds are the same number)
#   CONFIG    dpvae_fit() arguments as R code for the source fit and the 10 %-only fit, e.g. "lambda = 0";
#             "default" (the default) = the package defaults.
#   FINETUNE  dpvae_finetune() arguments as R code, e.g. "epochs = 300"; "default" (the default) = its defaults.
# Env: DPVAE_THREADS (default 1), DPVAE_DATA (default /work/shared/data), DPVAE_LIB (library to load dpvae
#      from), DPVAE_DIRECTIONS (comma-separated SOURCE:TARGET pairs; default the four below).
#
# Per (direction, seed) the rows of OUT.csv (column `method`), all scored against the target's true
# coordinates with procrustes_distance() and the Pearson correlation of pairwise distances:
#   on all target cells ("all"):
#     zeroshot        dpvae_fit() on the whole source section, predict() on every target cell
#     knn_src         kNN trained on the source section
#   on the 90 % of target cells not used for fine-tuning ("rest90"); set.seed(seed), 10 % drawn by sample.int:
#     zeroshot        the same source model
#     finetune        the source model after dpvae_finetune() on the 10 %
#     target10        dpvae_fit() on the 10 % only (what the 10 % alone give)
#     knn_src         kNN trained on the source section
#     knn_src_tgt10   kNN trained on source + the 10 %; source coordinates first moved onto the target frame
#                     by the rigid transform (rotation/reflection + translation, same units) that best maps
#                     the source-kNN predictions of the 10 % onto their true positions
#     knn_src_tgt10_raw  the same without that alignment (source and target frames mixed as given)
#     knn_tgt10       kNN trained on the 10 % only
# Genes: both sections are restricted to the genes they share (as the reference's transfer mode does); the
# stutility_hippo sections share all 10000, paste_breast s1/s2 7224 of 7998 / 7713. under_tissue == 1 filter
# where the set has that column (stutility_*).
suppressPackageStartupMessages({
  lib <- Sys.getenv("DPVAE_LIB")
  if (nzchar(lib)) library(dpvae, lib.loc = lib) else library(dpvae)
  library(Matrix)
})
args <- commandArgs(TRUE)
if (length(args) < 2) stop("usage: transfer.R OUT.csv SEEDS [CONFIG [FINETUNE]]")
out <- args[1]
seeds <- as.integer(strsplit(args[2], ",")[[1]])
config <- if (length(args) >= 3) args[3] else "default"
ft_config <- if (length(args) >= 4) args[4] else "default"
root <- Sys.getenv("DPVAE_DATA", "/work/shared/data")
threads <- as.integer(Sys.getenv("DPVAE_THREADS", "1"))
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "bench_data.R"))
dirs <- Sys.getenv("DPVAE_DIRECTIONS", paste(
  "stutility_hippo_s1:stutility_hippo_s2", "stutility_hippo_s2:stutility_hippo_s1",
  "paste_breast_s1:paste_breast_s2", "paste_breast_s2:paste_breast_s1", sep = ","))
dirs <- lapply(strsplit(strsplit(dirs, ",")[[1]], ":"), function(p) list(source = p[1], target = p[2]))
tune_frac <- 0.1
as_args <- function(cfg) if (cfg == "default") list() else eval(parse(text = paste0("list(", cfg, ")")))

# kNN on a pool of source and target cells: `train_src` / `train_tgt` / `test_tgt` index the two sets;
# `src_xy` replaces the source coordinates (e.g. aligned onto the target frame).
knn_pool <- function(src, tgt, train_src, train_tgt, test_tgt, src_xy = src$xy) {
  s <- list(X = cbind(src$X[, train_src, drop = FALSE], tgt$X[, c(train_tgt, test_tgt), drop = FALSE]),
            xy = rbind(src_xy[train_src, , drop = FALSE], tgt$xy[c(train_tgt, test_tgt), , drop = FALSE]),
            is_count = src$is_count && tgt$is_count)
  ntr <- length(train_src) + length(train_tgt)
  knn_baseline(s, list(train = seq_len(ntr), test = ntr + seq_along(test_tgt)))
}

# Rigid transform (orthogonal incl. reflection, + translation; no scaling: same units) mapping `from` onto `to`.
rigid_fit <- function(from, to) {
  mf <- colMeans(from)
  mt <- colMeans(to)
  sv <- svd(crossprod(sweep(from, 2, mf), sweep(to, 2, mt)))
  R <- sv$u %*% t(sv$v)
  function(p) sweep(sweep(p, 2, mf) %*% R, 2, mt, "+")
}

# Run `expr`, collecting the package's warnings (logged, and their messages returned) instead of printing.
with_warnings <- function(expr, what) {
  w <- character()
  val <- withCallingHandlers(expr, warning = function(cnd) {
    w <<- c(w, paste0("[", class(cnd)[1], "] ", conditionMessage(cnd)))
    message("WARNING (", what, "): ", class(cnd)[1], ": ", conditionMessage(cnd))
    invokeRestart("muffleWarning")
  })
  list(value = val, warnings = paste(unique(w), collapse = " | "))
}

score <- function(truth, pred) {
  c(procrustes = procrustes_distance(truth, pred), dist_pearson = dist_cor(truth, pred))
}

fit_args <- utils::modifyList(list(num.threads = threads, verbose = FALSE), as_args(config))
ft_args <- utils::modifyList(list(num.threads = threads, verbose = FALSE), as_args(ft_config))

for (d in dirs) {
  src <- load_set(d$source)
  tgt <- load_set(d$target)
  genes <- intersect(rownames(src$X), rownames(tgt$X))
  src$X <- src$X[genes, , drop = FALSE]
  tgt$X <- tgt$X[genes, , drop = FALSE]
  nt <- nrow(tgt$xy)
  direction <- paste0(d$source, "->", d$target)
  for (seed in seeds) {
    base <- data.frame(direction = direction, source = d$source, target = d$target, seed = seed,
                       config = config, finetune = ft_config, n_source = nrow(src$xy), n_target = nt,
                       genes_common = length(genes))
    emit <- function(method, eval_on, truth, pred, seconds = NA, epochs_run = NA, best_epoch = NA,
                     n_train = NA, warnings = "", extra = "") {
      sc <- if (is.null(pred)) c(procrustes = NA, dist_pearson = NA) else score(truth, pred)
      write_row(cbind(base, data.frame(method = method, eval_on = eval_on, n_train = n_train, n_eval = nrow(truth),
                                       procrustes = sc[["procrustes"]], dist_pearson = sc[["dist_pearson"]],
                                       seconds = seconds, epochs_run = epochs_run, best_epoch = best_epoch,
                                       warnings = warnings, note = extra)))
      message(sprintf("%s seed %d %-18s [%s]: Procrustes %.3f, dist r %.3f, %s s, %s epochs", direction, seed,
                      method, eval_on, sc[["procrustes"]], sc[["dist_pearson"]],
                      if (is.na(seconds)) "-" else sprintf("%.1f", seconds), epochs_run))
    }
    safely <- function(what, expr) tryCatch(expr, error = function(e) {
      message("ERROR (", direction, " seed ", seed, " ", what, "): ", conditionMessage(e))
      NULL
    })

    # split of the target: 10 % for fine-tuning, 90 % scored
    set.seed(seed)
    tune <- sort(sample.int(nt, round(tune_frac * nt)))
    rest <- setdiff(seq_len(nt), tune)
    truth_all <- tgt$xy
    truth_rest <- tgt$xy[rest, , drop = FALSE]

    # source model and zero-shot prediction
    fit <- safely("fit", with_warnings(do.call(dpvae_fit, c(list(src$X, src$xy), utils::modifyList(fit_args, list(seed = seed)))), "fit"))
    zs <- if (!is.null(fit)) safely("predict", with_warnings(predict(fit$value, tgt$X, type = "coords"), "predict"))
    if (!is.null(fit) && !is.null(zs)) {
      m <- fit$value
      w <- paste(setdiff(c(fit$warnings, zs$warnings), ""), collapse = " | ")
      note <- sprintf("c = %.3f; train Procrustes %.3f", m$scale, procrustes_distance(src$xy, m$fitted_coords))
      emit("zeroshot", "all", truth_all, zs$value, m$seconds, m$epochs_run, m$best_epoch, nrow(src$xy), w, note)
      emit("zeroshot", "rest90", truth_rest, zs$value[rest, , drop = FALSE], m$seconds, m$epochs_run, m$best_epoch,
           nrow(src$xy), w, note)
    }

    # fine-tuned on the 10 %
    if (!is.null(fit)) {
      t0 <- proc.time()[["elapsed"]]
      ft <- safely("finetune", with_warnings(do.call(dpvae_finetune, c(list(fit$value, tgt$X[, tune, drop = FALSE],
        tgt$xy[tune, , drop = FALSE]), utils::modifyList(ft_args, list(seed = seed)))), "finetune"))
      pr <- if (!is.null(ft)) safely("predict finetuned", with_warnings(predict(ft$value, tgt$X[, rest, drop = FALSE]), "predict finetuned"))
      if (!is.null(pr)) {
        m <- ft$value
        emit("finetune", "rest90", truth_rest, pr$value, proc.time()[["elapsed"]] - t0, m$epochs_run, m$best_epoch,
             length(tune), paste(setdiff(c(ft$warnings, pr$warnings), ""), collapse = " | "),
             sprintf("c = %.3f; tune-cell Procrustes %.3f", m$scale, procrustes_distance(tgt$xy[tune, , drop = FALSE], m$fitted_coords)))
      }
    }

    # a model fitted on the 10 % only
    t10 <- safely("target10", with_warnings(do.call(dpvae_fit, c(list(tgt$X[, tune, drop = FALSE], tgt$xy[tune, , drop = FALSE]),
                                                               utils::modifyList(fit_args, list(seed = seed)))), "target10"))
    p10 <- if (!is.null(t10)) safely("predict target10", with_warnings(predict(t10$value, tgt$X[, rest, drop = FALSE]), "predict target10"))
    if (!is.null(p10)) {
      m <- t10$value
      emit("target10", "rest90", truth_rest, p10$value, m$seconds, m$epochs_run, m$best_epoch, length(tune),
           paste(setdiff(c(t10$warnings, p10$warnings), ""), collapse = " | "), sprintf("c = %.3f", m$scale))
    }

    # expression-kNN baselines
    all_src <- seq_len(nrow(src$xy))
    t0 <- proc.time()[["elapsed"]]
    pk_all <- knn_pool(src, tgt, all_src, integer(), seq_len(nt))
    emit("knn_src", "all", truth_all, pk_all, proc.time()[["elapsed"]] - t0, n_train = nrow(src$xy))
    emit("knn_src", "rest90", truth_rest, pk_all[rest, , drop = FALSE], n_train = nrow(src$xy))
    t0 <- proc.time()[["elapsed"]]
    align <- rigid_fit(pk_all[tune, , drop = FALSE], tgt$xy[tune, , drop = FALSE])
    pk <- knn_pool(src, tgt, all_src, tune, rest, src_xy = align(src$xy))
    emit("knn_src_tgt10", "rest90", truth_rest, pk, proc.time()[["elapsed"]] - t0, n_train = nrow(src$xy) + length(tune))
    pk <- knn_pool(src, tgt, all_src, tune, rest)
    emit("knn_src_tgt10_raw", "rest90", truth_rest, pk, n_train = nrow(src$xy) + length(tune))
    t0 <- proc.time()[["elapsed"]]
    pk <- knn_pool(src, tgt, integer(), tune, rest)
    emit("knn_tgt10", "rest90", truth_rest, pk, proc.time()[["elapsed"]] - t0, n_train = length(tune))
  }
}
