"""Baseline re-ranker: linear interpolation of first-stage and cross-encoder scores.

``score = alpha * norm(first stage) + (1 - alpha) * norm(cross-encoder)`` per query, with both runs normalised by
the same per-query normaliser (default ``minmax-query``; a per-query kind of
:class:`~rerankinject.injection.normalize.Normalizer`). ``alpha`` is given, or chosen on *tuning* queries (a
first-stage run and a cross-encoder run of queries disjoint from the test queries, with their qrels) by a grid search on
nDCG@10. Example::

    python -m rerankinject.interpolate --first runs/dl19.bm25.trec --ce runs/dl19.cat.trec \\
        --tune-first runs/dl20.bm25.trec --tune-ce runs/dl20.cat.trec --tune-qrels dl20 \\
        --output runs/dl19.interp.trec

Only documents in both runs are interpolated; documents only in the first-stage run (below the re-ranking
depth) follow them in their first-stage order. A document only in the cross-encoder run is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..errors import DataError
from ..evaluate.measures import evaluate_run, measures_for
from ..injection.normalize import Normalizer, normalize_scores
from ..io.runs import Run, RunRecord, sort_hits
from ..rerank.reranker import apply_depth

__all__ = ["alpha_grid", "interpolate_runs", "tune_alpha"]

logger = logging.getLogger(__name__)



def alpha_grid(step: float = 0.05) -> list[float]:
    """``[0, step, 2*step, ..., 1]`` (rounded to 6 places)."""
    if not 0 < step <= 1:
        raise ValueError(f"alpha step must be in (0, 1], got {step}")
    n = int(round(1 / step))
    return [round(i / n, 6) for i in range(n + 1)]


def interpolate_runs(first: Mapping[str, Sequence[RunRecord]], ce: Mapping[str, Sequence[RunRecord]], alpha: float,
                     norm: Normalizer | str = "minmax-query") -> Run:
    """``alpha * norm(first) + (1 - alpha) * norm(ce)`` for each query of ``ce``.

    Args:
        first: first-stage run (raw scores).
        ce: cross-encoder run of the same queries (raw logits); its documents must be in ``first``.
        alpha: weight of the first stage, in [0, 1].
        norm: a :class:`Normalizer` or its kind (each query's scores of each run are normalised separately).

    Raises:
        ValueError: alpha out of range.
        DataError: a ``ce`` query or document missing from ``first``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    norm = norm if isinstance(norm, Normalizer) else Normalizer(norm)
    out: Run = {}
    for qid, ce_recs in ce.items():
        if qid not in first:
            raise DataError(f"query {qid!r} of the cross-encoder run is not in the first-stage run")
        f_recs = sort_hits(first[qid])
        f_score = {r.doc_id: r.score for r in f_recs}
        docs = [r.doc_id for r in ce_recs]
        absent = [d for d in docs if d not in f_score]
        if absent:
            raise DataError(f"query {qid!r}: doc {absent[0]!r} of the cross-encoder run is not in the first-stage "
                            f"run ({len(absent)} such docs)")
        nf = normalize_scores([f_score[d] for d in docs], norm)
        nc = normalize_scores([r.score for r in ce_recs], norm)
        ranked = sort_hits(RunRecord(qid, d, alpha * a + (1 - alpha) * b) for d, a, b in zip(docs, nf, nc, strict=True))
        in_ce = set(docs)
        out[qid] = apply_depth(qid, ranked, [r for r in f_recs if r.doc_id not in in_ce])
    return out


def tune_alpha(first: Mapping[str, Sequence[RunRecord]], ce: Mapping[str, Sequence[RunRecord]],
               qrels: Mapping[str, Mapping[str, int]], rel_level: int = 1, measure: str = "nDCG@10",
               grid: Sequence[float] | None = None,
               norm: Normalizer | str = "minmax-query") -> tuple[float, dict[float, float]]:
    """Pick alpha on tuning queries by grid search.

    Returns:
        ``(best alpha, {alpha: mean measure})``; ties go to the smallest alpha.
    """
    measures_for(rel_level, [measure])  # validates the name
    grid = list(grid) if grid is not None else alpha_grid()
    if not grid:
        raise ValueError("empty alpha grid")
    judged = {q: v for q, v in qrels.items() if q in ce}
    if not judged:
        raise DataError("no tuning query of the cross-encoder run has judgments in the tuning qrels")
    values = {a: evaluate_run(interpolate_runs(first, ce, a, norm), judged, rel_level, [measure])[measure]
              for a in grid}
    best = max(grid, key=lambda a: (values[a], -a))
    return best, values


