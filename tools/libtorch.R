# Find or fetch the libtorch this package links. Sourced by tools/config.R at install time;
# `Rscript tools/libtorch.R` prints the directory it settles on (used by the setup script).
#
# Order: $LIBTORCH; a cached copy in tools::R_user_dir("dpvae", "cache"); a Python torch of the
# pinned version; otherwise download the pinned PyPI wheel (pip when present, else R itself,
# checksum verified) and extract the slim CPU libtorch into the cache.

TORCH_VERSION <- "2.13.0" # tch 0.26.0 expects exactly this libtorch
WHEELS <- list(
  torch = list(
    url = paste0("https://files.pythonhosted.org/packages/01/79/1f2d34ad7034ee1c7ffc1cf8bf0f8213af2a81df6ecdb3997ecec107c09d/",
                 "torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl"),
    sha256 = "60fcdcb2f3876e21146cb4524ef06397d727ca9ad5f020818547e25075fe3cb7",
    pip = "torch==2.13.0"
  ),
  # libtorch_cpu.so of the PyPI build needs these two shared objects even without a GPU
  cudart = list(
    url = paste0("https://files.pythonhosted.org/packages/2e/24/d1558f3b68b1d26e706813b1d10aa1d785e4698c425af8db8edc3dced472/",
                 "nvidia_cuda_runtime-13.0.96-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"),
    sha256 = "7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548",
    pip = "nvidia-cuda-runtime==13.0.96"
  ),
  cupti = list(
    url = paste0("https://files.pythonhosted.org/packages/33/6d/737d164b4837a9bbd202f5ae3078975f0525a55730fe871d8ed4e3b952b0/",
                 "nvidia_cuda_cupti-13.0.85-py3-none-manylinux_2_25_x86_64.whl"),
    sha256 = "4eb01c08e859bf924d222250d2e8f8b8ff6d3db4721288cf35d14252a4d933c8",
    pip = "nvidia-cuda-cupti==13.0.85"
  )
)

say <- function(...) message("dpvae/libtorch: ", ...)

is_libtorch_dir <- function(d) {
  nzchar(d) && file.exists(file.path(d, "lib", "libtorch_cpu.so")) &&
    dir.exists(file.path(d, "include", "torch"))
}

cache_dir <- function() {
  base <- Sys.getenv("DPVAE_CACHE_DIR", tools::R_user_dir("dpvae", "cache"))
  file.path(base, paste0("libtorch-", TORCH_VERSION, "-cpu"))
}

python_torch <- function() {
  py <- Sys.which(c("python3", "python"))
  py <- py[nzchar(py)]
  if (!length(py)) return("")
  out <- tryCatch(
    suppressWarnings(system2(py[[1]], c("-c", shQuote(
      "import torch, os; print(torch.__version__.split('+')[0]); print(os.path.dirname(torch.__file__))"
    )), stdout = TRUE, stderr = FALSE)),
    error = function(e) character()
  )
  if (length(out) == 2 && out[[1]] == TORCH_VERSION && is_libtorch_dir(out[[2]])) out[[2]] else ""
}

sha256_file <- function(path) {
  if (requireNamespace("openssl", quietly = TRUE)) {
    con <- file(path, "rb")
    on.exit(close(con))
    return(unname(as.character(openssl::sha256(con))))
  }
  for (tool in list(c("sha256sum"), c("shasum", "-a", "256"))) {
    if (nzchar(Sys.which(tool[[1]]))) {
      out <- system2(tool[[1]], c(tool[-1], shQuote(path)), stdout = TRUE)
      return(sub("\\s.*$", "", out[[1]]))
    }
  }
  stop("cannot verify the download: install the R package 'openssl' or the sha256sum tool")
}

download_wheels <- function(dir) {
  pip <- Sys.which(c("pip3", "pip"))
  pip <- pip[nzchar(pip)]
  if (identical(Sys.getenv("DPVAE_NO_PIP"), "true")) pip <- character() # test R's own download
  files <- file.path(dir, basename(vapply(WHEELS, `[[`, "", "url")))
  if (length(pip)) {
    say("downloading the pinned wheels with ", pip[[1]])
    # Pin platform and Python tag so pip fetches exactly the files whose checksums we know.
    args <- c("download", "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
              "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_25_x86_64",
              "--platform", "manylinux_2_17_x86_64", "-d", shQuote(dir),
              vapply(WHEELS, `[[`, "", "pip"))
    status <- suppressWarnings(system2(pip[[1]], args))
    if (!identical(status, 0L) || !all(file.exists(files))) say("pip failed; trying R's own download")
  }
  old <- options(timeout = max(3600, getOption("timeout")))
  on.exit(options(old))
  for (i in seq_along(WHEELS)) {
    if (!file.exists(files[[i]])) {
      say("downloading ", basename(files[[i]]))
      utils::download.file(WHEELS[[i]]$url, files[[i]], mode = "wb", quiet = TRUE)
    }
    got <- sha256_file(files[[i]])
    if (!isTRUE(tolower(got) == WHEELS[[i]]$sha256)) {
      unlink(files[[i]])
      stop("checksum mismatch for ", basename(files[[i]]), ": expected ", WHEELS[[i]]$sha256, ", got ", got)
    }
  }
  stats::setNames(files, names(WHEELS))
}

