#!/usr/bin/env bash
# Run the Python peers on every scRNA case dir under ROOT (default /work/main/bench/work/scrna).
# Tangram on every case; novoSpaRc on kind "genes" only (NOVOSPARC_CELLS=1 adds kind "cells").
# Cases of kind "genes" run first, then "cells"; existing outputs are skipped.
# Logs to bench/out/scrna/peers.log. One thread, sequential; a run is killed after
# PEERS_TIMEOUT seconds (default 900) and logged as FAILED.
# Usage: bench/scrna_peers.sh [ROOT] [CASE...]
set -uo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${1:-/work/main/bench/work/scrna}"; shift || true
PY="$REPO/bench/.venv/bin/python"
LOG="$REPO/bench/out/scrna/peers.log"
mkdir -p "$(dirname "$LOG")"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
[ -x "$PY" ] || { echo "no venv: run bench/scrna_peers_setup.sh" >&2; exit 1; }
kind_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kind"])' "$1/meta.json"; }
nfold_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["n_folds"])' "$1/meta.json"; }
if [ $# -gt 0 ]; then dirs=(); for c in "$@"; do dirs+=("$ROOT/$c"); done
else dirs=("$ROOT"/*/); fi
genes=(); cells=()
for d in "${dirs[@]}"; do
  d="${d%/}"; [ -f "$d/meta.json" ] || continue
  case "$(kind_of "$d")" in genes) genes+=("$d");; cells) cells+=("$d");; esac
done
fail=0
run1() {  # dir method [fold]
  local d="$1" m="$2" f="${3:-}" out
  if [ -n "$f" ]; then out="$d/pred_${m}_fold${f}.tsv.gz"; else out="$d/pred_${m}_coords.tsv.gz"; fi
  if [ -f "$out" ]; then echo "$(date -u +%FT%TZ) skip $(basename "$d") $m ${f:-coords} (exists)" >>"$LOG"; return 0; fi
  echo "$(date -u +%FT%TZ) start $(basename "$d") $m ${f:-coords}" >>"$LOG"
  if timeout "${PEERS_TIMEOUT:-900}" "$PY" "$REPO/bench/scrna_peers.py" --case-dir "$d" --method "$m" ${f:+--fold "$f"} >>"$LOG" 2>&1; then
    echo "$(date -u +%FT%TZ) done $(basename "$d") $m ${f:-coords}" >>"$LOG"
  else
    echo "$(date -u +%FT%TZ) FAILED $(basename "$d") $m ${f:-coords}" >>"$LOG"; fail=1
  fi
}
for d in "${genes[@]}"; do
  n=$(nfold_of "$d")
  for m in tangram novosparc; do for f in $(seq 1 "$n"); do run1 "$d" "$m" "$f"; done; done
done
for d in "${cells[@]}"; do
  run1 "$d" tangram
  [ "${NOVOSPARC_CELLS:-0}" = 1 ] && run1 "$d" novosparc
done
exit $fail
