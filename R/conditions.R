# Classed conditions: every error a user can cause is `dpvae_error_<kind>` (and `dpvae_error`),
# with a message that says what to fix.

dpvae_abort <- function(message, kind = "input", ..., call = rlang::caller_call(), .envir = parent.frame()) {
  cli::cli_abort(message, class = c(paste0("dpvae_error_", kind), "dpvae_error"),
                 call = call, .envir = .envir, ...)
}


# Rust shims return a `dpvae_rust_error` record instead of raising; re-raise it classed here.
rust_result <- function(res, call = sys.call(-1)) {
  if (inherits(res, "dpvae_rust_error")) {
    msg <- res$message
    # cli interprets braces; Rust messages are plain text.
    dpvae_abort(gsub("([{}])", "\\1\\1", msg), kind = res$kind, call = call)
  }
  res
}

check_number <- function(x, name, min = -Inf, max = Inf, integer = FALSE, call = rlang::caller_call()) {
  # whole numbers travel to Rust as 32-bit integers unless the caller says otherwise
  if (integer && missing(max)) max <- .Machine$integer.max
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && x >= min && x <= max &&
    (!integer || x == round(x))
  if (!ok) {
    what <- if (integer) "a whole number" else "a number"
    range <- if (is.finite(min) && is.finite(max)) sprintf(" between %s and %s", min, max)
             else if (is.finite(min)) sprintf(" >= %s", min) else ""
    dpvae_abort("{.arg {name}} must be {what}{range}, not {.val {format(x)}}.", call = call)
  }
  invisible(x)
}

# match.arg() with a classed error: `x` is the default vector (take the first) or one of its values; the
# choices are the calling function's default for the argument `name`.
check_choice <- function(x, name, call = rlang::caller_call()) {
  choices <- eval(formals(sys.function(sys.parent()))[[name]])
  if (identical(x, choices)) return(choices[1])
  if (!is.character(x) || length(x) != 1L || !x %in% choices) {
    dpvae_abort("{.arg {name}} must be one of {.val {choices}}, not {.val {format(x)}}.", call = call)
  }
  x
}
