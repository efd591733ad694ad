"""Per-query score normalisation helpers shared by fusion and re-ranking: none, min-max, z-score, Pyserini's.

The one home of per-query normalisation math: the ``*_values`` functions take one query's scores as a list, the
``*_scores`` ones a ``{doc id: score}`` mapping; :mod:`rerankinject.injection` (``minmax-query``, ``zscore-query``)
uses the same functions, so fusion, injection and the training teachers normalise alike. A degenerate list (a single
document, or all scores equal) normalises to 0.0 for every document under min-max and z-score, so that it neither
dominates nor vanishes in a weighted sum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = [
    "NORMALIZATIONS",
    "normalize_query_scores",
    "minmax_values",
    "zscore_values",
    "minmax_scores",
    "zscore_scores",
    "pyserini_normalize",
]

NORMALIZATIONS = ("none", "minmax", "zscore")


def minmax_values(values: Sequence[float]) -> list[float]:
    """``(s - min) / (max - min)`` for each score of one query (0.0 for all when max == min)."""
    vals = [float(v) for v in values]
    if not vals:
        return []
    lo, hi = min(vals), max(vals)
    span = hi - lo
    if span <= 0:
        return [0.0] * len(vals)
    return [(v - lo) / span for v in vals]


def zscore_values(values: Sequence[float]) -> list[float]:
    """``(s - mean) / std`` with the population standard deviation (0.0 for all when std == 0)."""
    vals = [float(v) for v in values]
    if not vals:
        return []
    mean = math.fsum(vals) / len(vals)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in vals) / len(vals))
    if std <= 0:
        return [0.0] * len(vals)
    return [(v - mean) / std for v in vals]


def minmax_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """:func:`minmax_values` over a ``{doc id: score}`` mapping."""
    return dict(zip(scores, minmax_values(list(scores.values())), strict=True))


def zscore_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """:func:`zscore_values` over a ``{doc id: score}`` mapping."""
    return dict(zip(scores, zscore_values(list(scores.values())), strict=True))


def normalize_query_scores(scores: Mapping[str, float], method: str) -> dict[str, float]:
    """Normalise one query's scores with ``method`` in :data:`NORMALIZATIONS` (``"none"`` returns a copy).

    Raises:
        ValueError: unknown method.

    """
    if method == "none":
        return {d: float(s) for d, s in scores.items()}
    if method == "minmax":
        return minmax_scores(scores)
    if method == "zscore":
        return zscore_scores(scores)
    raise ValueError(f"unknown normalization {method!r} (expected one of {', '.join(NORMALIZATIONS)})")


def pyserini_normalize(score: float, lo: float, hi: float) -> float:
    """Pyserini HybridSearcher's normalisation: ``(s - (lo + hi) / 2) / (hi - lo)`` (centred min-max, in [-0.5, 0.5]).

    ``lo``/``hi`` are the minimum and maximum of the retriever's own hit list. Pyserini divides by zero when they
    are equal; here such a list normalises to 0.0.
    """
    if hi == lo:
        return 0.0
    return (score - (lo + hi) / 2) / (hi - lo)
