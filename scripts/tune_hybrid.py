"""Choose the hybrid BM25+dense interpolation weight on SciFact TRAIN queries (never test) and print the table.

The two retrievers are searched once (``--depth`` hits each, exact scores for every candidate); every alpha and
normalisation is then a pure re-fusion of the same per-retriever runs (:func:`rerankinject.search.hybrid.fuse_runs`).

    python scripts/tune_hybrid.py --index indexes/scifact --dense-index indexes/scifact.minilm \\
        --topics scifact-train --depth 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rerankinject.cli import setup_logging
from rerankinject.datasets.registry import load_dataset
from rerankinject.evaluate.measures import evaluate_run
from rerankinject.search.faiss import DenseSearcher
from rerankinject.search.hybrid import HybridRetriever, fuse_runs
from rerankinject.search.lucene import BM25Searcher

logger = logging.getLogger("tune_hybrid")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--index", required=True, help="Lucene index")
    p.add_argument("--dense-index", required=True, help="dense index")
    p.add_argument("--topics", default="scifact-train", help="a data set name with qrels (default scifact-train)")
    p.add_argument("--depth", type=int, default=1000, help="hits per retriever (default 1000)")
    p.add_argument("--k", type=int, default=1000, help="fused hits evaluated (default 1000)")
    p.add_argument("--alphas", default=",".join(f"{a / 20:.2f}" for a in range(21)),
                   help="comma-separated BM25 weights (default 0.00,0.05,...,1.00)")
    p.add_argument("--normalizations", default="minmax-query,zscore-query")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the table as JSON here")
    args = p.parse_args(argv)
    if args.topics.endswith("-test"):
        p.error("tune on training queries, not on a test split")
    setup_logging()
    import torch

    torch.set_num_threads(args.threads)
    ds = load_dataset(args.topics)
    topics, qrels = ds.topics(), ds.qrels()
    hyb = HybridRetriever(BM25Searcher(args.index), DenseSearcher(args.dense_index))
    t0 = time.perf_counter()
    # k covers every candidate so that the per-retriever runs hold both raw scores of the whole union
    res = hyb.search_runs(topics, k=2 * args.depth, depth=args.depth, remove_query=True, threads=args.threads)
    logger.info("searched %d %s queries in %.1fs", len(topics), args.topics, time.perf_counter() - t0)
    rows = []
    for norm in args.normalizations.split(","):
        for alpha in (float(a) for a in args.alphas.split(",")):
            run = fuse_runs(res.bm25, res.dense, fusion="interpolate", alpha=alpha, normalization=norm, k=args.k)
            m = evaluate_run(run, qrels, ds.rel_level, names=("nDCG@10", "R@100"))
            rows.append({"fusion": "interpolate", "normalization": norm, "alpha": alpha, **m})
    run = fuse_runs(res.bm25, res.dense, fusion="rrf", rrf_k=60, k=args.k)
    rows.append({"fusion": "rrf", "normalization": "-", "alpha": None,
                 **evaluate_run(run, qrels, ds.rel_level, names=("nDCG@10", "R@100"))})
    print(f"{'fusion':<12} {'norm':<7} {'alpha':>5}  {'nDCG@10':>7}  {'R@100':>6}   ({args.topics}, "
          f"{len(topics)} queries, depth {args.depth})")
    for r in rows:
        a = "-" if r["alpha"] is None else f"{r['alpha']:.2f}"
        print(f"{r['fusion']:<12} {r['normalization']:<7} {a:>5}  {r['nDCG@10']:.4f}  {r['R@100']:.4f}")
    best = max((r for r in rows if r["fusion"] == "interpolate"), key=lambda r: (r["nDCG@10"], r["R@100"]))
    print(f"best on {args.topics}: interpolate {best['normalization']} alpha={best['alpha']:.2f} "
          f"nDCG@10={best['nDCG@10']:.4f} R@100={best['R@100']:.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"topics": args.topics, "depth": args.depth, "rows": rows, "best": best}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
