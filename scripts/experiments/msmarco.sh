#!/usr/bin/env bash
# MS MARCO-style training at scale: CAT and BM25CAT trained on the dev-small training text, tested on BOTH DL19 and
# DL20 (official BM25 top-100 re-ranked). BM25 comes from ONE Lucene index over every MS MARCO passage in the shared
# data, for training and - exactly per document - for the DL candidates (runs/msmarco-train/run.bm25-dl1?.trec).
# Plus the interpolation baseline: BM25 + CAT, alpha tuned on the OTHER year.
#   bash scripts/experiments/msmarco.sh     # ~85 min of training (the two models side by side) on a 2-core CPU
# Extra flags go to both training runs (e.g. --max-steps 200). Training resumes from its checkpoint; finished
# re-rankings are skipped (delete an output to redo it).
source "$(dirname "$0")/common.sh"
[ -f runs/msmarco-train/run.bm25-dl20.trec ] || timed prepare-msmarco $PY scripts/prepare_msmarco.py
for v in cat bm25cat; do  # side by side, one thread each; resumes from its checkpoint
  finished runs/train/msmarco-$v || timed train-msmarco-$v $PY -m rerankinject.train \
    --config scripts/configs/msmarco_$v.yaml "$@" >> runs/train/msmarco-$v.log 2>&1 &
done
wait
for year in dl19 dl20; do
  link_reference_runs $year
  [ -e $RES/$year/bm25-local.trec ] || ln -s "$(pwd)/runs/msmarco-train/run.bm25-$year.trec" $RES/$year/bm25-local.trec
  for v in cat bm25cat; do
    out=$RES/$year/msmarco-$v.trec
    [ -f "$out" ] || timed rerank-$year-msmarco-$v $PY -m rerankinject.rerank --run $RES/$year/bm25.trec \
      --topics $year --corpus $year --model runs/train/msmarco-$v/best --depth 100 \
      --source bm25=runs/msmarco-train/run.bm25-$year.trec --output "$out"
  done
done
for pair in dl19:dl20 dl20:dl19; do
  test=${pair%%:*}; tune=${pair##*:}
  out=$RES/$test/msmarco-interp.trec
  [ -f "$out" ] || $PY -m rerankinject.interpolate --first $RES/$test/bm25.trec --ce $RES/$test/msmarco-cat.trec \
    --tune-first $RES/$tune/bm25.trec --tune-ce $RES/$tune/msmarco-cat.trec --tune-qrels $tune --output "$out"
done
