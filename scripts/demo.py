"""The main job end to end on the real data (``make demo``): SciFact test, whole corpus.

Steps: build a Lucene index of the SciFact corpus -> BM25 top-1000 for the 300 test queries (raw scores,
TREC run) -> evaluate with trec_eval measures. Outputs go to indexes/ and runs/ (git-ignored); existing outputs
are reused, so a second run is quick. Every step is a ``python -m rerankinject.<x>`` CLI, called in-process.
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
    runs = ROOT / "runs"
    if not (idx / "rerankinject.json").is_file():
        step("index", index.main, ["lucene", "--collection", "scifact-test", "--index", str(idx), "--overwrite"])
    bm25 = runs / "scifact-test.bm25.trec"
    if not bm25.is_file():
        step("bm25", search.main, ["--index", str(idx), "--topics", "scifact-test", "--output", str(bm25),
                                   "--k", "1000", "--bm25-k1", "0.9", "--bm25-b", "0.4", "--remove-query"])
    step("evaluate", evaluate.main, ["--qrels", "scifact-test", str(bm25)])
    logger.info("demo finished in %.1fs", time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
