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

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ir_measures
from scipy import stats

from ..io.runs import Run, sort_hits

__all__ = [
    "MEASURE_NAMES",
    "measures_for",
    "per_query",
    "evaluate_run",
    "paired_ttest",
    "Comparison",
    "compare_runs",
    "format_table",
]

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


