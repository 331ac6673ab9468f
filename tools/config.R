# Run by ./configure: check the Rust toolchain, find libtorch, write src/Makevars.
source("tools/msrv.R")
source("tools/libtorch.R")

check_rust()

libtorch <- find_libtorch()
if (!nzchar(libtorch)) {
  stop(paste(
    "dpvae needs libtorch ", TORCH_VERSION, " and could not find or download it.",
    "Do one of:",
    "  * set LIBTORCH to an unpacked libtorch folder (with lib/ and include/), e.g.",
    "      Sys.setenv(LIBTORCH = '/opt/libtorch'); install.packages('dpvae', type = 'source')",
    sprintf("  * pip install torch==%s   (dpvae then uses Python's copy)", TORCH_VERSION),
    "  * allow this machine to reach files.pythonhosted.org, so the installer can fetch it itself.",
    sep = "\n"
  ), call. = FALSE)
}
libtorch <- normalizePath(libtorch)
libdir <- file.path(libtorch, "lib")

# CUDA builds of libtorch register their kernels from libtorch_cuda: link it even though no
# symbol is referenced directly.
cuda <- file.exists(file.path(libdir, "libtorch_cuda.so"))
torch_libs <- paste0(
  "-Wl,--disable-new-dtags -Wl,-rpath,", libdir, " -L", libdir,
  if (cuda) " -Wl,--push-state,--no-as-needed -ltorch_cuda -Wl,--pop-state" else "",
  " -ltorch_cpu -lc10 -lstdc++"
)
message("dpvae: linking libtorch from ", libtorch, if (cuda) " (with CUDA)" else " (CPU only)")

mk <- readLines("src/Makevars.in")
mk <- gsub("@LIBTORCH@", libtorch, mk, fixed = TRUE)
mk <- gsub("@TORCH_LIBS@", torch_libs, mk, fixed = TRUE)
writeLines(mk, "src/Makevars")
