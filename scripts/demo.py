"""The main job end to end on the real data (``make demo``): SciFact test, whole corpus.

Steps: Lucene index and faiss index (all-MiniLM-L6-v2, mean pooling, normalised) of the SciFact corpus ->
BM25, dense and hybrid (min-max interpolation, alpha 0.45 tuned on SciFact *train* queries by
scripts/tune_hybrid.py) first stages for the 300 test queries, TREC runs with raw scores (the hybrid also writes
its per-retriever runs over the same candidates) -> the HYBRID top ``--rerank-depth`` (the best first stage)
re-ranked by the project's BM25DPRCAT cross-encoder (``models/minilm-l6-scifact-hybrid-bm25dprcat``: MiniLM-L6 trained
on SciFact *train*'s hybrid top 100, both raw first-stage scores injected as text; its model card has the data,
command and metrics) -> the interpolation of the hybrid and the re-ranker's scores over the re-ranked top
``--rerank-depth`` (per-query min-max, weight ``--interp-alpha`` = 0.3 on the hybrid, tuned at depth 20 on the model's
40 validation queries of SciFact *train* by ``scripts/experiments/scifact.sh``; never on a test query) -> evaluation
with paired t-tests against the hybrid first stage it re-ranks.
Outputs go to indexes/ and runs/ (git-ignored); existing outputs are reused, so a second run is quick. Every
step is a ``python -m rerankinject.<x>`` CLI, called in-process.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.cli import setup_logging  # noqa: E402
from rerankinject.evaluate.__main__ import main as evaluate_main  # noqa: E402
from rerankinject.index.__main__ import main as index_main  # noqa: E402
from rerankinject.interpolate.__main__ import main as interpolate_main  # noqa: E402
from rerankinject.rerank.__main__ import main as rerank_main  # noqa: E402
from rerankinject.search.__main__ import main as search_main  # noqa: E402

logger = logging.getLogger("demo")


def step(name: str, fn, argv: list[str]) -> None:
    """Run one CLI step, log its wall time, stop the demo on failure."""
    t0 = time.perf_counter()
    logger.info("== %s: python -m rerankinject.%s %s", name, fn.__module__.split(".")[1], " ".join(argv))
    rc = fn(argv)
    if rc:
        raise SystemExit(f"demo step {name!r} failed (exit {rc})")
    logger.info("== %s done in %.1fs", name, time.perf_counter() - t0)


MODEL = ROOT / "models" / "minilm-l6-scifact-hybrid-bm25dprcat"
INTERP_ALPHA = 0.3
"""Weight of the hybrid in hybrid + MODEL: tuned (grid 0.05) at re-ranking depth 20 on MODEL's 40 validation queries
(SciFact train, held out of its training): ``interp_hybrid`` in scripts/experiments/scifact.sh."""


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="rerankinject demo: SciFact end to end")
    p.add_argument("--rerank-depth", type=int, default=20, help="hybrid top K re-ranked (default 20)")
    p.add_argument("--backend", default="torch", choices=["torch", "onnx", "onnx-int8"],
                   help="re-ranking backend (default torch)")
    p.add_argument("--no-rerank", action="store_true", help="first stages and evaluation only")
    p.add_argument("--interp-alpha", type=float, default=INTERP_ALPHA,
                   help=f"weight of the hybrid when interpolating it with the re-ranker (default {INTERP_ALPHA}, "
                        "tuned at depth 20 on SciFact train's validation queries)")
    args = p.parse_args(argv)
    if args.rerank_depth < 1:
        p.error(f"--rerank-depth must be >= 1, got {args.rerank_depth}")
    if not 0 <= args.interp_alpha <= 1:
        p.error(f"--interp-alpha must be in [0, 1], got {args.interp_alpha}")
    setup_logging()
    t0 = time.perf_counter()
    idx = ROOT / "indexes" / "scifact"
    dense_idx = ROOT / "indexes" / "scifact.minilm"
    runs = ROOT / "runs"
    if not (idx / "rerankinject.json").is_file():
        step("lucene index", index_main, ["lucene", "--collection", "scifact-test", "--index", str(idx),
                                          "--overwrite"])
    if not dense_idx.is_dir():  # resumes an interrupted encode
        step("dense index", index_main, ["dense", "--collection", "scifact-test", "--index", str(dense_idx),
                                         "--normalize"])
    common = ["--topics", "scifact-test", "--k", "1000", "--remove-query"]
    bm25 = runs / "scifact-test.bm25.trec"
    dense = runs / "scifact-test.dense.trec"
    hybrid = runs / "scifact-test.hybrid.trec"
    if not bm25.is_file():
        step("bm25", search_main, ["--retriever", "bm25", "--index", str(idx), "--output", str(bm25),
                                   "--bm25-k1", "0.9", "--bm25-b", "0.4", *common])
    if not dense.is_file():
        step("dense", search_main, ["--retriever", "dense", "--dense-index", str(dense_idx), "--output", str(dense),
                                    *common])
    if not hybrid.is_file():
        step("hybrid", search_main, ["--retriever", "hybrid", "--index", str(idx), "--dense-index", str(dense_idx),
                                     "--output", str(hybrid), "--depth", "100", "--alpha", "0.45",
                                     "--normalization", "minmax-query", *common])
    runs_to_eval = [str(bm25), str(dense), str(hybrid)]
    if not args.no_rerank:
        reranked = runs / f"scifact-test.hybrid.{MODEL.name}.top{args.rerank_depth}.trec"
        sources = [f"bm25={runs / 'scifact-test.hybrid.bm25.trec'}", f"dpr={runs / 'scifact-test.hybrid.dense.trec'}"]
        if not reranked.is_file():
            step("rerank", rerank_main, ["--run", str(hybrid), "--topics", "scifact-test", "--corpus", "scifact-test",
                                         "--model", str(MODEL), "--source", sources[0], "--source", sources[1],
                                         "--depth",
                                         str(args.rerank_depth), "--backend", args.backend, "--output",
                                         str(reranked)])
        interp = runs / f"scifact-test.hybrid+{MODEL.name}.top{args.rerank_depth}.alpha{args.interp_alpha:g}.trec"
        if args.rerank_depth != 20:
            logger.warning("--interp-alpha %g was tuned at re-ranking depth 20, not %d", args.interp_alpha,
                           args.rerank_depth)
        if not interp.is_file():
            step("interpolate", interpolate_main, ["--first", str(hybrid), "--ce", str(reranked), "--depth",
                                                   str(args.rerank_depth), "--alpha", str(args.interp_alpha),
                                                   "--output", str(interp), "--tag", "hybrid+rerank"])
        runs_to_eval += [str(reranked), str(interp)]
    step("evaluate", evaluate_main, ["--qrels", "scifact-test", *runs_to_eval, "--baseline", str(hybrid)])
    logger.info("demo finished in %.1fs", time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
