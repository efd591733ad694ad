"""Join shard outputs: ``python -m rerankinject.merge --output runs/X.trec runs/X.shard*.trec``.

Shards made with ``--shard I/N`` hold disjoint query sets; the merged run equals the single-process run byte
for byte (the writer orders queries and hits deterministically). A query found in two inputs is an error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .cli import run_cli, setup_logging
from .io.checkpoint import merge_runs

__all__ = ["main"]

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the merge CLI."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.merge", description=__doc__.split("\n")[0])
    p.add_argument("inputs", nargs="+", help="shard run files")
    p.add_argument("--output", required=True, help="merged TREC run (written atomically)")
    p.add_argument("--tag", required=True, help="run tag of the merged run (use the shards' tag to match a "
                                                "single-process run)")
    p.add_argument("--expect-shards", type=int, help="fail unless exactly this many inputs are given")
    args = p.parse_args(argv)
    if args.expect_shards is not None and len(args.inputs) != args.expect_shards:
        p.error(f"--expect-shards {args.expect_shards} but {len(args.inputs)} inputs given")
    setup_logging()

    def body() -> int:
        run = merge_runs(args.inputs, args.output, args.tag)
        logger.info("merged %d shards, %d queries -> %s", len(args.inputs), len(run), args.output)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
