#!/usr/bin/env bash
# Real CAT and BM25CAT runs on SciFact train (validation split from train), then ONE test re-ranking each on
# scifact-test. Sized for a shared 2-core CPU: the two runs go side by side with one torch thread each.
#   nohup bash scripts/train_scifact.sh > runs/train_scifact.log 2>&1 &
# Extra flags (e.g. --max-steps 500 --test-depth 100) are passed to both runs.
# Measured runs (shared 2-core CPU, load 5-10 from other jobs): started with `--test-depth 20` (max_steps 80),
# stopped after the step-20 checkpoint and resumed with `--test-depth 20 --max-steps 60` (about 41 min wall each,
# side by side). Re-ranking all of BM25's top 100 for the 300 test queries (30k pairs at ~8 pairs/s) did not fit.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p runs/train
[ -d indexes/scifact ] || $PY -m rerankinject.index lucene --collection scifact-test --index indexes/scifact
for split in train test; do
  [ -f runs/scifact-$split.bm25.trec ] || $PY -m rerankinject.search --index indexes/scifact \
      --topics scifact-$split --output runs/scifact-$split.bm25.trec --k 100 --remove-query --threads 1
done
for v in cat bm25cat; do
  ( /usr/bin/time -v $PY -m rerankinject.train --config scripts/configs/scifact_$v.yaml --test "$@" \
      > runs/train/scifact-$v.log 2>&1; echo "exit $? $(date -u +%FT%TZ)" >> runs/train/scifact-$v.log ) &
done
wait
grep -h '"nDCG@10"' runs/train/scifact-*/test_metrics.json || true
