#!/usr/bin/env bash
# MS MARCO-style training on the CLEAN dev-small set, tested on BOTH DL19 and DL20 (official BM25 top 100 re-ranked):
#   1. the pool (every MS MARCO passage in the shared data), its Lucene index and its MiniLM faiss index;
#   2. scripts/build_msmarco_clean.py: title-free positives, BM25 + MiniLM hard negatives, exact scores of every
#      training document, and the DL candidates scored EXACTLY by the same two indexes (runs/msmarco-clean);
#   3. the variants (default: the like-for-like four, cat bm25cat dprcat-scratch bm25dprcat-scratch: same data, loss,
#      schedule and steps, only the injection differs; dprcat/bm25dprcat/bm25added/cat-more/bm25dprcat-gentle are
#      upgrades of the trained CAT and its control; cat-long and bm25dprcat-long are trained 1,800 steps; cat-tuned,
#      bm25cat-tuned and bm25dprcat-tuned distil the teacher whose BM25 weight was tuned on runs/msmarco-devval, the
#      non-saturated set of scripts/build_msmarco_devval.py, and validate there; dprcat-tuned completes that family;
#      cat-tuned-seed43, bm25cat-tuned-seed43, dprcat-tuned-seed43 and bm25dprcat-tuned-seed43 are the family with
#      another seed; cat-lm is cat-tuned on the length-matched set runs/msmarco-clean-lm), two side by side (threads
#      from their configs);
#   4. each re-ranks DL19 and DL20 (a *-long, -lm or -tuned variant's final checkpoint too, as
#      msmarco-<variant>-last, unless it is the best one); the interpolation baseline BM25 + CAT (alpha tuned on the
#      other year); the teachers' own rankings of the DL candidates (BM25 weight 0.5, and tuned on
#      runs/msmarco-devval: cat-tuned's teacher); and BM25 + each *-tuned* variant, interpolated the same way
#      (msmarco-<variant>-interp).
#   The surface-shortcut probe of the training sets (and of the test-like sets) -> docs/results/probe_shortcut.json.
#   bash scripts/experiments/msmarco.sh [VARIANT ...]     # finished steps are skipped; training resumes
{ # one block: bash reads it whole before running it, so editing this file cannot derail a running job
source "$(dirname "$0")/common.sh"
VARIANTS=${*:-cat bm25cat dprcat-scratch bm25dprcat-scratch}
[ -f runs/msmarco-train/run.bm25-dl20.trec ] || timed prepare-msmarco $PY scripts/prepare_msmarco.py
[ -f runs/msmarco-train/dense/index ] || timed msmarco-pool-dense $PY -m rerankinject.index dense \
  --collection runs/msmarco-train/collection.tsv --index runs/msmarco-train/dense --normalize --batch-size 64
[ -f runs/msmarco-clean/dataset.json ] || timed msmarco-clean $PY scripts/build_msmarco_clean.py
[ -f runs/msmarco-clean-lm/dataset.json ] || timed msmarco-clean-lm $PY scripts/build_msmarco_clean.py \
  --out runs/msmarco-clean-lm --length-match
[ -f runs/msmarco-devval/dataset.json ] || timed msmarco-devval $PY scripts/build_msmarco_devval.py
[ -f $RES/probe_shortcut.json ] || $PY scripts/probe_shortcut.py runs/msmarco-train runs/msmarco-clean \
  runs/msmarco-clean-lm runs/msmarco-devval dl19 dl20 --json $RES/probe_shortcut.json
set -- $VARIANTS
while [ $# -gt 0 ]; do  # two lanes of one thread each
  for v in "$1" "${2:-}"; do
    [ -n "$v" ] || continue
    finished runs/train/msmarco-$v || timed train-msmarco-$v $PY -m rerankinject.train \
      --config scripts/configs/msmarco_$v.yaml >> runs/train/msmarco-$v.log 2>&1 &
  done
  wait
  shift; [ $# -gt 0 ] && shift
done
TESTED=""  # NAME=MODEL: each variant's best-validation model; a *-long/-lm/-tuned variant's last checkpoint as
# NAME-last unless the best one is the last
for v in $VARIANTS; do
  save_training msmarco-$v
  TESTED="$TESTED $v=$(msmarco_model $v)"
  case $v in *-long|*-lm|*-tuned*) best_is_last msmarco-$v || TESTED="$TESTED $v-last=$(last_model msmarco-$v)" ;;
  esac
done
for year in dl19 dl20; do
  mkdir -p $RES/$year
  for t in $TESTED; do
    v=${t%%=*}; out=$RES/$year/msmarco-$v.trec.gz
    [ -f "$out" ] || timed rerank-$year-msmarco-$v $PY -m rerankinject.rerank --run "$(bundled $year bm25)" \
      --topics $year --corpus $year --model "${t#*=}" --depth 100 \
      --source bm25=runs/msmarco-clean/run.bm25-$year.trec --source dpr=runs/msmarco-clean/run.dense-$year.trec \
      --output "$out" --tag msmarco-$v --threads "${THREADS:-2}"
  done
done
interp_bm25() {  # MODEL OUT [TAG]: the interpolation baseline BM25 + msmarco-MODEL on each DL year (official BM25
  # run, per-query min-max, alpha tuned on the other year) -> $RES/<year>/OUT.trec.gz
  local pair test tune out
  for pair in dl19:dl20 dl20:dl19; do
    test=${pair%%:*}; tune=${pair##*:}
    out=$RES/$test/$2.trec.gz
    [ -f "$out" ] || $PY -m rerankinject.interpolate --first "$(bundled $test bm25)" --ce $RES/$test/msmarco-$1.trec.gz \
      --tune-first "$(bundled $tune bm25)" --tune-ce $RES/$tune/msmarco-$1.trec.gz --tune-qrels $tune --output "$out" \
      ${3:+--tag "$3"}
  done
}
interp_bm25 cat msmarco-interp
for v in $VARIANTS; do  # every tuned-teacher model (its best checkpoint) too
  case $v in *-tuned*) interp_bm25 $v msmarco-$v-interp msmarco-$v-interp ;; esac
done
for year in dl19 dl20; do  # the teachers' own ranking of the test candidates (pool-index BM25 and MiniLM, per-query
  # min-max): equal weights (rounds 3-6), and the BM25 weight tuned on runs/msmarco-devval (never on DL)
  [ -f $RES/$year/msmarco-teacher-equal.trec.gz ] || $PY -m rerankinject.interpolate \
    --first runs/msmarco-clean/run.bm25-$year.trec --ce runs/msmarco-clean/run.dense-$year.trec --alpha 0.5 \
    --output $RES/$year/msmarco-teacher-equal.trec.gz --tag teacher-0.5
  [ -f $RES/$year/msmarco-teacher-tuned.trec.gz ] || $PY -m rerankinject.interpolate \
    --first runs/msmarco-clean/run.bm25-$year.trec --ce runs/msmarco-clean/run.dense-$year.trec \
    --tune-first runs/msmarco-devval/run.bm25.trec --tune-ce runs/msmarco-devval/run.dense.trec \
    --tune-qrels runs/msmarco-devval/qrels.txt --output $RES/$year/msmarco-teacher-tuned.trec.gz --tag teacher-devval
done
exit
}
