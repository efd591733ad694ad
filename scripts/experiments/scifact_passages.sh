#!/usr/bin/env bash
# Long documents on SciFact test, ALL 300 queries (issue "text-pair API and long documents"): the SciFact-trained
# shipped model (models/minilm-l6-scifact-hybrid-bm25dprcat, max_length 224) re-ranks BM25's top 100 with
#   truncation (one input per abstract, cut at 224 tokens), FirstP and MaxP (W = S = 100 words, title before each),
# BM25 and the exact MiniLM cosine injected (the committed docs/results/scifact/{bm25,dense-minilm}.trec.gz).
# Six shards per mode, one thread per process, two lanes side by side (MaxP | truncation then FirstP); each shard
# process's user/system CPU seconds, wall seconds and peak RSS (KB) go to runs/passages-scifact/times.tsv
# (mode, shard, user, sys, wall, maxrss_kb). Merged runs: docs/results/scifact-passages/<mode>.trec.gz.
#   bash scripts/experiments/scifact_passages.sh      # finished shards are skipped (a killed run resumes)
{ # one block: bash reads it whole before running it
source "$(dirname "$0")/common.sh"
OUT=runs/passages-scifact
mkdir -p $OUT $RES/scifact-passages
R="--run $RES/scifact/bm25.trec.gz --topics scifact-test --corpus scifact-test
   --model models/minilm-l6-scifact-hybrid-bm25dprcat --source bm25=$RES/scifact/bm25.trec.gz
   --source dpr=$RES/scifact/dense-minilm.trec.gz --depth 100 --threads 1 --device cpu"
shard() {  # shard MODE K -> $OUT/MODE.shardKof6.trec
  local m=$1 k=$2 out=$OUT/$1.shard$2of6.trec extra=""
  [ -f "$out" ] && return 0
  [ "$m" != trunc ] && extra="--passages $m --passage-length 100 --stride 100"
  /usr/bin/time -f "$m	$k	%U	%S	%e	%M" -a -o $OUT/times.tsv \
    $PY -m rerankinject.rerank $R $extra --shard "$k/6" --tag "scifact-passages-$m" --output "$out"
}
(for k in 1 2 3 4 5 6; do shard maxp $k; done) &
(for k in 1 2 3 4 5 6; do shard trunc $k; shard firstp $k; done) &
wait
for m in trunc firstp maxp; do
  $PY -m rerankinject.merge --expect-shards 6 --tag "scifact-passages-$m" --output $RES/scifact-passages/$m.trec.gz \
    $OUT/$m.shard{1,2,3,4,5,6}of6.trec
done
$PY -m rerankinject.evaluate --qrels scifact-test --measures nDCG@10,R@100 --markdown \
  --baseline $RES/scifact-passages/trunc.trec.gz \
  $RES/scifact/bm25.trec.gz $RES/scifact-passages/{trunc,firstp,maxp}.trec.gz | tee $RES/scifact-passages/eval.md
awk -F'\t' '{u[$1]+=$3; if ($6>r[$1]) r[$1]=$6} END {for (m in u) printf "%s\tuser CPU %.0f s\tpeak RSS %.0f MB\n", m, u[m], r[m]/1024}' \
  $OUT/times.tsv | sort | tee $RES/scifact-passages/cost.tsv
exit
}
