"""``python -m rerankinject.evaluate``: trec_eval measures and paired significance tests for TREC runs.

``python -m rerankinject.evaluate --qrels dl19 runs/a.trec runs/b.trec --baseline runs/a.trec`` prints one table
(see :mod:`rerankinject.evaluate.measures` for the measures, relevance levels and tests). ``--queries-of RUN``
judges only the queries RUN has (runs over a shard of the topics, e.g. ``rerank --shard 1/6``); by default every
judged query counts and one a run lacks scores 0 (trec_eval -c).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ..cli import require_min
from ..datasets.registry import rel_level_for, resolve_qrels
from ..errors import DataError
from ..io.files import atomic_write
from ..io.formats import QRELS_FORMATS
from ..io.runs import read_run
from .measures import MEASURE_NAMES, compare_runs, format_table, measures_for

__all__ = ["main"]

logger = logging.getLogger(__name__)


def _run_name(path: str, taken: set[str]) -> str:
    name = Path(path).name
    for suffix in (".gz", ".trec", ".txt", ".run"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    base, i = name, 2
    while name in taken:
        name, i = f"{base}#{i}", i + 1
    taken.add(name)
    return name


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m rerankinject.evaluate",
                                     description="Evaluate TREC runs (trec_eval measures) with significance tests.")
    parser.add_argument("runs", nargs="+", metavar="RUN", help="TREC run files (.gz allowed)")
    parser.add_argument("--qrels", required=True,
                        help="a data set name (dl19, dl20, scifact-test, ...) or a qrels file")
    parser.add_argument("--qrels-format", choices=QRELS_FORMATS, default="auto",
                        help="qrels file format: trec (qid iter docid grade) or beir (query-id corpus-id score, with "
                             "header); default auto: detected")
    parser.add_argument("--rel-level", type=int, default=None,
                        help="minimum grade counted relevant by binary measures (default: 2 for TREC DL, else 1)")
    parser.add_argument("--measures", default=",".join(MEASURE_NAMES),
                        help=f"comma-separated measures (default: {','.join(MEASURE_NAMES)})")
    parser.add_argument("--baseline", help="run file to test the others against (paired t-test, Bonferroni)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--queries-of", metavar="RUN",
                        help="judge only the queries of this run file (a shard), not every judged query")
    parser.add_argument("--per-query", metavar="FILE", help="write per-query values (TSV: run measure qid value)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--data-root", help="data root for named qrels")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names = [n.strip() for n in args.measures.split(",") if n.strip()]
    try:
        measures_for(1, names)
    except ValueError as e:
        parser.error(f"--measures: {e}")
    if not 0 < args.alpha < 1:
        parser.error(f"--alpha must be in (0, 1), got {args.alpha}")
    require_min(parser, args, 1, "rel_level")
    paths = list(args.runs)
    if args.baseline and args.baseline not in paths:
        paths.insert(0, args.baseline)
    try:
        qrels = resolve_qrels(args.qrels, args.data_root, args.qrels_format)
        rel_level = args.rel_level if args.rel_level is not None else rel_level_for(args.qrels)
        if args.queries_of:
            shard = set(read_run(args.queries_of))
            qrels = {q: d for q, d in qrels.items() if q in shard}
            if not qrels:
                raise DataError(f"{args.queries_of}: none of its queries is judged in {args.qrels}")
        taken: set[str] = set()
        named = {p: _run_name(p, taken) for p in paths}
        runs = {}
        for p in paths:
            run = read_run(p)
            unjudged = len(set(qrels) - set(run))
            if unjudged:
                logger.warning("%s: %d judged queries have no results (scored 0)", p, unjudged)
            runs[named[p]] = run
        baseline = named[args.baseline] if args.baseline else None
        results = compare_runs(runs, qrels, rel_level, baseline, names)
    except DataError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    only = f", only those of {args.queries_of}" if args.queries_of else ""
    sys.stdout.write(f"qrels: {args.qrels} ({len(qrels)} judged queries{only}), "
                     f"binary relevance at grade >= {rel_level}\n")
    sys.stdout.write(format_table(results, names, args.alpha, baseline, args.markdown))
    if args.per_query:
        with atomic_write(args.per_query) as fh:
            fh.write("run\tmeasure\tqid\tvalue\n")
            for r in results:
                for n in names:
                    for q, v in sorted(r.per_query[n].items()):
                        fh.write(f"{r.name}\t{n}\t{q}\t{v!r}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(None if len(sys.argv) > 1 else ["--help"]))
