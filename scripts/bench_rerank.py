"""Benchmark re-ranking speed: ScoreInjectReranker (torch, onnx, onnx-int8) vs sentence-transformers' CrossEncoder.

Same model folder, same (query, passage) pairs: the DL19 BM25 top-100 (43 queries, 4,300 pairs), or the first
whole queries that make up at least ``--pairs N`` pairs. Each (system, repeat) runs in a fresh worker process
(so peak RSS is per system), the systems interleaved repeat by repeat so that background load hits all of them
alike; only re-ranking is timed (tokenisation + scoring; model loading and the one-off ONNX export are not).

Identical inputs: both sides use the CAT recipe ([CLS] query [SEP] passage [SEP]) with max_length 512; the script
checks that every pair's token ids are the same for our InputBuilder (query cap 30 tokens) and for the
CrossEncoder's tokenizer (longest_first truncation), i.e. that nothing is truncated on either side.

Reports: median pairs/s and its ratio to CrossEncoder.predict (defaults: batch 32; and its best batch size from
``--ce-batch-sizes``), peak RSS, max |score - CrossEncoder score|, nDCG@10 on the covered DL19 queries,
per-query Spearman of the ONNX paths vs torch, and the CPU's measured fp32 matmul GFLOP/s with the fraction of it
each system reaches (useful FLOPs from the model size and the real, unpadded sequence lengths).

    python scripts/bench_rerank.py --pairs 1000 --repeats 3            # MiniLM-initialised CE in /tmp
    python scripts/bench_rerank.py --model /path/to/ce --repeats 3     # all 4,300 pairs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAX_LEN = 512


def load_pairs(n_pairs: int | None):
    """``(run slice {qid: records}, topics, {doc id: text})`` of DL19 BM25 top-100, whole queries in qid order."""
    from rerankinject.datasets.registry import load_dataset
    from rerankinject.io.formats import document_text, read_collection
    from rerankinject.io.runs import read_run

    dl = load_dataset("dl19")
    run = read_run(dl.run_path("bm25"))
    out, total = {}, 0
    for q in sorted(run):
        if n_pairs is not None and total >= n_pairs:
            break
        out[q] = run[q][:100]
        total += len(out[q])
    need = {r.doc_id for recs in out.values() for r in recs}
    corpus = {d: document_text(doc) for d, doc in read_collection(dl.corpus_path).items() if d in need}
    return out, dl.topics(), corpus, dl


def parse_system(system: str, batch_size: int) -> tuple[str, int | None, int, int]:
    """``backend[:wN][:bM][:hK]`` -> (backend, workers (None: default), batch size, exact head), e.g.
    ``onnx-int8-full:b8:h20`` (int8 at batch 8, each query's int8 top 20 re-scored in fp32)."""
    backend, *opts = system.split(":")
    workers, head = None, 0
    for o in opts:
        if o.startswith("w"):
            workers = int(o[1:])
        elif o.startswith("b"):
            batch_size = int(o[1:])
        elif o.startswith("h"):
            head = int(o[1:])
        else:
            raise SystemExit(f"bad system option {o!r} in {system!r} (expected wN, bM or hK)")
    return backend, workers, batch_size, head


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(args) -> None:
    """One timed run of one system; writes {seconds, peak_rss_mb, rss_before_mb, scores} as JSON."""
    import torch

    torch.set_num_threads(args.threads)
    import gc

    run, topics, corpus, _ = load_pairs(args.pairs)
    gc.collect()
    base = rss_mb()  # the data (and torch's import); the peak below is what the model + scoring add to it
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS (VmHWM)
    pairs = [(topics[q], corpus[r.doc_id]) for q, recs in run.items() for r in recs]
    system = args.worker
    if system.startswith("ce"):
        from sentence_transformers import CrossEncoder

        ce = CrossEncoder(args.model, device="cpu", max_length=MAX_LEN, activation_fn=torch.nn.Identity())
        bs = int(system.split("-bs")[1]) if "-bs" in system else 32
        ce.predict(pairs[:64], batch_size=bs)  # warm-up
        before = rss_mb()
        t0 = time.perf_counter()
        scores = ce.predict(pairs, batch_size=bs, show_progress_bar=False).tolist()
        seconds = time.perf_counter() - t0
    else:
        from rerankinject.rerank.reranker import ScoreInjectReranker

        backend, workers, batch_size, head = parse_system(system, args.batch_size)
        rr = ScoreInjectReranker(args.model, device="cpu", batch_size=batch_size, max_length=MAX_LEN,
                                 backend=backend, threads=args.threads, workers=workers, exact_head=head)
        q0 = next(iter(run))
        rr.rerank_run({q0: run[q0][:64]}, topics, corpus)  # warm-up
        before = rss_mb()
        t0 = time.perf_counter()
        out = rr.rerank_run(run, topics, corpus)
        seconds = time.perf_counter() - t0
        got = {(r.query_id, r.doc_id): r.score for recs in out.values() for r in recs}
        scores = [got[(q, r.doc_id)] for q, recs in run.items() for r in recs]
    hwm = [ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM:")]
    peak = (int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024) - base
    Path(args.out).write_text(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "rss_before_mb": before,
                                          "scores": scores}))


