#!/usr/bin/env bash
# TREC DL dense and hybrid rows, and the DPR source of the DL fold models: our all-MiniLM-L6-v2 bi-encoder scores
# every candidate of the official BM25 top 100 exactly (cosine; the full 8.8M-passage corpus is not here, so this is
# dense RE-SCORING of BM25's candidates, not dense retrieval). Hybrid = min-max interpolation of BM25 and that dense
# score per query, alpha tuned on the OTHER year.
#   bash scripts/experiments/dl_dense.sh    # dense index over the 24,884 DL passages: ~11 min on one thread here
{ # one block: bash reads it whole before running it, so editing this file cannot derail a running job
source "$(dirname "$0")/common.sh"
DIDX=indexes/msmarco-dl.minilm
[ -f $DIDX/encoder.json ] || timed dense-index-msmarco-dl $PY -m rerankinject.index dense --collection dl19 \
  --index $DIDX --normalize --threads "${THREADS:-1}"
for year in dl19 dl20; do
  mkdir -p $RES/$year
  [ -f $RES/$year/dense-minilm.trec.gz ] || timed dense-rescore-$year $PY -m rerankinject.search --retriever dense \
    --dense-index $DIDX --topics $year --rescore "$(bundled $year bm25)" --output $RES/$year/dense-minilm.trec.gz \
    --threads "${THREADS:-1}" --tag minilm
done
for pair in dl19:dl20 dl20:dl19; do
  test=${pair%%:*}; tune=${pair##*:}
  out=$RES/$test/hybrid-minilm.trec.gz
  [ -f "$out" ] || $PY -m rerankinject.interpolate --first "$(bundled $test bm25)" --ce $RES/$test/dense-minilm.trec.gz \
    --tune-first "$(bundled $tune bm25)" --tune-ce $RES/$tune/dense-minilm.trec.gz --tune-qrels $tune \
    --output "$out" --tag hybrid-minilm
done
exit
}
