#!/usr/bin/env bash
# TREC DL folds: every variant trained on DL20 only and tested on DL19 (BM25 top-100), and trained on DL19 only and
# tested on DL20. Configs: scripts/configs/<train year>_<variant>.yaml. DPR = our all-MiniLM-L6-v2 score of every
# candidate, exact (scripts/experiments/dl_dense.sh runs first); the *_tasb variants inject the bundled TAS-B score
# instead (top-100 runs: a candidate or judged positive TAS-B did not retrieve gets that query's minimum TAS-B
# score). The bm25added teacher is the training year's SPLADE++/TAS-B/ada-002 ensemble.
#   bash scripts/experiments/dl_folds.sh [VARIANT ...]   # default: cat bm25cat dprcat bm25dprcat bm25added
#                                                        #          dprcat_tasb bm25dprcat_tasb
#   FOLDS=dl20:dl19 bash scripts/experiments/dl_folds.sh cat   # one fold (TRAIN:TEST); default both
# Each model: 100 steps of batch 16 on one thread (pairwise loss, frozen embeddings, head lr 1e-3; the earlier
# 300-step runs peaked at step 100), validation every 50 steps: ~13 min on one thread of this 2-core CPU, plus ~3 min
# to re-rank the test year; the two folds run side by side (FOLDS=dl20:dl19 in one shell, FOLDS=dl19:dl20 in another).
{ # one block: bash reads it whole before running it, so editing this file cannot derail a running job
source "$(dirname "$0")/common.sh"
variants=(cat bm25cat dprcat bm25dprcat bm25added dprcat_tasb bm25dprcat_tasb)
if [ $# -gt 0 ] && [[ $1 != --* ]]; then variants=(); while [ $# -gt 0 ] && [[ $1 != --* ]]; do variants+=("$1"); shift; done; fi
extra=("$@")
bash "$(dirname "$0")/dl_dense.sh"
for pair in ${FOLDS:-dl20:dl19 dl19:dl20}; do
  train=${pair%%:*}; test=${pair##*:}
  mkdir -p $RES/$test
  for v in "${variants[@]}"; do
    out=$RES/$test/fold-$v.trec.gz
    [ -f "$out" ] && continue
    model=$train-${v//_/-}
    finished runs/train/$model || timed train-$model $PY -m rerankinject.train \
      --config scripts/configs/${train}_$v.yaml "${extra[@]}" >> runs/train/$model.log 2>&1
    save_training $model
    [ -f runs/train/$model/test.$test.trec ] || timed test-$test-$v $PY -m rerankinject.train \
      --config scripts/configs/${train}_$v.yaml --test-only >> runs/train/$model.log 2>&1
    keep runs/train/$model/test.$test.trec "$out" "" fold-$v
  done
  # interpolation baseline: BM25 + the fold's CAT, alpha tuned on that model's validation queries (training year,
  # held out from its training); their re-ranking is kept in docs/results/training
  out=$RES/$test/fold-interp.trec.gz val=$RES/training/$train-cat.validation.trec.gz
  if [ ! -f "$out" ] && [ -f $RES/$test/fold-cat.trec.gz ]; then
    if [ ! -f $val ]; then
      timed validation-$train-cat $PY -m rerankinject.train --config scripts/configs/${train}_cat.yaml \
        --validation-only >> runs/train/$train-cat.log 2>&1
      keep runs/train/$train-cat/validation.$train.trec $val "" fold-cat-validation
    fi
    $PY -m rerankinject.interpolate --first "$(bundled $test bm25)" --ce $RES/$test/fold-cat.trec.gz \
      --tune-first "$(bundled $train bm25)" --tune-ce $val --tune-qrels $train --output "$out" --tag fold-interp
  fi
done
exit
}
