"""Probe the int8 path: how big an fp32 head the cascade needs, and where ONNX Runtime spends its time.

    python scripts/int8_probe.py cascade --model runs/train/msmarco-cat/best      # all 4,300 DL19 pairs
    python scripts/int8_probe.py profile --model runs/train/msmarco-cat/best --pairs 800 --graph int8-full

``cascade`` scores every DL19 BM25 top-100 pair with the ``onnx`` fp32 graph and with ``onnx-int8-full`` (batch 8),
both through ``ScoreInjectReranker.rerank_run`` (the re-ranker's grouping), then simulates the exact-head cascade
(each query's int8 top K re-scored in fp32) for several K and an adaptive head (int8 top 10 plus every candidate
within delta logits of the 10th int8 score), printing the nDCG@10 change against fp32. ``profile`` runs one graph
of the model's ONNX cache (``<model>/onnx``; run ``cascade`` or the re-ranker once to export it) on length-sorted
batches with one intra-op thread and ONNX Runtime profiling, and prints each operator type's share of the kernel
time. Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_rerank import MAX_LEN, load_pairs  # noqa: E402


def cascade(args: argparse.Namespace) -> None:
    from rerankinject.evaluate.measures import evaluate_run
    from rerankinject.io.runs import RunRecord
    from rerankinject.rerank.reranker import ScoreInjectReranker

    run, topics, corpus, ds = load_pairs(args.pairs)
    scores = {}
    for name, backend, bs in (("fp32", "onnx", 32), ("int8", "onnx-int8-full", 8)):
        rr = ScoreInjectReranker(args.model, device="cpu", batch_size=bs, max_length=MAX_LEN, backend=backend,
                                 threads=args.threads)
        t0 = time.perf_counter()
        out = rr.rerank_run(run, topics, corpus)
        print(f"{name}: {time.perf_counter() - t0:.1f}s", flush=True)
        scores[name] = {q: {r.doc_id: r.score for r in recs} for q, recs in out.items()}
    qrels = ds.qrels()

    def ndcg(by_query: dict) -> float:
        recs = {q: [RunRecord(q, d, s) for d, s in m.items()] for q, m in by_query.items()}
        return evaluate_run(recs, qrels, ds.rel_level, ["nDCG@10"])["nDCG@10"]

    def simulate(select) -> tuple[float, float]:
        sim, n = {}, 0
        for q, m in scores["int8"].items():
            order = sorted(m, key=lambda d: (-m[d], d))
            head = {d: scores["fp32"][q][d] for d in select(m, order)}
            n += len(head)
            low = min(head.values())
            tail = [d for d in order if d not in head]  # int8 order, below the head
            sim[q] = {**head, **{d: low - 1 - j for j, d in enumerate(tail)}}
        return ndcg(sim) - base, n / len(sim)

    base = ndcg(scores["fp32"])
    print(f"fp32 nDCG@10 {base:.4f}; int8 alone {ndcg(scores['int8']) - base:+.4f}")
    errs = []
    for q, f in scores["fp32"].items():
        off = statistics.median(scores["int8"][q][d] - f[d] for d in f)
        errs += (abs(scores["int8"][q][d] - f[d] - off) for d in f)
    errs.sort()
    p50, p90, p99 = (errs[int(p * (len(errs) - 1))] for p in (0.5, 0.9, 0.99))
    print(f"|int8 - fp32| after a per-query offset: p50 {p50:.3f} p90 {p90:.3f} p99 {p99:.3f}")
    for k in (3, 5, 8, 10, 12, 15, 20):
        print(f"head K={k}: nDCG@10 {simulate(lambda m, o, k=k: o[:k])[0]:+.4f}")
    for delta in (0.5, 0.75, 1.0):
        change, size = simulate(lambda m, o, d=delta: o[:10] + [x for x in o[10:] if m[x] >= m[o[9]] - d])
        print(f"top 10 + within {delta} of the 10th: nDCG@10 {change:+.4f}, {size:.1f} pairs per query")


def profile(args: argparse.Namespace) -> None:
    import numpy as np  # noqa: F401  (onnxruntime inputs)
    import onnxruntime as ort

    from rerankinject.scoring.batching import pad_arrays
    from rerankinject.scoring.model import CrossEncoderModel

    run, topics, corpus, _ = load_pairs(args.pairs)
    ce = CrossEncoderModel(args.model, device="cpu", max_length=MAX_LEN)
    items = []
    for q, recs in run.items():
        items += ce.builder.encode(topics[q], [corpus[r.doc_id] for r in recs], [{} for _ in recs])
    items.sort(key=lambda x: len(x[0]))
    graphs = sorted((Path(args.model) / "onnx").glob(f"*.{args.graph}.onnx"))
    if not graphs:
        raise SystemExit(f"no {args.graph} graph under {args.model}/onnx (re-rank once with that backend first)")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    sess = ort.InferenceSession(str(graphs[0]), so, providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    for i in range(0, len(items), args.batch_size):
        ids, types, mask = pad_arrays(items[i:i + args.batch_size], 0)
        sess.run(["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
    seconds = time.perf_counter() - t0
    events = json.loads(Path(sess.end_profiling()).read_text())
    by_op = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] += e["dur"]
    total = sum(by_op.values())
    print(f"{args.graph}: {len(items) / seconds:.1f} pairs/s, kernel time {total / 1e6:.2f}s")
    for op, us in by_op.most_common():
        print(f"  {op:<28} {100 * us / total:5.1f}%")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["cascade", "profile"])
    p.add_argument("--model", required=True, help="cross-encoder folder")
    p.add_argument("--pairs", type=int, default=None, help="first whole DL19 queries with >= N pairs (default all)")
    p.add_argument("--threads", type=int, default=2, help="cascade: CPU threads")
    p.add_argument("--graph", default="int8-full", choices=["fp32", "int8-full", "int8-ffnfp32"], help="profile")
    p.add_argument("--batch-size", type=int, default=8, help="profile: pairs per run")
    args = p.parse_args(argv)
    if args.pairs is not None and args.pairs < 1:
        p.error(f"--pairs must be >= 1, got {args.pairs}")
    (cascade if args.what == "cascade" else profile)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
