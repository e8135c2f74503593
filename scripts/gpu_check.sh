#!/usr/bin/env bash
# Trains and measures configs/zh_gpu.cfg and configs/en_gpu.cfg on a GPU machine that has
# torch and CuPy but no spaCy (see docs/gpu.md). Prepared on a machine with the checkout:
#   scripts/gpu_prepare.sh          # wheels -> .gpu/site.tar.xz, corpora -> .gpu/data/*.spacy
# then, on the GPU machine, from the checkout's root:
#   scripts/gpu_check.sh OUT_DIR [extra arguments for scripts/gpu_check.py run]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:?usage: scripts/gpu_check.sh OUT_DIR [args]}
shift
mkdir -p "$OUT_DIR" /tmp/site
if [ -f .gpu/site.tar.xz ]; then
  tar -xJf .gpu/site.tar.xz -C /tmp/site || exit 1
  export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-deps --no-build-isolation --no-index --no-compile --target /tmp/site . \
  >"$OUT_DIR/install.log" 2>&1 || { cat "$OUT_DIR/install.log"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >"$OUT_DIR/nvidia_smi.txt" 2>&1
PYTHONUNBUFFERED=1 python3 scripts/gpu_check.py run --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/gpu_check.log"
