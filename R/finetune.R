#' Fine-tune a fitted dp-VAE on a few cells of a new data set
#'
#' Continues training a model on target cells with known coordinates — the
#' paper's remedy when a model trained on one section is applied to another
#' (zero-shot errors near 1). The target's coordinates must be in the
#' reference's units. Training starts from the model's weights and learned
#' scale c (which keeps adapting unless the model was fitted with a fixed
#' `scale`); the alignment onto the reference frame is re-fitted on the target
#' cells. The genes and preprocessing of the model are reused. The returned
#' weights are those of the epoch with the lowest stress on the target cells
#' (`best_epoch`). On the benchmark's section pairs, 100 epochs on 10 % of the
#' target lowered the error on the other 90 % from 0.71 to 0.58 (30 or 300
#' epochs: within 0.01; `bench/RESULTS-transfer.md`).
#'
#' @param model A `dpvae_model`.
#' @param x Expression of the target cells, genes x cells.
#' @param coords Their coordinates (cells x the model's spatial dims).
#' @param epochs Maximum epochs of further training (no early stopping; the
#'   best epoch by stress on the target cells is kept).
#' @param lr Learning rate (default: the model's).
#' @param lambda,beta Loss weights (default: the model's).
#' @param seed,device,num.threads,verbose As in [dpvae_fit()].
#' @param ... Unused.
#' @return A new `dpvae_model`.
#' @export
#' @examples
#' mob <- dpvae_example_data()
#' fit <- dpvae_fit(mob$counts[, 1:150], mob$coords[1:150, ], epochs = 60, seed = 1, verbose = FALSE)
#' tuned <- dpvae_finetune(fit, mob$counts[, 151:200], mob$coords[151:200, ], epochs = 20, seed = 1, verbose = FALSE)
#' procrustes_distance(mob$coords[201:262, ], predict(tuned, mob$counts[, 201:262]))
dpvae_finetune <- function(model, x, coords, epochs = 100, lr = NULL, lambda = NULL, beta = NULL, ...,
                           seed = NULL, device = "auto", num.threads = NULL, verbose = interactive()) {
  fork_guard()
  rlang::check_dots_empty()
  call <- match.call()
  validate_model(model)
  x <- as_expression(x)
  coords <- as_coords(coords, colnames(x))
  if (ncol(coords) != model$spatial_dims) {
    dpvae_abort("The model was trained on {model$spatial_dims}-D coordinates; {.arg coords} has {ncol(coords)} columns.")
  }
  known <- stats::complete.cases(coords)
  if (sum(known) < 3L) dpvae_abort("Fine-tuning needs at least 3 cells with coordinates; found {sum(known)}.")
  # the model's frame is reused, so the Rust check on new coordinates does not run: check here
  if (all(apply(coords[known, , drop = FALSE], 2, function(v) diff(range(v)) == 0))) {
    dpvae_abort(c("All cells given for fine-tuning have the same coordinates; spatial positions must differ.",
                  i = "Check {.arg coords}: it should hold each cell's own position."))
  }
  cfg <- model$config
  settings <- fit_settings(
    n_genes = length(model$preprocess$genes), hidden = cfg$hidden, latent_dim = cfg$latent_dim,
    lambda = lambda %||% cfg$lambda, beta = beta %||% cfg$beta, alpha = cfg$alpha, dp_loss = cfg$dp_loss,
    dp_latent = cfg$dp_latent %||% "mean",
    epochs = epochs, lr = lr %||% cfg$lr, warmup = 0, patience = 0, seed = seed, num.threads = num.threads,
    spatial_dims = model$spatial_dims, likelihood = cfg$likelihood, batch_size = cfg$batch_size,
    validation = 0, scale = cfg$scale, n_train = sum(known)
  )
  settings$rust$n_genes <- length(model$preprocess$genes)
  settings$rust$half_input <- half_input(sum(known), length(model$preprocess$genes), call = call)
  settings$rust$bf16_products <- bf16_products(settings$rust, sum(known), call = call)
  settings$mask <- "all pairs"
  xt <- if (all(known)) x else x[, known, drop = FALSE]
  check_new_expression(xt, model$preprocess, call = call)
  data <- training_data(xt, model$preprocess, cfg$likelihood)
  train_model(data, coords[known, , drop = FALSE], NULL, settings, model$preprocess, device = device,
              verbose = verbose, call = call, init = model$weights, frame_json = model$frame_json, x = xt,
              preprocess = function(xk) model$preprocess)
}
