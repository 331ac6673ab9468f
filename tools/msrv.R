# Check that cargo and rustc exist and are new enough; say what to do when not.
check_rust <- function(msrv = "1.75.0") {
  cargo_home <- Sys.getenv("CARGO_HOME", file.path(Sys.getenv("HOME"), ".cargo"))
  Sys.setenv(PATH = paste(Sys.getenv("PATH"), file.path(cargo_home, "bin"), sep = .Platform$path.sep))
  rustc <- Sys.which("rustc")
  if (!nzchar(rustc) || !nzchar(Sys.which("cargo"))) {
    stop("dpvae needs the Rust toolchain (cargo, rustc >= ", msrv, "). ",
         "Install it from https://rustup.rs (or apt install cargo) and try again.", call. = FALSE)
  }
  v <- sub("^rustc ([0-9.]+).*$", "\\1", system2(rustc, "--version", stdout = TRUE)[[1]])
  if (utils::compareVersion(v, msrv) < 0) {
    stop("dpvae needs rustc >= ", msrv, " but found ", v, ". Run `rustup update`.", call. = FALSE)
  }
  message("dpvae: using rustc ", v)
}
