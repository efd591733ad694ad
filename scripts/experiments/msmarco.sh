#!/usr/bin/env bash
# MS MARCO-style training at scale: CAT and BM25CAT trained on the dev-small training text, tested on BOTH DL19 and
# DL20 (official BM25 top-100 re-ranked). BM25 comes from ONE Lucene index over every MS MARCO passage in the shared
# data, for training and - exactly per document - for the DL candidates (runs/msmarco-train/run.bm25-dl1?.trec).
# Plus the interpolation baseline: BM25 + CAT, alpha tuned on the OTHER year.
#   bash scripts/experiments/msmarco.sh     # ~25 min per model on one thread of a 2-core CPU (the two side by side)
# Both models train with the 800-step schedule of their config and pause after step STOP_AT (default 200: the
# best validation step when they ran to step 400). BM25CAT is not retrained when the repo's shipped export of that
# run exists (models/minilm-l6-msmarco-bm25cat: its step-200 best in fp16); RETRAIN=1 retrains it.
# Extra flags go to the training runs. Finished re-rankings are skipped (delete an output to redo it).
{ # one block: bash reads it whole before running it, so editing this file cannot derail a running job
source "$(dirname "$0")/common.sh"
[ -f runs/msmarco-train/run.bm25-dl20.trec ] || timed prepare-msmarco $PY scripts/prepare_msmarco.py
for v in cat bm25cat; do  # side by side, one thread each; resumes from its checkpoint
  [ "$(msmarco_model $v)" = $SHIPPED_BM25CAT ] && continue
  [ -f "$RES/dl19/msmarco-$v.trec.gz" ] && [ -f "$RES/dl20/msmarco-$v.trec.gz" ] && continue
  finished runs/train/msmarco-$v "${STOP_AT:-200}" || timed train-msmarco-$v $PY -m rerankinject.train \
    --config scripts/configs/msmarco_$v.yaml --stop-at-step "${STOP_AT:-200}" "$@" >> runs/train/msmarco-$v.log 2>&1 &
done
wait
save_training msmarco-cat
[ "$(msmarco_model bm25cat)" = $SHIPPED_BM25CAT ] || save_training msmarco-bm25cat
for year in dl19 dl20; do
  mkdir -p $RES/$year
  [ -f $RES/$year/bm25-local.trec.gz ] || keep runs/msmarco-train/run.bm25-$year.trec $RES/$year/bm25-local.trec.gz
  for v in cat bm25cat; do
    out=$RES/$year/msmarco-$v.trec.gz
    [ -f "$out" ] || timed rerank-$year-msmarco-$v $PY -m rerankinject.rerank --run "$(bundled $year bm25)" \
      --topics $year --corpus $year --model "$(msmarco_model $v)" --depth 100 \
      --source bm25=runs/msmarco-train/run.bm25-$year.trec --output "$out" --tag msmarco-$v --threads "${THREADS:-1}"
  done
done
for pair in dl19:dl20 dl20:dl19; do
  test=${pair%%:*}; tune=${pair##*:}
  out=$RES/$test/msmarco-interp.trec.gz
  [ -f "$out" ] || $PY -m rerankinject.interpolate --first "$(bundled $test bm25)" --ce $RES/$test/msmarco-cat.trec.gz \
    --tune-first "$(bundled $tune bm25)" --tune-ce $RES/$tune/msmarco-cat.trec.gz --tune-qrels $tune --output "$out"
done
exit
}
