"""Per-query score normalisation helpers shared by fusion and re-ranking: none, min-max, z-score, Pyserini's.

All functions are pure and take ``{doc id: score}`` mappings (one query's candidates). A degenerate list (a single
document, or all scores equal) normalises to 0.0 for every document under min-max and z-score, so that it neither
dominates nor vanishes in a weighted sum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["NORMALIZATIONS", "normalize_scores", "minmax_scores", "zscore_scores", "pyserini_normalize"]

NORMALIZATIONS = ("none", "minmax", "zscore")


def minmax_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """``(s - min) / (max - min)`` per document (0.0 for all when max == min)."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    span = hi - lo
    if span <= 0:
        return {d: 0.0 for d in scores}
    return {d: (float(s) - lo) / span for d, s in scores.items()}


def zscore_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """``(s - mean) / std`` per document with the population standard deviation (0.0 for all when std == 0)."""
    if not scores:
        return {}
    values = [float(s) for s in scores.values()]
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    if std <= 0:
        return {d: 0.0 for d in scores}
    return {d: (float(s) - mean) / std for d, s in scores.items()}


def normalize_scores(scores: Mapping[str, float], method: str) -> dict[str, float]:
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
