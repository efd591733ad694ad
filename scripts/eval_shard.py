"""Evaluate runs that cover only a shard of a data set's queries, on the qrels restricted to those queries.

    python scripts/eval_shard.py --qrels scifact-test --first docs/results/scifact/bm25.trec.gz \
        docs/results/scifact-passages/{trunc,firstp,maxp}.shard1of6.trec.gz

The shard is the set of queries of the first run given; ``--first`` (a first-stage run) is cut to the same queries
and reported as a row. Paired two-sided t-tests (Bonferroni) against the first run given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.datasets import load_dataset  # noqa: E402
from rerankinject.evaluate.measures import compare_runs  # noqa: E402
from rerankinject.io.runs import read_run  # noqa: E402

logger = logging.getLogger("eval_shard")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run files over the same shard of queries")
    p.add_argument("--qrels", required=True, help="data set name whose qrels judge the runs")
    p.add_argument("--first", help="a first-stage run, cut to the shard's queries and shown as a row")
    p.add_argument("--measures", default="nDCG@10,R@100")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ds = load_dataset(args.qrels)
    runs = {Path(r).name.split(".")[0]: read_run(r) for r in args.runs}
    shard = set(next(iter(runs.values())))
    qrels = {q: d for q, d in ds.qrels().items() if q in shard}
    if not qrels:
        p.error(f"no judged query of {args.qrels} in {args.runs[0]}")
    baseline = next(iter(runs))
    if args.first:
        first = read_run(args.first)
        runs = {Path(args.first).name: {q: r for q, r in first.items() if q in shard}, **runs}
    names = tuple(args.measures.split(","))
    logger.info("%d queries in the shard, %d judged; p against %s", len(shard), len(qrels), baseline)
    logger.info("%-40s %s", "run", "  ".join(f"{n:>8}" for n in names))
    for c in compare_runs(runs, qrels, ds.rel_level, baseline, names):
        cells = [f"{c.means[n]:8.4f}" + (f" (p {c.p_values[n]:.3f})" if c.p_values else "") for n in names]
        logger.info("%-40s %s", c.name, "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
