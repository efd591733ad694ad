"""Evaluate TREC runs with trec_eval measures (through ir_measures / pytrec_eval) and paired significance tests.

``python -m rerankinject.evaluate --qrels dl19 runs/a.trec runs/b.trec --baseline runs/a.trec`` prints one table:
nDCG@10, MRR@10, MAP, R@100 and R@1000 per run. Binary measures (MRR, MAP, recall) count a document as relevant at
grade >= 2 for TREC DL and >= 1 otherwise (``--rel-level``); nDCG uses the graded judgments. As with
``trec_eval -c``, a judged query missing from a run scores 0; queries without judgments are ignored. Runs are
evaluated in rerankinject's rank order, ties broken by doc id ascending as the run files are written (trec_eval
itself breaks ties by doc id descending; untied runs get identical numbers). With
``--baseline`` every other run gets a two-sided paired t-test per measure against the baseline, Bonferroni-
corrected for the number of runs compared; significant differences (corrected p < ``--alpha``) are marked.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ir_measures
from scipy import stats

from .datasets import rel_level_for, resolve_qrels
from .errors import DataError
from .fileio import atomic_write
from .runs import Run, read_run, sort_hits

__all__ = ["MEASURE_NAMES", "measures_for", "evaluate_run", "per_query", "paired_ttest", "Comparison",
           "compare_runs", "format_table", "main"]

logger = logging.getLogger(__name__)

MEASURE_NAMES = ("nDCG@10", "MRR@10", "MAP", "R@100", "R@1000")


def measures_for(rel_level: int, names: Sequence[str] = MEASURE_NAMES) -> dict[str, ir_measures.Measure]:
    """ir_measures objects for our measure names at a binary relevance level (nDCG stays graded)."""
    table = {
        "nDCG@10": ir_measures.nDCG @ 10,
        "nDCG@100": ir_measures.nDCG @ 100,
        "MRR@10": ir_measures.RR(rel=rel_level) @ 10,
        "MAP": ir_measures.AP(rel=rel_level),
        "R@100": ir_measures.R(rel=rel_level) @ 100,
        "R@1000": ir_measures.R(rel=rel_level) @ 1000,
        "P@10": ir_measures.P(rel=rel_level) @ 10,
    }
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown} (known: {', '.join(table)})")
    return {n: table[n] for n in names}


def _as_ranked_dict(run: Run | Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """``{qid: {docid: pseudo-score}}`` whose order is exactly our ranking, (-score, doc id).

    trec_eval and pytrec_eval re-sort by score and break ties by doc id *descending*, which disagrees with the
    ranks rerankinject writes (ties by doc id ascending). Strictly decreasing pseudo-scores (n, n-1, ..., 1) make
    the evaluated order the file's order; untied runs evaluate exactly as with the raw scores.
    """
    out: dict[str, dict[str, float]] = {}
    for qid, docs in run.items():
        if isinstance(docs, list):
            ranked = [r.doc_id for r in sort_hits(docs)]
        else:
            ranked = [d for d, _ in sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))]
        n = len(ranked)
        out[qid] = {d: float(n - i) for i, d in enumerate(ranked)}
    return out


def per_query(run: Run | Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
              rel_level: int = 1, names: Sequence[str] = MEASURE_NAMES) -> dict[str, dict[str, float]]:
    """Per-query values ``{measure: {qid: value}}`` over the judged queries (missing from the run: 0)."""
    measures = measures_for(rel_level, names)
    run_d = _as_ranked_dict(run)
    judged = sorted(qrels)
    qrels_d = {q: dict(d) for q, d in qrels.items()}
    out: dict[str, dict[str, float]] = {n: dict.fromkeys(judged, 0.0) for n in names}
    by_measure = {m: n for n, m in measures.items()}
    evaluator = ir_measures.evaluator(list(measures.values()), qrels_d)
    for m in evaluator.iter_calc({q: d for q, d in run_d.items() if q in qrels_d}):
        out[by_measure[m.measure]][m.query_id] = float(m.value)
    return out


def evaluate_run(run: Run | Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
                 rel_level: int = 1, names: Sequence[str] = MEASURE_NAMES) -> dict[str, float]:
    """Mean of each measure over the judged queries."""
    pq = per_query(run, qrels, rel_level, names)
    return {n: (sum(v.values()) / len(v) if v else 0.0) for n, v in pq.items()}


def paired_ttest(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Two-sided paired t-test p-value over the queries of ``a`` (1.0 when the differences are all equal)."""
    qids = sorted(a)
    xs = [a[q] for q in qids]
    ys = [b[q] for q in qids]
    diffs = {round(x - y, 12) for x, y in zip(xs, ys, strict=True)}
    if len(diffs) <= 1:
        return 1.0
    p = float(stats.ttest_rel(xs, ys).pvalue)
    return 1.0 if math.isnan(p) else p


