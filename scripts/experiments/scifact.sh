#!/usr/bin/env bash
# SciFact, our whole pipeline on the full corpus: Lucene and faiss indexes, BM25 / dense / hybrid first stages
# (the demo's settings) and the MiniLM re-scoring of BM25's candidates (the DPR source); CAT, BM25CAT, DPRCAT,
# BM25DPRCAT and bm25added trained on SciFact train (validation split from train; configs
# scripts/configs/scifact_<v>.yaml), each re-ranking the test queries' BM25 top 100 once (~15-20 min of training and
# ~35 min of re-ranking on one thread of this 2-core CPU per model); the interpolation baseline BM25 + CAT; plus the
# MS MARCO-trained models zero-shot on the BM25 top 20 (when scripts/experiments/msmarco.sh has run). The first-stage
# runs are kept in docs/results/scifact at depth 100 (the depth that is re-ranked; the re-rankers take that cut run).
# Two lanes side by side (what scripts/run_all.sh does): `scifact.sh cat bm25added` and `scifact.sh bm25cat dprcat
# bm25dprcat`, after one `ZERO_SHOT_ONLY=1 scifact.sh` (first stages and zero-shot rows).
#   bash scripts/experiments/scifact.sh [VARIANT ...]   # default: cat bm25cat dprcat bm25dprcat bm25added
#   FIRST_STAGE_ONLY=1 bash scripts/experiments/scifact.sh # indexes, first stages (test and train), DPR re-scoring
#   ZERO_SHOT_ONLY=1 bash scripts/experiments/scifact.sh   # first stages, the zero-shot rows and the shipped model's
#     rows (its test re-rankings, its validation queries re-ranked, hybrid + it)
#   bash scripts/experiments/scifact.sh hybrid_bm25dprcat-msmarco   # a hybrid-first-stage model (its config
#     scripts/configs/scifact_hybrid_bm25dprcat-msmarco.yaml), re-ranking the test hybrid top 20
#   bash scripts/experiments/scifact.sh hybrid_cat hybrid_dprcat &  bash scripts/experiments/scifact.sh hybrid_bm25cat \
#     hybrid_bm25dprcat-repro   # the like-for-like family over the hybrid (the demo's recipe, only the injection
#     differs; two lanes of ~37 min of training + ~7 min of re-ranking per model on one thread each)
{ # one block: bash reads it whole before running it, so editing this file cannot derail a running job
source "$(dirname "$0")/common.sh"
S=$RES/scifact
mkdir -p $S
variants=(cat bm25cat dprcat bm25dprcat bm25added)  # bm25added's teacher is the trained cat
[ $# -gt 0 ] && variants=("$@")
[ -f indexes/scifact/rerankinject.json ] || timed scifact-lucene-index $PY -m rerankinject.index lucene \
  --collection scifact-test --index indexes/scifact --overwrite
[ -f indexes/scifact.minilm/encoder.json ] || timed scifact-dense-index $PY -m rerankinject.index dense \
  --collection scifact-test --index indexes/scifact.minilm --normalize --threads "${THREADS:-1}"
[ -f runs/scifact-test.hybrid.trec ] || timed scifact-first-stages $PY scripts/demo.py --no-rerank
for f in bm25 dense hybrid; do [ -f $S/$f.trec.gz ] || keep runs/scifact-test.$f.trec $S/$f.trec.gz 100 $f; done
# the training queries' hybrid first stage (the demo's settings), the candidates of scifact_hybrid_*.yaml; it also
# writes runs/scifact-train.hybrid.{bm25,dense}.trec, the raw scores the hybrid models inject
[ -f runs/scifact-train.hybrid.trec ] || timed scifact-train-hybrid $PY -m rerankinject.search --retriever hybrid \
  --index indexes/scifact --dense-index indexes/scifact.minilm --topics scifact-train --k 1000 --depth 100 \
  --alpha 0.45 --normalization minmax-query --remove-query --output runs/scifact-train.hybrid.trec
[ -f runs/scifact-train.bm25.trec ] || timed scifact-train-bm25 $PY -m rerankinject.search --index indexes/scifact \
  --topics scifact-train --output runs/scifact-train.bm25.trec --k 100 --remove-query
for split in train test; do  # the dense (DPR) score of every BM25 candidate, exact: the BM25 top 100 re-scored
  [ -f runs/scifact-$split.dpr.trec ] || timed scifact-$split-dense-rescore $PY -m rerankinject.search \
    --retriever dense --dense-index indexes/scifact.minilm --topics scifact-$split \
    --rescore runs/scifact-$split.bm25.trec --output runs/scifact-$split.dpr.trec
done
[ -f $S/dense-minilm.trec.gz ] || keep runs/scifact-test.dpr.trec $S/dense-minilm.trec.gz 100 dense-minilm
[ -n "${FIRST_STAGE_ONLY:-}" ] && exit 0
for v in cat bm25cat; do
  model=$(msmarco_model $v)
  if [ -d "$model" ] && [ ! -f $S/msmarco-$v.trec.gz ]; then
    timed rerank-scifact-msmarco-$v $PY -m rerankinject.rerank --run $S/bm25.trec.gz \
      --topics scifact-test --corpus scifact-test --model "$model" --depth 20 --threads "${THREADS:-1}" \
      --source bm25=runs/scifact-test.bm25.trec --output $S/msmarco-$v.trec.gz --tag msmarco-$v
  fi
done
# rerank_hybrid MODEL DEPTH THREADS OUT TAG: MODEL re-ranks the test queries' hybrid top DEPTH, with the BM25 and
# MiniLM scores of every hybrid candidate from the hybrid search's source runs
rerank_hybrid() {
  $PY -m rerankinject.rerank --run $S/hybrid.trec.gz --topics scifact-test --corpus scifact-test --model "$1" \
    --depth $2 --source bm25=runs/scifact-test.hybrid.bm25.trec --source dpr=runs/scifact-test.hybrid.dense.trec \
    --threads $3 --output $4 --tag $5
}
# the MS MARCO-style BM25DPRCAT (tuned teacher; the start of scifact_hybrid_bm25dprcat-msmarco.yaml) zero-shot on the
# demo's hybrid top 20, BM25 and MiniLM injected (same bounds)
model=$(msmarco_model bm25dprcat-tuned)
if [ -d "$model" ] && [ ! -f $S/msmarco-bm25dprcat-tuned.hybrid-top20.trec.gz ]; then
  timed rerank-scifact-msmarco-bm25dprcat-tuned-top20 rerank_hybrid "$model" 20 "${THREADS:-1}" \
    $S/msmarco-bm25dprcat-tuned.hybrid-top20.trec.gz msmarco-bm25dprcat-tuned
fi
# the shipped SciFact-trained model (the demo's: BM25DPRCAT trained on SciFact train's hybrid top 100) re-ranking the
# hybrid top 100 of the test queries (the demo re-ranks its top 20)
shipped=models/minilm-l6-scifact-hybrid-bm25dprcat
[ -f $S/hybrid-bm25dprcat.top100.trec.gz ] || timed rerank-scifact-hybrid-top100 rerank_hybrid $shipped 100 \
  "${THREADS:-2}" $S/hybrid-bm25dprcat.top100.trec.gz scifact-hybrid-bm25dprcat
# interp_hybrid V NAME OUTDIR [MODEL]: the interpolation baseline over the hybrid first stage: hybrid + the model of
# scripts/configs/scifact_V.yaml (MODEL, default OUTDIR/best) on the test hybrid top 20 ($S/NAME.top20.trec.gz),
# per-query min-max, alpha tuned on the model's own 40 validation queries (held out of its training; their hybrid top
# 20 re-ranked by --validation-only, kept in docs/results/training) -> $S/NAME-interp.top20.trec.gz
interp_hybrid() {
  local val=$RES/training/scifact-$2.validation-top20.trec.gz out=$S/$2-interp.top20.trec.gz
  local log=runs/train/scifact-$2.validation.log  # also records the tuned alpha
  [ -f $out ] && return 0
  [ -f $S/$2.top20.trec.gz ] || { echo "interp_hybrid: $S/$2.top20.trec.gz missing (re-rank the test hybrid top 20 first)" >&2; return 1; }
  if [ ! -f $val ]; then
    timed validation-scifact-$2 $PY -m rerankinject.train --config scripts/configs/scifact_$1.yaml --validation-only \
      --test-depth 20 --output-dir $3 ${4:+--model "$4"} >> $log 2>&1
    keep $3/validation.scifact-train.trec $val 20 scifact-$2-validation
  fi
  $PY -m rerankinject.interpolate --first $S/hybrid.trec.gz --ce $S/$2.top20.trec.gz --depth 20 \
    --tune-first runs/scifact-train.hybrid.trec --tune-ce $val --tune-qrels scifact-train --output $out --tag $2-interp \
    >> $log 2>&1
}
# ... for the shipped model: its test hybrid top 20 (the demo's run, committed; re-made here when missing); its
# validation run goes to a folder that no config trains into
[ -f $S/hybrid-bm25dprcat.top20.trec.gz ] || timed rerank-scifact-hybrid-top20 rerank_hybrid $shipped 20 \
  "${THREADS:-2}" $S/hybrid-bm25dprcat.top20.trec.gz scifact-hybrid-bm25dprcat
interp_hybrid hybrid_bm25dprcat hybrid-bm25dprcat runs/train/shipped-scifact-hybrid-bm25dprcat $shipped
[ -n "${ZERO_SHOT_ONLY:-}" ] && exit 0
for v in "${variants[@]}"; do
  if [[ $v == hybrid_* ]]; then  # a model over the hybrid first stage (scifact_hybrid_*.yaml, e.g.
    # hybrid_bm25dprcat-msmarco): trained on SciFact train's hybrid top 100, re-ranking the test hybrid top 20 (the
    # demo's depth) with the hybrid search's BM25 and MiniLM scores
    name=scifact-${v//_/-}
    if [ $v == hybrid_bm25dprcat ]; then  # its outputs' names are the shipped model's (the rows above)
      echo "scifact.sh: hybrid_bm25dprcat is the shipped model's recipe; its rows are made above. To retrain it, copy" \
        "its config under another name (see scifact_hybrid_bm25dprcat-seed43.yaml)" >&2
      exit 2
    fi
    finished runs/train/$name || timed train-$name $PY -m rerankinject.train \
      --config scripts/configs/scifact_$v.yaml --output-dir runs/train/$name >> runs/train/$name.log 2>&1  # resumes
    save_training $name
    [ -f $S/${v//_/-}.top20.trec.gz ] || timed rerank-$name-top20 rerank_hybrid runs/train/$name/best 20 \
      "${THREADS:-1}" $S/${v//_/-}.top20.trec.gz $name
    # the last checkpoint too when validation (40 queries) chose an earlier one
    if ! best_is_last $name && [ ! -f $S/${v//_/-}-last.top20.trec.gz ]; then
      timed rerank-$name-last-top20 rerank_hybrid "$(last_model $name)" 20 "${THREADS:-1}" \
        $S/${v//_/-}-last.top20.trec.gz $name-last
    fi
    interp_hybrid $v ${v//_/-} runs/train/$name
    continue
  fi
  sources=(--source bm25=runs/scifact-test.bm25.trec)
  [[ $v == *dpr* ]] && sources+=(--source dpr=runs/scifact-test.dpr.trec)
  finished runs/train/scifact-$v || timed train-scifact-$v $PY -m rerankinject.train \
    --config scripts/configs/scifact_$v.yaml >> runs/train/scifact-$v.log 2>&1  # resumes
  save_training scifact-$v
  [ -f $S/$v.trec.gz ] || timed rerank-scifact-$v $PY -m rerankinject.rerank --run $S/bm25.trec.gz \
    --topics scifact-test --corpus scifact-test --model runs/train/scifact-$v/best --depth 100 \
    "${sources[@]}" --bm25-index indexes/scifact --output $S/$v.trec.gz \
    --threads "${THREADS:-1}" --tag scifact-$v
done
# interpolation baseline: BM25 + CAT, alpha tuned on the CAT model's 40 validation queries (split from train, held
# out from its training; their BM25 top 100 re-ranked, kept in docs/results/training)
val=$RES/training/scifact-cat.validation.trec.gz
if [[ " ${variants[*]} " == *" cat "* ]] && [ ! -f $S/interp.trec.gz ] && [ -f $S/cat.trec.gz ]; then
  if [ ! -f $val ]; then
    timed validation-scifact-cat $PY -m rerankinject.train --config scripts/configs/scifact_cat.yaml \
      --validation-only >> runs/train/scifact-cat.log 2>&1
    keep runs/train/scifact-cat/validation.scifact-train.trec $val "" scifact-cat-validation
  fi
  $PY -m rerankinject.interpolate --first $S/bm25.trec.gz --ce $S/cat.trec.gz --tune-first runs/scifact-train.bm25.trec \
    --tune-ce $val --tune-qrels scifact-train --output $S/interp.trec.gz --tag interp
fi
exit
}
