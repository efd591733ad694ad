# Sourced by scripts/experiments/*.sh: paths, the interpreter, and `timed NAME CMD...` which runs a command and
# appends "NAME<TAB>seconds<TAB>machine<TAB>date" to docs/results/times.tsv (the results table reads it).
# docs/results/ is TRACKED: the test run files (our own outputs, gzipped) and each trained model's training state
# are committed there, so the tables survive the machine; checkpoints, indexes and working files stay in runs/.
# The bundled first-stage runs (BM25, TAS-B, SPLADE++) are read from the data set, never copied.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY=${PY:-.venv/bin/python}
RES=${RES:-docs/results}
mkdir -p "$RES/training" runs/train
MACHINE=${MACHINE:-"$(nproc)-core $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(free -g | awk '/Mem:/{print $2}') GB$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/^/, /' || true)"}
timed() {
  local name=$1; shift
  local t0=$EPOCHREALTIME
  "$@"
  awk -v n="$name" -v a="$t0" -v b="$EPOCHREALTIME" -v m="$MACHINE" -v d="$(date -u +%FT%TZ)" \
    'BEGIN { printf "%s\t%.1f\t%s\t%s\n", n, b - a, m, d }' >> "$RES/times.tsv"
}
# bundled DATASET RUN -> the path of a bundled first-stage run (e.g. bundled dl19 tasb)
bundled() { $PY -c "from rerankinject.datasets import load_dataset; print(load_dataset('$1').run_path('$2'))"; }
# keep SRC DEST.trec.gz [DEPTH [TAG]] -> gzip a run into the tracked results (cut at DEPTH hits per query when given)
keep() {
  $PY -c "import sys; from rerankinject.io.runs import read_run, write_run
d = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else None
write_run({q: r[:d] for q, r in read_run(sys.argv[1]).items()}, sys.argv[2], tag=sys.argv[4] if len(sys.argv) > 4 else 'rerankinject')" "$@"
}
# save_training MODEL -> the trainer state (steps, minutes, validation curve) of runs/train/MODEL, kept in docs/results
save_training() {
  [ -f runs/train/$1/validation_curve.json ] && cp runs/train/$1/validation_curve.json "$RES/training/$1.json" || true
}
# finished OUTPUT_DIR [STOP] -> true when a training run reached its last step, stopped early, or reached step STOP
finished() {
  $PY -c "import json, sys; d = json.load(open('$1/validation_curve.json')); stop = min(d['total_steps'], int('${2:-0}') or d['total_steps'])
sys.exit(0 if d['stopped_early'] or (d['evaluations'] and d['evaluations'][-1]['step'] >= stop) else 1)" \
    2>/dev/null
}
# msmarco_model VARIANT -> the tested MS MARCO-style model folder
msmarco_model() { echo runs/train/msmarco-$1/best; }
# best_is_last MODEL -> true when runs/train/MODEL's best validation was at its last validated step
best_is_last() {
  $PY -c "import json, sys; d = json.load(open('runs/train/$1/validation_curve.json'))
sys.exit(0 if d['best_step'] == max(e['step'] for e in d['evaluations']) else 1)"
}
# last_model MODEL -> runs/train/MODEL/last: the newest checkpoint's weights with best/'s config, tokenizer and
# injection recipe (a checkpoint holds weights and trainer state only), made once
last_model() {
  local d=runs/train/$1
  if [ ! -f $d/last/model.safetensors ]; then
    mkdir -p $d/last
    cp $d/best/{config.json,injection.json,tokenizer.json,tokenizer_config.json} $d/last/
    cp "$($PY -c "from rerankinject.train.trainer import last_checkpoint; print(last_checkpoint('$d'))")/model.safetensors" \
      $d/last/
  fi
  echo $d/last
}