@dataclass
class Comparison:
    """One run's results: means, per-query values and, against a baseline, corrected p-values."""

    name: str
    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    p_values: dict[str, float] | None = None  # Bonferroni-corrected


def compare_runs(runs: Mapping[str, Run], qrels: Mapping[str, Mapping[str, int]], rel_level: int,
                 baseline: str | None = None, names: Sequence[str] = MEASURE_NAMES) -> list[Comparison]:
    """Evaluate several runs; with ``baseline`` add Bonferroni-corrected paired t-tests against it."""
    out = []
    for name, run in runs.items():
        pq = per_query(run, qrels, rel_level, names)
        means = {n: sum(v.values()) / len(v) for n, v in pq.items()}
        out.append(Comparison(name, means, pq))
    if baseline is not None:
        if baseline not in runs:
            raise ValueError(f"baseline {baseline!r} is not among the runs")
        base = next(c for c in out if c.name == baseline)
        m = max(1, len(out) - 1)
        for c in out:
            if c.name != baseline:
                c.p_values = {n: min(1.0, paired_ttest(c.per_query[n], base.per_query[n]) * m) for n in names}
    return out


def format_table(results: Sequence[Comparison], names: Sequence[str] = MEASURE_NAMES, alpha: float = 0.05,
                 baseline: str | None = None, markdown: bool = False) -> str:
    """A fixed-width (or Markdown) table; ``†`` marks a significant difference from the baseline."""
    width = max([len("run")] + [len(r.name) for r in results])
    rows = []
    header = ["run".ljust(width)] + [n.rjust(9) for n in names]
    rows.append(header)
    for r in results:
        cells = [r.name.ljust(width)]
        for n in names:
            mark = ""
            if r.p_values is not None and r.p_values[n] < alpha:
                mark = "†"
            cells.append(f"{r.means[n]:.4f}{mark}".rjust(9))
        rows.append(cells)
    if markdown:
        lines = ["| " + " | ".join(c.strip() for c in rows[0]) + " |",
                 "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(c.strip() for c in row) + " |" for row in rows[1:]]
    else:
        lines = ["  ".join(row) for row in rows]
    if baseline is not None:
        lines.append(f"† two-sided paired t-test vs {baseline}, Bonferroni-corrected p < {alpha}")
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--rel-level", type=int, default=None,
                        help="minimum grade counted relevant by binary measures (default: 2 for TREC DL, else 1)")
    parser.add_argument("--measures", default=",".join(MEASURE_NAMES),
                        help=f"comma-separated measures (default: {','.join(MEASURE_NAMES)})")
    parser.add_argument("--baseline", help="run file to test the others against (paired t-test, Bonferroni)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
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
    if args.rel_level is not None and args.rel_level < 1:
        parser.error(f"--rel-level must be >= 1, got {args.rel_level}")
    paths = list(args.runs)
    if args.baseline and args.baseline not in paths:
        paths.insert(0, args.baseline)
    try:
        qrels = resolve_qrels(args.qrels, args.data_root)
        rel_level = args.rel_level if args.rel_level is not None else rel_level_for(args.qrels)
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
    sys.stdout.write(f"qrels: {args.qrels} ({len(qrels)} judged queries), binary relevance at grade >= {rel_level}\n")
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
