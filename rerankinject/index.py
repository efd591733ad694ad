"""Index-building CLI: ``python -m rerankinject.index lucene --collection FILE|NAME --index indexes/NAME``.

The collection is a file or folder (TSV, JSONL: Pyserini JsonCollection or BEIR corpus) or a data set name whose
corpus is used (``scifact-test``, ``dl19``, ...). Lucene indexes store positions, doc vectors and raw documents.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .bm25 import build_lucene_index
from .cli_common import run_cli, setup_logging
from .datasets import DATASETS, load_dataset

__all__ = ["main", "build_parser", "resolve_collection"]

logger = logging.getLogger(__name__)


def resolve_collection(value: str, data_root: str | None = None) -> Path:
    """A collection path from a data set name or a path."""
    if value in DATASETS:
        return load_dataset(value, data_root).corpus_path
    return Path(value)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rerankinject.index``."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.index", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    lu = sub.add_parser("lucene", help="build a Lucene (BM25) index with Anserini")
    lu.add_argument("--collection", required=True, help="collection file/folder or data set name")
    lu.add_argument("--index", required=True, help="output index folder, e.g. indexes/scifact")
    lu.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    lu.add_argument("--overwrite", action="store_true", help="replace an existing index")
    lu.add_argument("--data-root", help="data root for data set names")
    lu.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the index CLI."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    setup_logging(args.verbose)

    def body() -> int:
        collection = resolve_collection(args.collection, args.data_root)
        meta = build_lucene_index(collection, args.index, threads=args.threads, overwrite=args.overwrite)
        logger.info("%d documents indexed in %.1fs -> %s", meta["documents"], meta["seconds"], args.index)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
