"""Build the MS MARCO-style training set (a local data set folder) from ../shared/data/msmarco-train.

    python scripts/prepare_msmarco.py [--out runs/msmarco-train] [--k 100]

Writes collection/queries/qrels, one Lucene index over every MS MARCO passage in the shared data, the BM25 top-k
training run and the DL19/DL20 official BM25 candidates re-scored with that index (rerankinject.train.msmarco).
Steps whose output exists are skipped.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.cli import run_cli, setup_logging  # noqa: E402
from rerankinject.train.msmarco import build_msmarco_training_set  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "runs" / "msmarco-train"), help="output folder")
    p.add_argument("--k", type=int, default=100, help="BM25 depth of the training run (default 100)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-root")
    args = p.parse_args(argv)
    if args.k < 1:
        p.error(f"--k must be >= 1, got {args.k}")
    setup_logging()
    t0 = time.perf_counter()

    def job() -> int:
        build_msmarco_training_set(args.out, args.data_root, k=args.k, threads=args.threads)
        logging.getLogger("prepare_msmarco").info("prepared %s in %.1fs", args.out, time.perf_counter() - t0)
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
