"""First-stage retrieval CLI: ``python -m rerankinject.search`` writes a TREC run with RAW retriever scores.

Example::

    python -m rerankinject.search --index indexes/scifact --topics scifact-test --output runs/scifact.bm25.trec \\
        --k 1000 --bm25-k1 0.9 --bm25-b 0.4 --threads 2 --remove-query
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from .bm25 import DEFAULT_B, DEFAULT_K1, BM25Searcher
from .cli_common import run_cli, setup_logging
from .datasets import resolve_topics
from .runs import write_run

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rerankinject.search``."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.search", description=__doc__.split("\n")[0])
    p.add_argument("--retriever", choices=["bm25"], default="bm25", help="first-stage retriever (default bm25)")
    p.add_argument("--index", required=True, help="Lucene index folder (python -m rerankinject.index lucene ...)")
    p.add_argument("--topics", required=True, help="data set name (dl19, scifact-test, ...) or topics file")
    p.add_argument("--output", required=True, help="output TREC run (.gz allowed); written atomically")
    p.add_argument("--k", type=int, default=1000, help="hits per query (default 1000)")
    p.add_argument("--bm25-k1", type=float, default=DEFAULT_K1, help=f"BM25 k1 (default {DEFAULT_K1})")
    p.add_argument("--bm25-b", type=float, default=DEFAULT_B, help=f"BM25 b (default {DEFAULT_B})")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="search threads (default: all cores)")
    p.add_argument("--remove-query", action="store_true",
                   help="drop a hit whose doc id equals its query id (as Pyserini does for BEIR)")
    p.add_argument("--tag", default=None, help="run tag (default: the retriever name)")
    p.add_argument("--data-root", help="data root for named topics")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the search CLI."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error(f"--k must be >= 1, got {args.k}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if args.bm25_k1 < 0:
        parser.error(f"--bm25-k1 must be >= 0, got {args.bm25_k1}")
    if not 0 <= args.bm25_b <= 1:
        parser.error(f"--bm25-b must be in [0, 1], got {args.bm25_b}")
    setup_logging(args.verbose)

    def body() -> int:
        topics = resolve_topics(args.topics, args.data_root)
        searcher = BM25Searcher(args.index, k1=args.bm25_k1, b=args.bm25_b)
        t0 = time.perf_counter()
        run = searcher.search_run(topics, k=args.k, threads=args.threads, remove_query=args.remove_query)
        seconds = time.perf_counter() - t0
        write_run(run, args.output, tag=args.tag or args.retriever)
        logger.info("%d queries in %.2fs (%.1f q/s) -> %s", len(topics), seconds, len(topics) / seconds, args.output)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
