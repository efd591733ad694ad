#!/usr/bin/env bash
# SciFact, our whole pipeline on the full corpus: Lucene and faiss indexes, BM25 / dense / hybrid first stages
# (the demo's settings), CAT and BM25CAT trained on SciFact train (validation split from train; configs
# scripts/configs/scifact_<v>.yaml), then the test queries' BM25 top-100 re-ranked once, plus the MS MARCO-trained
# models zero-shot on the BM25 top 20 (when scripts/experiments/msmarco.sh has run).
#   bash scripts/experiments/scifact.sh [--max-steps N ...]     # flags go to the training runs
source "$(dirname "$0")/common.sh"
S=$RES/scifact
mkdir -p $S
[ -f runs/scifact-test.hybrid.trec ] || timed scifact-first-stages $PY scripts/demo.py --no-rerank
for f in bm25 dense hybrid; do [ -e $S/$f.trec ] || ln -s "$(pwd)/runs/scifact-test.$f.trec" $S/$f.trec; done
[ -f runs/scifact-train.bm25.trec ] || timed scifact-train-bm25 $PY -m rerankinject.search --index indexes/scifact \
  --topics scifact-train --output runs/scifact-train.bm25.trec --k 100 --remove-query
for v in cat bm25cat; do
  finished runs/train/scifact-$v || timed train-scifact-$v $PY -m rerankinject.train \
    --config scripts/configs/scifact_$v.yaml "$@" >> runs/train/scifact-$v.log 2>&1  # resumes
  [ -f $S/$v.trec ] || timed rerank-scifact-$v $PY -m rerankinject.rerank --run runs/scifact-test.bm25.trec \
    --topics scifact-test --corpus scifact-test --model runs/train/scifact-$v/best --depth 100 \
    --source bm25=runs/scifact-test.bm25.trec --bm25-index indexes/scifact --output $S/$v.trec
done
for v in cat bm25cat; do
  if [ -d runs/train/msmarco-$v/best ] && [ ! -f $S/msmarco-$v.trec ]; then
    timed rerank-scifact-msmarco-$v $PY -m rerankinject.rerank --run runs/scifact-test.bm25.trec \
      --topics scifact-test --corpus scifact-test --model runs/train/msmarco-$v/best --depth 20 \
      --source bm25=runs/scifact-test.bm25.trec --output $S/msmarco-$v.trec
  fi
done
