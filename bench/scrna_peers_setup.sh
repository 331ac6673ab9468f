#!/usr/bin/env bash
# Idempotent setup of the Python venv for the scRNA peers (Tangram, novoSpaRc).
# Creates bench/.venv (relative to repo root), installs pinned peers + CPU torch,
# and records what got installed in bench/out/scrna/peers_freeze.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/bench/.venv"
OUT="$ROOT/bench/out/scrna"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --upgrade pip wheel setuptools
# torch from the default PyPI index only (no --index-url)
TORCH_PIN="${TORCH_PIN:-torch==2.13.0}"
"$PY" -m pip install "$TORCH_PIN" || "$PY" -m pip install torch
"$PY" -m pip install "tangram-sc==1.0.4" "novosparc==0.4.4" scanpy scikit-learn
"$PY" -m pip check || true
"$PY" -m pip freeze > "$OUT/peers_freeze.txt"
"$PY" -c "import torch, tangram, novosparc, scanpy, numpy; print('ok', torch.__version__, numpy.__version__, scanpy.__version__)"
