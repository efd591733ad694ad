"""The main job end to end on the real data (``make demo``): SciFact test, whole corpus.

Steps: Lucene index and faiss index (all-MiniLM-L6-v2, mean pooling, normalised) of the SciFact corpus ->
BM25, dense and hybrid (min-max interpolation, alpha 0.45 tuned on SciFact *train* queries by
scripts/tune_hybrid.py) first stages for the 300 test queries, TREC runs with raw scores (the hybrid also writes
its per-retriever runs over the same candidates) -> evaluation with paired t-tests against BM25.
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

from rerankinject import evaluate, index, search  # noqa: E402
from rerankinject.cli_common import setup_logging  # noqa: E402

logger = logging.getLogger("demo")


def step(name: str, fn, argv: list[str]) -> None:
    """Run one CLI step, log its wall time, stop the demo on failure."""
    t0 = time.perf_counter()
    logger.info("== %s: python -m rerankinject.%s %s", name, fn.__module__.split(".")[-1], " ".join(argv))
    rc = fn(argv)
    if rc:
        raise SystemExit(f"demo step {name!r} failed (exit {rc})")
    logger.info("== %s done in %.1fs", name, time.perf_counter() - t0)


def main() -> int:
    setup_logging()
    t0 = time.perf_counter()
    idx = ROOT / "indexes" / "scifact"
    dense_idx = ROOT / "indexes" / "scifact.minilm"
    runs = ROOT / "runs"
    if not (idx / "rerankinject.json").is_file():
        step("lucene index", index.main, ["lucene", "--collection", "scifact-test", "--index", str(idx),
                                          "--overwrite"])
    if not dense_idx.is_dir():  # resumes an interrupted encode
        step("dense index", index.main, ["dense", "--collection", "scifact-test", "--index", str(dense_idx),
                                         "--normalize"])
    common = ["--topics", "scifact-test", "--k", "1000", "--remove-query"]
    bm25 = runs / "scifact-test.bm25.trec"
    dense = runs / "scifact-test.dense.trec"
    hybrid = runs / "scifact-test.hybrid.trec"
    if not bm25.is_file():
        step("bm25", search.main, ["--retriever", "bm25", "--index", str(idx), "--output", str(bm25),
                                   "--bm25-k1", "0.9", "--bm25-b", "0.4", *common])
    if not dense.is_file():
        step("dense", search.main, ["--retriever", "dense", "--dense-index", str(dense_idx), "--output", str(dense),
                                    *common])
    if not hybrid.is_file():
        step("hybrid", search.main, ["--retriever", "hybrid", "--index", str(idx), "--dense-index", str(dense_idx),
                                     "--output", str(hybrid), "--depth", "100", "--alpha", "0.45",
                                     "--normalization", "minmax", *common])
    step("evaluate", evaluate.main, ["--qrels", "scifact-test", str(bm25), str(dense), str(hybrid),
                                     "--baseline", str(bm25)])
    logger.info("demo finished in %.1fs", time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
