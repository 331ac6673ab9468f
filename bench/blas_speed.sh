#!/usr/bin/env bash
# Seconds per full-batch epoch (n = 3000 cells x 2000 genes, bench/speed.sh's settings) by R's BLAS kernels,
# libtorch threads and machine load. BLAS: "generic" = OpenBLAS forced to its Prescott fallback (what it picks
# on virtual CPUs it does not recognise) with dpvae's load-time switch off; "generic, dpvae switches" = the same
# start, the switch on (what a user on such a machine gets); "detected" = OpenBLAS's own choice on this CPU.
# Load: idle, or one core kept busy by a spinning process.
# usage: bench/blas_speed.sh OUTDIR [EPOCHS]   (env: DPVAE_LIB, PY = python with numpy/scipy/pandas)
set -uo pipefail
OUT=${1:?outdir}; EPOCHS=${2:-30}; mkdir -p "$OUT"
HERE=$(cd "$(dirname "$0")" && pwd)
SYN=$OUT/synth/n3000
[ -f "$SYN/counts.mtx.gz" ] || "${PY:-python3}" /work/shared/reference/make_synthetic.py "$SYN" --cells 3000 --genes 2000 --seed 0
TSV=$OUT/blas_speed.tsv
echo -e "blas\tthreads\tload\ts_per_epoch\tblas_core\tretuned_from\tloadavg" > "$TSV"
one() { # label threads load env...
  local label=$1 t=$2 load=$3; shift 3
  local la; la=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
  local json; json=$(env "$@" Rscript "$HERE/speed_fit.R" "$SYN" "$EPOCHS" "$t" 0 2>/dev/null)
  local s core from
  s=$(sed -n 's/.*"s_per_epoch": \([0-9.]*\).*/\1/p' <<< "$json")
  core=$(sed -n 's/.*"blas_core": "\([^"]*\)".*/\1/p' <<< "$json")
  from=$(sed -n 's/.*"blas_retuned_from": "\([^"]*\)".*/\1/p' <<< "$json")
  echo -e "$label\t$t\t$load\t$s\t$core\t$from\t$la" | tee -a "$TSV"
}
for load in idle busy; do
  pid=""
  if [ "$load" = busy ]; then (while :; do :; done) & pid=$!; sleep 2; fi
  for t in 1 2; do
    one generic "$t" "$load" OPENBLAS_CORETYPE=Prescott DPVAE_TUNE_BLAS=0
    one "generic, dpvae switches" "$t" "$load" OPENBLAS_CORETYPE=Prescott DPVAE_BENCH_UNSET_CORETYPE=1
    one detected "$t" "$load" DPVAE_TUNE_BLAS=1
  done
  [ -n "$pid" ] && kill "$pid"
done
