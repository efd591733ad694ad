#!/usr/bin/env bash
# Every experiment of docs/results.md, then the tables and plots. Finished steps are skipped, so this can be
# re-run after an interruption. On a 2-core CPU the training dominates (see docs/results.md for measured times).
#   bash scripts/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/experiments/msmarco.sh
bash scripts/experiments/scifact.sh
bash scripts/experiments/dl_folds.sh
${PY:-.venv/bin/python} scripts/results_table.py
