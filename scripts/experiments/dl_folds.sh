#!/usr/bin/env bash
# TREC DL folds: every variant trained on DL20 only and tested on DL19 (BM25 top-100), and trained on DL19 only and
# tested on DL20. Configs: scripts/configs/dl20_<v>.yaml and dl19_<v>.yaml (DPR = the bundled TAS-B run; the runs
# are top-100 only, so a judged positive that TAS-B did not retrieve gets that query's minimum TAS-B score:
# missing_score min). The bm25added teacher is the training year's SPLADE++/TAS-B/ada-002 ensemble.
#   bash scripts/experiments/dl_folds.sh [VARIANT ...]     # default: cat bm25cat bm25added dprcat bm25dprcat
#   FOLDS=dl20:dl19 bash scripts/experiments/dl_folds.sh cat   # one fold (TRAIN:TEST); default both
# Each model is 300 steps of batch 16 on one thread (the MS MARCO recipe: pairwise loss, frozen embeddings, head lr
# 1e-3): ~25-30 min on this 2-core CPU, so two folds run side by side in ~2.5 h; minutes on a GPU.
source "$(dirname "$0")/common.sh"
variants=(cat bm25cat bm25added dprcat bm25dprcat)
extra=()
if [ $# -gt 0 ] && [[ $1 != --* ]]; then variants=(); while [ $# -gt 0 ] && [[ $1 != --* ]]; do variants+=("$1"); shift; done; fi
extra=("$@")
for pair in ${FOLDS:-dl20:dl19 dl19:dl20}; do
  train=${pair%%:*}; test=${pair##*:}
  link_reference_runs $test
  for v in "${variants[@]}"; do
    out=$RES/$test/fold-$v.trec
    [ -f "$out" ] && continue
    finished runs/train/$train-$v || timed train-$train-$v $PY -m rerankinject.train \
      --config scripts/configs/${train}_$v.yaml "${extra[@]}" >> runs/train/$train-$v.log 2>&1
    [ -f runs/train/$train-$v/test.$test.trec ] || timed test-$test-$v $PY -m rerankinject.train \
      --config scripts/configs/${train}_$v.yaml --test-only >> runs/train/$train-$v.log 2>&1
    cp runs/train/$train-$v/test.$test.trec "$out"
  done
done