# A libtorch.so that only pulls in libtorch_cpu: the wheel's own needs libtorch_cuda, which the
# slim copy leaves out, and tch's build script asks the linker for -ltorch.
write_stub <- function(libdir) {
  cc <- trimws(system2(file.path(R.home("bin"), "R"), c("CMD", "config", "CC"), stdout = TRUE))
  src <- tempfile(fileext = ".c")
  writeLines("int dpvae_libtorch_stub;", src)
  cmd <- sprintf("%s -shared -fPIC %s -o %s -Wl,--no-as-needed -L%s -ltorch_cpu -lc10",
                 cc, shQuote(src), shQuote(file.path(libdir, "libtorch.so")), shQuote(libdir))
  if (system(cmd) != 0) stop("could not build the libtorch.so stub with: ", cmd)
}

fetch_libtorch <- function(dest) {
  tmp <- tempfile("dpvae-wheels-")
  dir.create(tmp)
  on.exit(unlink(tmp, recursive = TRUE))
  files <- download_wheels(tmp)
  stage <- paste0(dest, ".partial")
  unlink(stage, recursive = TRUE)
  dir.create(file.path(stage, "lib"), recursive = TRUE)
  members <- utils::unzip(files[["torch"]], list = TRUE)$Name
  keep <- grep("^torch/include/|^torch/lib/(libc10\\.so|libtorch_cpu\\.so|libgomp[^/]*)$", members, value = TRUE)
  utils::unzip(files[["torch"]], files = keep, exdir = tmp)
  file.rename(file.path(tmp, "torch", "include"), file.path(stage, "include"))
  libs <- list.files(file.path(tmp, "torch", "lib"), full.names = TRUE)
  file.copy(libs, file.path(stage, "lib"))
  for (w in c("cudart", "cupti")) {
    m <- utils::unzip(files[[w]], list = TRUE)$Name
    so <- grep("/lib/lib(cudart|cupti)\\.so\\.13$", m, value = TRUE)
    utils::unzip(files[[w]], files = so, exdir = tmp, junkpaths = TRUE)
    file.copy(file.path(tmp, basename(so)), file.path(stage, "lib"))
  }
  write_stub(file.path(stage, "lib"))
  writeLines(TORCH_VERSION, file.path(stage, "VERSION"))
  # Rename last, so an interrupted fetch never leaves a half copy that looks complete.
  unlink(dest, recursive = TRUE)
  if (!file.rename(stage, dest)) stop("could not move libtorch into ", dest)
  dest
}

find_libtorch <- function(fetch = TRUE) {
  env <- Sys.getenv("LIBTORCH")
  if (nzchar(env)) {
    if (!is_libtorch_dir(env)) {
      stop("LIBTORCH is set to '", env, "' but that folder has no lib/libtorch_cpu.so and include/torch. ",
           "Point LIBTORCH at a libtorch ", TORCH_VERSION, " folder, or unset it to fetch one automatically.")
    }
    say("using LIBTORCH=", env)
    return(env)
  }
  cached <- cache_dir()
  if (is_libtorch_dir(cached)) {
    say("using the cached copy in ", cached)
    return(cached)
  }
  py <- python_torch()
  if (nzchar(py)) {
    say("using Python's torch ", TORCH_VERSION, " in ", py)
    return(py)
  }
  if (!fetch || identical(Sys.getenv("DPVAE_NO_DOWNLOAD"), "true")) return("")
  say("no libtorch found; fetching torch ", TORCH_VERSION, " (CPU libraries, ~530 MB download) into ", cached)
  dir.create(dirname(cached), recursive = TRUE, showWarnings = FALSE)
  tryCatch(fetch_libtorch(cached), error = function(e) {
    say("fetching failed: ", conditionMessage(e))
    ""
  })
}

if (sys.nframe() == 0L) {
  d <- find_libtorch()
  if (!nzchar(d)) quit(status = 1)
  cat(normalizePath(d), "\n", sep = "")
}
