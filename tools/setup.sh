#!/usr/bin/env bash
# One command on a fresh Debian 12 machine (as root): installs everything dpvae needs (apt
# packages, the offline R packages in ../shared/rpkgs, libtorch), installs the package, and
# runs the main job on the bundled data (hidden spots vs kNN, an scRNA-seq query placed; writes out/*.png).
# Idempotent: a second run skips what is there and rebuilds incrementally.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
t_all=$(date +%s)
phase() { echo; echo "== $1 ($(($(date +%s) - t_all)) s so far)"; }

# --- Debian packages ------------------------------------------------------------
phase "apt packages"
APT_PKGS=(r-base-dev r-cran-testthat r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown r-cran-seuratobject
  r-bioc-singlecellexperiment r-bioc-biocparallel r-bioc-delayedarray r-bioc-hdf5array r-cran-ggplot2 r-cran-pkgdown r-cran-cli r-cran-rlang r-cran-jsonlite r-cran-matrix r-cran-rspectra r-cran-spdep
  r-cran-openssl libopenblas0-openmp pandoc unzip curl ca-certificates gcc g++ make)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "all present"
fi
# An optimised BLAS: libtorch's sgemm_ calls are interposed by R's BLAS, the reference one is 20x slower.
blas=$(Rscript -e 'cat(extSoftVersion()[["BLAS"]], La_library())' 2>/dev/null || true)
echo "R BLAS: $blas"

# --- R packages that Debian lacks (SpatialExperiment; SeuratObject 5 in its own library) ----------
phase "offline R packages (../shared/rpkgs)"
if [ -x ../shared/rpkgs/install.sh ] || [ -f ../shared/rpkgs/install.sh ]; then
  bash ../shared/rpkgs/install.sh --seurat5
else
  echo "../shared/rpkgs not found: SpatialExperiment and SeuratObject 5 tests will be skipped"
fi

# --- Rust -------------------------------------------------------------------------
phase "Rust toolchain"
export PATH="$PATH:$HOME/.cargo/bin"
if ! command -v cargo >/dev/null; then
  echo "cargo not found. Install Rust >= 1.75 (https://rustup.rs), then run this script again." >&2
  exit 1
fi
cargo --version

# --- libtorch -----------------------------------------------------------------------
phase "libtorch"
LIBTORCH=$(Rscript tools/libtorch.R)
export LIBTORCH
echo "LIBTORCH=$LIBTORCH"

# --- the package ------------------------------------------------------------------
phase "R CMD INSTALL"
export CARGO_TARGET_DIR="$ROOT/src/rust/target"
R CMD INSTALL --preclean --no-test-load . >"$ROOT/out-install.log" 2>&1 || { tail -50 "$ROOT/out-install.log"; exit 1; }
tail -2 "$ROOT/out-install.log"; rm -f "$ROOT/out-install.log"

# --- the main job ----------------------------------------------------------------
phase "main job: hidden spots and an scRNA-seq query on the bundled mouse hippocampus"
mkdir -p out
Rscript inst/scripts/reconstruct_example.R out
phase "done"
