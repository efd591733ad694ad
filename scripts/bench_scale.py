"""Benchmark the Ray engine against the local (single-process) engine on DL19 BM25 top-100, in one run.

Same model, same 4,300 pairs, same groups and batches; both engines are timed from an unloaded model to the last
re-ranked query (the local engine loads its model in the timed span, the Ray engine starts its replicas and loads
the model in each; ``ray.init`` is timed apart). The Ray engine runs first so that the driver's peak RSS after it
is the Ray driver's own (it loads only the tokenizer). Reports the ratio Ray / local, the pairs/s of each, the
per-replica rate, whether the runs are identical, the load average (other jobs on the machine) and, on paper, the
time to re-rank MS MARCO dev top-1000 (6,980 x 1,000 pairs) on N replicas from the measured per-replica rate.

    python scripts/bench_scale.py                              # shipped BM25CAT model, 2 replicas on this machine
    python scripts/bench_scale.py --replicas 1 --pairs 1000
    python scripts/bench_scale.py --gpus-per-replica 1 --replicas 1,8   # on a GPU node: replicas 1 vs N
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

logger = logging.getLogger("bench_scale")

MSMARCO_DEV_PAIRS = 6980 * 1000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(n_pairs: int | None) -> tuple[dict, dict, dict, dict]:
    from rerankinject.datasets.registry import load_dataset
    from rerankinject.io.formats import document_text, read_collection
    from rerankinject.io.runs import read_run

    dl = load_dataset("dl19")
    full = read_run(dl.run_path("bm25"))
    run, total = {}, 0
    for q in sorted(full):
        if n_pairs is not None and total >= n_pairs:
            break
        run[q] = full[q][:100]
        total += len(run[q])
    need = {r.doc_id for recs in run.values() for r in recs}
    corpus = {d: document_text(doc) for d, doc in read_collection(dl.corpus_path).items() if d in need}
    return run, dl.topics(), corpus, {"bm25": run}


def _rerank(model: str, ray_options, batch_size: int, group_pairs: int, data: tuple) -> tuple[dict, float]:
    from rerankinject.rerank.reranker import ScoreInjectReranker

    run, topics, corpus, sources = data
    t0 = time.perf_counter()
    rr = ScoreInjectReranker(model, device=None if ray_options else "cpu", batch_size=batch_size,
                             group_pairs=group_pairs, ray=ray_options)
    out = rr.rerank_run(run, topics, corpus, sources, depth=100)
    return out, time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "models/minilm-l6-msmarco-bm25cat"))
    p.add_argument("--pairs", type=int, default=None, help="first whole queries making at least N pairs (all 4,300)")
    p.add_argument("--replicas", default="2", help="comma-separated replica counts to time (default 2)")
    p.add_argument("--gpus-per-replica", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--group-pairs", type=int, default=2048)
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray (default all)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    import ray

    from rerankinject.cluster import RayOptions

    data = _load(args.pairs)
    n_pairs = sum(len(v) for v in data[0].values())
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    rows = []
    ray_runs = {}
    for n in [int(x) for x in args.replicas.split(",")]:
        opts = RayOptions(replicas=n, gpus_per_replica=args.gpus_per_replica)
        out, secs = _rerank(args.model, opts, args.batch_size, args.group_pairs, data)
        ray_runs[n] = out
        rows.append((f"ray x{n}", secs, n))
    ray_rss = _rss_mb()
    gpu = args.gpus_per_replica > 0
    local, local_s = _rerank(args.model, None, args.batch_size, args.group_pairs, data) if not gpu else (None, 0.0)
    load_after = os.getloadavg()
    ray.shutdown()

    import torch

    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"\nDL19 BM25 top-100: {n_pairs} pairs, batch {args.batch_size}, groups >= {args.group_pairs} pairs; "
          f"{os.cpu_count()} cores, GPU: {card}; load average before/after {load_before[0]:.2f}/{load_after[0]:.2f}"
          f" (other jobs on the machine)")
    print(f"ray.init: {init_s:.1f}s (not in the times below); driver peak RSS after the Ray runs {ray_rss:.0f} MB")
    print("| engine | seconds | pairs/s | ratio to local | per-replica pairs/s | identical to local |")
    print("| --- | --- | --- | --- | --- | --- |")
    if local is not None:
        print(f"| local (1 process, {os.cpu_count()} workers) | {local_s:.1f} | {n_pairs / local_s:.1f} | 1.00 | "
              f"| |")
    for name, secs, n in rows:
        same = "" if local is None else ("byte-identical" if _same(ray_runs[n], local) else "differs")
        ratio = f"{secs / local_s:.2f}" if local is not None else ""
        print(f"| {name} | {secs:.1f} | {n_pairs / secs:.1f} | {ratio} | {n_pairs / secs / n:.1f} | {same} |")
    best = max(rows, key=lambda r: n_pairs / r[1] / r[2])
    rate = n_pairs / best[1] / best[2]
    for n in (8,):
        print(f"on paper: MS MARCO dev top-1000 ({MSMARCO_DEV_PAIRS:,} pairs) on {n} replicas like these at "
              f"{rate:.1f} pairs/s each: {MSMARCO_DEV_PAIRS / rate / n / 3600:.1f} h")
    return 0


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all([(r.doc_id, r.score) for r in a[q]] == [(r.doc_id, r.score) for r in b[q]]
                                      for q in a)


if __name__ == "__main__":
    sys.exit(main())
