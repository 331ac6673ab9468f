#!/usr/bin/env bash
# Speed of dpvae against the PyTorch reference, same torch version (2.13.0), same run.
# Full batch n = 500, 1000, 3000 (100 epochs) and n = 10000 minibatch 1024 (20 epochs); 2000 genes,
# hidden 124, latent 2, 2 threads, dp term + stress monitoring every epoch (warmup 0), no early stopping.
# Each run under /usr/bin/time -v for peak RSS.  Order per n: reference, dpvae in R, Rust example.
# usage: [THREADS=2] [ONLY=minibatch] [DPVAE_BF16=FALSE] bench/speed.sh OUTDIR   (ONLY=minibatch: the n = 10000 row alone)
#        (env: REFPY = python with torch 2.13.0 [/tmp/refenv/bin/python],
#        REF = reference folder [/work/shared/reference], LIBTORCH, DPVAE_LIB (R library holding dpvae))
set -uo pipefail
OUT=${1:?outdir}; mkdir -p "$OUT"
REFPY=${REFPY:-/tmp/refenv/bin/python}; REF=${REF:-/work/shared/reference}
LIBTORCH=${LIBTORCH:-/root/.cache/R/dpvae/libtorch-2.13.0-cpu}; export LIBTORCH
HERE=$(cd "$(dirname "$0")" && pwd); ROOT=$(dirname "$HERE")
SYN=$OUT/synth
sizes="500 1000 3000 10000"; [ "${ONLY:-}" = minibatch ] && sizes=10000
for n in $sizes; do
  [ -f "$SYN/n$n/counts.mtx.gz" ] || "$REFPY" "$REF/make_synthetic.py" "$SYN/n$n" --cells $n --genes 2000 --seed 0
done
# build the Rust example once (not timed)
(cd "$ROOT/src/rust" && LD_LIBRARY_PATH=$LIBTORCH/lib cargo build --release --example epoch_bench -q) || { echo "epoch_bench does not build" >&2; exit 1; }
EX=${CARGO_TARGET_DIR:-$ROOT/src/rust/target}/release/examples/epoch_bench
T=${THREADS:-2}
# DPVAE_BF16=FALSE: single-precision products in R and in the example (default: "auto" in both)
EXBF16=""; [ "${DPVAE_BF16:-}" = FALSE ] && EXBF16=0; [ "${DPVAE_BF16:-}" = TRUE ] && EXBF16=1
common="--train-frac 1.0 --n-hvg 2000 --latent 2 --hidden 124 --warmup 0 --patience 0 --threads $T --seed 0 --quiet"
rss() { grep "Maximum resident" "$1" | awk '{print $NF}'; }
echo -e "n\tbatch\timpl\ts_per_epoch\tpeak_rss_kb\tloadavg" > "$OUT/speed.tsv"
run() { # n batch epochs
  local n=$1 b=$2 e=$3 tag="n${1}_b${2}"
  local la; la=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
  bopt=""; [ "$b" -gt 0 ] && bopt="--batch-size $b"
  /usr/bin/time -v "$REFPY" "$REF/dpvae_ref.py" --data "$SYN/n$n" $common $bopt --epochs $e --out "$OUT/ref_$tag" 2> "$OUT/ref_$tag.time"
  s=$("$REFPY" -c "import json;print(json.load(open('$OUT/ref_$tag.json'))['timing']['s_per_epoch'])")
  echo -e "$n\t$b\treference\t$s\t$(rss "$OUT/ref_$tag.time")\t$la" | tee -a "$OUT/speed.tsv"
  la=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
  /usr/bin/time -v Rscript "$HERE/speed_fit.R" "$SYN/n$n" $e $T $b > "$OUT/r_$tag.json" 2> "$OUT/r_$tag.time"
  s=$(sed -n 's/.*"s_per_epoch": \([0-9.]*\).*/\1/p' "$OUT/r_$tag.json")
  echo -e "$n\t$b\tdpvae_R\t$s\t$(rss "$OUT/r_$tag.time")\t$la" | tee -a "$OUT/speed.tsv"
  s=$(sed -n 's/.*"s_per_epoch_loop": \([0-9.]*\).*/\1/p' "$OUT/r_$tag.json")
  echo -e "$n\t$b\tdpvae_R_loop\t$s\t$(rss "$OUT/r_$tag.time")\t$la" | tee -a "$OUT/speed.tsv"
  la=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/')
  LD_LIBRARY_PATH=$LIBTORCH/lib /usr/bin/time -v "$EX" $n 2000 $e $T $b $EXBF16 > "$OUT/rust_$tag.json" 2> "$OUT/rust_$tag.time"
  s=$(sed -n 's/.*"s_per_epoch": \([0-9.]*\).*/\1/p' "$OUT/rust_$tag.json")
  echo -e "$n\t$b\tdpvae_rust_example\t$s\t$(rss "$OUT/rust_$tag.time")\t$la" | tee -a "$OUT/speed.tsv"
}
if [ "${ONLY:-}" != minibatch ]; then for n in 500 1000 3000; do run $n 0 100; done; fi
run 10000 1024 20