def matmul_gflops(threads: int, n: int = 1024, reps: int = 10) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def flops_per_pair(model_dir: str, lengths) -> float:
    """Useful forward FLOPs per pair: 2 * non-embedding params * tokens + attention (4 * L^2 * d per layer)."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model_dir)
    d, f, n_layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    per_layer = 4 * d * d + 2 * d * f  # Q, K, V, O + the two FFN matrices
    total = 0.0
    for L in lengths:
        total += 2 * per_layer * n_layers * L + 4 * L * L * d * n_layers + 2 * d * d  # + pooler
    return total / len(lengths)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="cross-encoder folder (default: a MiniLM-initialised CAT CE, cached in /tmp)")
    p.add_argument("--pairs", type=int, default=None, help="first whole queries with >= N pairs (default: all)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32, help="our batch size (default 32)")
    p.add_argument("--ce-batch-sizes", default="16,64,128", help="CrossEncoder batch sizes tried for its best")
    p.add_argument("--systems", default="torch,onnx,onnx-int8,onnx-int8-full",
                   help="our backends to time, each BACKEND[:wN][:bM][:hK] (N concurrent batches, batch size M, "
                        "int8 top K re-scored in fp32)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", help="write the summary here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0

    import numpy as np
    from scipy.stats import spearmanr

    from rerankinject.evaluate.measures import evaluate_run
    from rerankinject.io.runs import RunRecord
    from rerankinject.scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel
    from rerankinject.scoring.onnx_backend import export_onnx

    if args.model is None:
        args.model = str(Path(tempfile.gettempdir()) / "rerankinject-bench-minilm-ce")
        if not (Path(args.model) / "config.json").is_file():
            CrossEncoderModel(DEFAULT_INIT_MODEL(), device="cpu").save(args.model)
    ours = [s for s in args.systems.split(",") if s]
    for s in ours:
        if s.startswith("onnx"):
            b = s.split(":")[0]
            export_onnx(args.model, quantize=b.startswith("onnx-int8"), full_int8=b == "onnx-int8-full")  # not timed
            export_onnx(args.model)  # the fp32 graph of an exact head
    run, topics, corpus, dl = load_pairs(args.pairs)
    n = sum(len(v) for v in run.values())

    # identical inputs: our CAT builder (query cap 30, max_length 512) vs the CrossEncoder's tokenizer
    m = CrossEncoderModel(args.model, device="cpu", max_length=MAX_LEN)
    lengths, mismatched = [], 0
    for q, recs in run.items():
        texts = [corpus[r.doc_id] for r in recs]
        ours_ids = m.builder.encode(topics[q], texts, [{}] * len(texts))
        ref = m.tokenizer([topics[q]] * len(texts), texts, truncation="longest_first", max_length=MAX_LEN)
        for (ids, types), rid, rtt in zip(ours_ids, ref["input_ids"], ref["token_type_ids"], strict=True):
            mismatched += ids != rid or types != rtt
            lengths.append(len(ids))
    del m
    load1 = os.getloadavg()
    gflops = matmul_gflops(args.threads)
    fpp = flops_per_pair(args.model, lengths)
    print(f"{n} pairs ({len(run)} queries); mean length {np.mean(lengths):.1f} tokens (max {max(lengths)}); "
          f"token-id mismatches vs CrossEncoder tokenizer: {mismatched}")
    print(f"CPU: {os.cpu_count()} cores, {args.threads} threads; fp32 matmul {gflops:.1f} GFLOP/s; "
          f"~{fpp / 1e9:.3f} GFLOP per pair; load average {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")

    # CrossEncoder's best batch size (one quick pass each on the first 320 pairs... measured in the main repeats)
    ce_systems = ["ce-bs32"] + [f"ce-bs{b}" for b in args.ce_batch_sizes.split(",") if b and b != "32"]
    systems = ours + ce_systems
    results: dict[str, list[dict]] = {s: [] for s in systems}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            order = systems if rep % 2 == 0 else systems[::-1]
            for s in order:
                out = Path(tmp) / f"{s}.{rep}.json"
                cmd = [sys.executable, __file__, "--worker", s, "--out", str(out), "--model", args.model,
                       "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
                if args.pairs is not None:
                    cmd += ["--pairs", str(args.pairs)]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                r = json.loads(out.read_text())
                results[s].append(r)
                print(f"  repeat {rep} {s:16s} {n / r['seconds']:7.1f} pairs/s  load {os.getloadavg()[0]:.2f}",
                      flush=True)
    load2 = os.getloadavg()

    med = {s: statistics.median(n / r["seconds"] for r in results[s]) for s in systems}
    best_ce = max(ce_systems, key=lambda s: med[s])
    ref = np.array(results["ce-bs32"][0]["scores"])
    keys = [(q, r.doc_id) for q, recs in run.items() for r in recs]
    qrels = {q: v for q, v in dl.qrels().items() if q in run}
    ref_torch = next((s for s in ours if s.split(":")[0] == "torch"), None)
    torch_scores = np.array(results[ref_torch][0]["scores"]) if ref_torch else None
    summary = {"pairs": n, "queries": len(run), "threads": args.threads, "matmul_gflops": gflops,
               "gflop_per_pair": fpp / 1e9, "load_before": load1, "load_after": load2, "token_mismatches": mismatched,
               "best_ce": best_ce, "systems": {}}
    print(f"\nmedian of {args.repeats} (load average before {load1[0]:.2f}, after {load2[0]:.2f}); "
          f"ratios vs CrossEncoder.predict defaults (ce-bs32) and its best ({best_ce})")
    print(f"{'system':16s} {'pairs/s':>8s} {'xCE32':>6s} {'xCEbest':>7s} {'%peak':>6s} {'+peakRSS':>8s} "
          f"{'max|d|vsCE':>10s} {'nDCG@10':>7s} {'rho(q)':>12s}")
    for s in systems:
        sc = np.array(results[s][0]["scores"])
        recs = {}
        for (q, d), v in zip(keys, sc, strict=True):
            recs.setdefault(q, []).append(RunRecord(q, d, float(v)))
        ndcg = evaluate_run(recs, qrels, dl.rel_level, ["nDCG@10"])["nDCG@10"]
        rho = ""
        rhos = []
        if s.startswith("onnx") and torch_scores is not None:
            i = 0
            for rr in run.values():
                rhos.append(spearmanr(sc[i:i + len(rr)], torch_scores[i:i + len(rr)])[0])
                i += len(rr)
            rho = f"{np.mean(rhos):.4f}/{np.min(rhos):.3f}"
        peak = max(r["peak_rss_mb"] for r in results[s])
        pct = 100 * med[s] * fpp / 1e9 / gflops
        maxdiff = float(np.abs(sc - ref).max())
        print(f"{s:16s} {med[s]:8.1f} {med[s] / med['ce-bs32']:6.2f} {med[s] / med[best_ce]:7.2f} {pct:5.1f}% "
              f"{peak:6.0f}MB {maxdiff:10.2e} {ndcg:7.4f} {rho:>12s}")
        summary["systems"][s] = {"pairs_per_s": med[s], "all_pairs_per_s": [n / r["seconds"] for r in results[s]],
                                 "ratio_ce32": med[s] / med["ce-bs32"], "ratio_ce_best": med[s] / med[best_ce],
                                 "pct_matmul_peak": pct, "peak_rss_mb": peak, "max_abs_diff_vs_ce": maxdiff,
                                 "ndcg10": ndcg, "spearman_mean": float(np.mean(rhos)) if rhos else None,
                                 "spearman_min": float(np.min(rhos)) if rhos else None}
    print("rho(q): per-query Spearman vs our torch scores, mean/min; %peak: useful FLOP/s / fp32 matmul GFLOP/s; "
          "peakRSS: peak RSS added by loading the model and scoring (over the process with the data loaded)")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
