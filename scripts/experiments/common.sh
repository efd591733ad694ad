# Sourced by scripts/experiments/*.sh: paths, the interpreter, and `timed NAME CMD...` which runs a command and
# appends "NAME<TAB>seconds<TAB>machine<TAB>date" to runs/results/times.tsv (the results table reads it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY=${PY:-.venv/bin/python}
RES=runs/results
mkdir -p "$RES" runs/train
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
# link the bundled reference runs of a DL year into runs/results/<year>/ (the table reads them from there)
link_reference_runs() {
  mkdir -p "$RES/$1"
  for r in bm25 tasb spladepp; do [ -e "$RES/$1/$r.trec" ] || ln -s "$(bundled "$1" $r)" "$RES/$1/$r.trec"; done
}
# finished OUTPUT_DIR -> true when a training run reached its last step (or stopped early)
finished() {
  $PY -c "import json, sys; d = json.load(open('$1/validation_curve.json'))
sys.exit(0 if d['stopped_early'] or (d['evaluations'] and d['evaluations'][-1]['step'] >= d['total_steps']) else 1)" \
    2>/dev/null
}
