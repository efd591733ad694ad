#!/usr/bin/env bash
# Every experiment of docs/results.md, then the tables and plots. Finished steps are skipped, so this can be
# re-run after an interruption; results (run files, training states, wall times) land in docs/results/ (tracked).
# On a 2-core CPU the training dominates (see docs/results.md for measured times): the SciFact models and the two
# DL folds run in two lanes side by side, one thread each.
#   bash scripts/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/experiments/msmarco.sh
bash scripts/experiments/dl_dense.sh
ZERO_SHOT_ONLY=1 bash scripts/experiments/scifact.sh   # first stages, DPR re-scoring, zero-shot rows
bash scripts/experiments/scifact.sh cat bm25added & a=$!   # bm25added's teacher is the trained CAT
bash scripts/experiments/scifact.sh bm25cat dprcat bm25dprcat & b=$!
wait $a; wait $b
bash scripts/experiments/scifact.sh hybrid_cat hybrid_dprcat hybrid_cat-seed43 & a=$!   # the family over the hybrid
bash scripts/experiments/scifact.sh hybrid_bm25cat hybrid_bm25dprcat-repro hybrid_bm25cat-seed43 \
  hybrid_bm25dprcat-seed43 & b=$!
wait $a; wait $b
FOLDS=dl20:dl19 bash scripts/experiments/dl_folds.sh & a=$!
FOLDS=dl19:dl20 bash scripts/experiments/dl_folds.sh & b=$!
wait $a; wait $b
${PY:-.venv/bin/python} scripts/results_table.py
