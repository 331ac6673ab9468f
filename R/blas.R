# R's BLAS kernels. Inside R, libtorch's matrix products run on R's BLAS (the dynamic linker binds them to
# the BLAS R loaded first). Debian's OpenBLAS falls back to generic "Prescott" kernels on virtual CPUs it
# does not recognise, which made training 3x slower on fresh cloud machines (bench/RESULTS-speed.md). At
# load time dpvae switches such an OpenBLAS to the kernels the CPU supports, unless the user chose kernels
# (OPENBLAS_CORETYPE) or opted out (option `dpvae.tune_blas = FALSE` or DPVAE_TUNE_BLAS=0 before loading).

blas_state <- new.env(parent = emptyenv())

tune_blas <- function() {
  blas_state$retuned_from <- NULL
  if (nzchar(Sys.getenv("OPENBLAS_CORETYPE")) || identical(Sys.getenv("DPVAE_TUNE_BLAS"), "0") ||
      isFALSE(getOption("dpvae.tune_blas"))) {
    return(invisible(NULL))
  }
  state <- blas_core_impl()
  if (!isTRUE(state$generic)) return(invisible(NULL))
  now <- blas_retune_impl(state$suited)
  if (identical(now, state$suited)) blas_state$retuned_from <- state$core
  invisible(NULL)
}

# What libtorch_info() reports: the kernels of R's OpenBLAS and what dpvae switched them from.
blas_report <- function() {
  state <- blas_core_impl()
  list(blas_core = state$core %||% NA_character_, blas_retuned_from = blas_state$retuned_from %||% NA_character_)
}

blas_startup_message <- function() {
  from <- blas_state$retuned_from
  if (is.null(from)) return(NULL)
  sprintf(paste0("dpvae: R's OpenBLAS ran generic '%s' kernels on this CPU; switched to '%s' (training is ~3x ",
                 "faster). Set OPENBLAS_CORETYPE before starting R to choose, or options(dpvae.tune_blas = FALSE)."),
          from, blas_core_impl()$core)
}
