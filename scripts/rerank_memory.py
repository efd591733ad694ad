"""Peak memory of ``python -m rerankinject.rerank`` over 1x vs Nx queries (docs/reliability.md).

The Nx run repeats every DL19 query under new ids (``<qid>_<i>``) over the same real passages, so the work per
query is identical and only the number of queries grows. Each size runs in a fresh process; the script prints
peak RSS (``resource.getrusage``) and the peak of Python allocations (``tracemalloc``, started after imports).

    python scripts/rerank_memory.py --factors 1 10 --depth 20 [--model DIR]   # default: a tiny random BERT
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, tracemalloc
import torch
torch.set_num_threads(1)
from rerankinject.rerank import __main__ as rerank
tracemalloc.start()
t0 = time.perf_counter()
rc = rerank.main(sys.argv[1:])
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t0, "tracemalloc_peak_mb": peak / 2**20,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--factors", type=int, nargs="+", default=[1, 10])
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--model", help="cross-encoder folder (default: a tiny random BERT with BM25CAT)")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from rerankinject.datasets.registry import load_dataset
    from rerankinject.io.runs import RunRecord, read_run, write_run

    tmp = Path(tempfile.mkdtemp(prefix="rr-mem-"))
    model = args.model
    if model is None:
        from rerankinject.injection.recipe import recipe_for_variant
        from tests._ce_util import make_tiny_bert

        model = str(make_tiny_bert(tmp / "tiny", recipe_for_variant("BM25CAT")))
    ds = load_dataset("dl19")
    run, topics = read_run(ds.run_path("bm25")), ds.topics()
    results = {}
    for f in args.factors:
        big = {f"{q}_{i}": [RunRecord(f"{q}_{i}", r.doc_id, r.score) for r in recs]
               for i in range(f) for q, recs in run.items()}
        run_path, topics_path = tmp / f"run.x{f}.trec", tmp / f"topics.x{f}.tsv"
        write_run(big, run_path, tag="bm25")
        topics_path.write_text("".join(f"{q}_{i}\t{topics[q]}\n" for i in range(f) for q in run))
        argv = ["--run", str(run_path), "--topics", str(topics_path), "--corpus", "dl19", "--model", model,
                "--source", f"bm25={run_path}", "--depth", str(args.depth), "--device", "cpu",
                "--output", str(tmp / f"out.x{f}.trec")]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", CHILD, *argv], env=env, capture_output=True, text=True,
                             check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res.update(queries=len(big), records=sum(len(v) for v in big.values()), pairs=len(big) * args.depth)
        results[f] = res
        print(json.dumps({"factor": f, **{k: round(v, 1) if isinstance(v, float) else v for k, v in res.items()}}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
