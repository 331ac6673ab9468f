#!/usr/bin/env bash
# The whole test suite: cargo fmt/clippy/test on the Rust core, testthat against SeuratObject 4
# (Debian) and SeuratObject 5 (../shared/rpkgs), R CMD check, then the pkgdown site with the vignettes
# (tools/site.sh). Run tools/setup.sh first.
# Prints the time of each phase and a final "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PATH="$PATH:$HOME/.cargo/bin"
export CARGO_TARGET_DIR="$ROOT/src/rust/target"
LIBTORCH=$(DPVAE_NO_DOWNLOAD=true Rscript tools/libtorch.R) || { echo "libtorch not found: run tools/setup.sh first" >&2; exit 1; }
export LIBTORCH
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
S5LIB=${SEURAT5_LIB:-/usr/local/lib/R/seurat5-library}
RESULTS=$(mktemp -d)
t_all=$(date +%s)
t_phase=$t_all
phase() {
  local now; now=$(date +%s)
  echo; echo "== $1 (previous phase $((now - t_phase)) s, total $((now - t_all)) s)"
  t_phase=$now
}

phase "cargo fmt --check"
(cd src/rust && cargo fmt --check)

phase "cargo clippy -D warnings"
(cd src/rust && cargo clippy --release --lib --tests --examples --quiet -- -D warnings)

phase "cargo test (Rust core)"
(cd src/rust && cargo test --release --lib 2>&1) | tee "$RESULTS/cargo.log" | grep -E '^test result|FAILED|panicked' || true
grep -q '^test result: ok' "$RESULTS/cargo.log" || { cat "$RESULTS/cargo.log"; exit 1; }

run_testthat() { # $1 label, $2 R_LIBS
  R_LIBS="$2" Rscript -e '
    res <- as.data.frame(testthat::test_dir("tests/testthat", package = "dpvae", load_package = "installed",
                                            reporter = "summary", stop_on_failure = FALSE))
    cat(sprintf("\ntestthat [%s]: %d passed, %d failed, %d skipped\n", Sys.getenv("LABEL"),
                sum(res$passed), sum(res$failed) + sum(res$error), sum(res$skipped)))
    writeLines(as.character(c(sum(res$passed), sum(res$failed) + sum(res$error), sum(res$skipped))),
               file.path(Sys.getenv("RESULTS"), paste0(Sys.getenv("LABEL"), ".counts")))
    if (sum(res$failed) + sum(res$error) > 0) quit(status = 1)'
}
export RESULTS

phase "testthat with SeuratObject $(Rscript -e 'cat(format(packageVersion("SeuratObject")))')"
R CMD INSTALL --no-test-load . >/dev/null 2>&1 || R CMD INSTALL . # incremental: reuses the cargo build
LABEL=seuratobject4 run_testthat seuratobject4 ""

if [ -d "$S5LIB/SeuratObject" ]; then
  phase "testthat with SeuratObject 5 ($S5LIB)"
  V5LIB=$(mktemp -d)
  # A separate build: a package installed against SeuratObject 4 may cache its S4 classes.
  R_LIBS="$S5LIB" R CMD INSTALL --no-test-load -l "$V5LIB" . >/dev/null 2>&1
  LABEL=seuratobject5 run_testthat seuratobject5 "$V5LIB:$S5LIB"
else
  echo "SeuratObject 5 not installed in $S5LIB: skipping the v5 run (tools/setup.sh installs it)"
fi

phase "R CMD check"
CHECKDIR=$(mktemp -d)
R CMD build --no-manual . >"$RESULTS/build.log" 2>&1 || { cat "$RESULTS/build.log"; exit 1; }
TARBALL=$(ls -t dpvae_*.tar.gz | head -1)
mv "$TARBALL" "$CHECKDIR/"
# Tests already ran above, twice; check the rest (examples, docs, code, vignette sources).
(cd "$CHECKDIR" && _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual --no-tests --no-build-vignettes "$TARBALL") | tee "$RESULTS/check.log" | grep -E '^\* checking|WARNING|ERROR|NOTE|Status' | grep -vE '\.\.\. OK$' || true
grep -q '^Status: OK\|^Status: [0-9]* NOTE' "$RESULTS/check.log" || { cat "$CHECKDIR"/dpvae.Rcheck/00check.log | tail -60; exit 1; }

phase "pkgdown site (vignettes, examples, links)"
bash tools/site.sh >"$RESULTS/site.log" 2>&1 || { tail -60 "$RESULTS/site.log"; exit 1; }
tail -3 "$RESULTS/site.log"

phase "summary"
passed=$(grep -h '^test result' "$RESULTS/cargo.log" | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=0; skipped=0
for f in "$RESULTS"/*.counts; do
  mapfile -t c <"$f"
  passed=$((passed + c[0])); failed=$((failed + c[1])); skipped=$((skipped + c[2]))
done
echo "all suites: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
