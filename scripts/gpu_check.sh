#!/usr/bin/env bash
# GPU check, at most ~8 minutes on one GPU: training inputs/s in bf16 (transformers.Trainer path, listwise groups of 8)
# and re-ranking pairs/s of our scorer against sentence-transformers' CrossEncoder.predict on the same card.
# Writes $OUT/gpu_check.json (OUT defaults to runs/). Needs the project installed (make install) with a CUDA torch.
#   bash scripts/gpu_check.sh            # on the GPU machine
#   bash scripts/gpu_check.sh --smoke    # tiny sizes, any device (what the CPU test runs)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs}"
mkdir -p "$OUT"
PY="${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
timeout 480 "$PY" scripts/gpu_check.py --out "$OUT/gpu_check.json" "$@"
