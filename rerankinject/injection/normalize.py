"""The one home of score normalisation: :class:`Normalizer` and the per-query math, for injection, fusion and teachers.

Every kind is explicit; none has hidden bounds:

* ``minmax`` - GLOBAL min-max with required bounds ``(low, high)``, clipped to [0, 1] (the paper's BM25 setting is
  ``Normalizer("minmax", 0, 50)``; :data:`PAPER_BOUNDS` names those values);
* ``minmax-query`` - min-max over one query's candidates (what Pyserini's fusion and ``interpolate`` use);
* ``zscore`` - global z-score with required ``mean`` and ``std``; ``zscore-query`` - per query;
* ``sum`` - each score over the sum of the query's scores; ``raw`` - unchanged.

Per-query kinds see a list of scores: which candidates are in that list is decided by the caller that builds the
model input (:meth:`rerankinject.rerank.ScoreInjectReranker.render_scores`), for training and inference alike. A
degenerate list (a single document, or all scores equal) normalises to 0.0 under min-max and z-score, so that it
neither dominates nor vanishes in a weighted sum.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "GLOBAL_KINDS",
    "PER_QUERY_KINDS",
    "PAPER_BOUNDS",
    "Normalizer",
    "normalize_scores",
    "normalize_query_scores",
    "minmax_values",
    "zscore_values",
    "minmax_scores",
    "zscore_scores",
    "pyserini_normalize",
]

GLOBAL_KINDS = ("minmax", "zscore")
"""Kinds with global statistics, given explicitly (bounds or mean/std)."""
PER_QUERY_KINDS = ("minmax-query", "zscore-query", "sum", "raw")
"""Kinds computed from one query's scores alone (``raw`` leaves them as they are)."""
KINDS = GLOBAL_KINDS + PER_QUERY_KINDS

PAPER_BOUNDS: dict[str, tuple[float, float]] = {"bm25": (0.0, 50.0), "dpr": (0.0, 1.0)}
"""Global min-max bounds of the paper's recipes (BM25 over (0, 50); a cosine/normalised dense score over (0, 1))."""


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


def pyserini_normalize(score: float, lo: float, hi: float) -> float:
    """Pyserini HybridSearcher's normalisation: ``(s - (lo + hi) / 2) / (hi - lo)`` (centred min-max, in [-0.5, 0.5]).

    ``lo``/``hi`` are the minimum and maximum of the retriever's own hit list. Pyserini divides by zero when they
    are equal; here such a list normalises to 0.0.
    """
    if hi == lo:
        return 0.0
    return (score - (lo + hi) / 2) / (hi - lo)


def _finite(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


@dataclass(frozen=True)
class Normalizer:
    """How one source's raw scores are normalised (see the module documentation for the kinds).

    Attributes:
        kind: one of :data:`KINDS`.
        low: lower bound of global ``minmax`` (required for it, refused otherwise).
        high: upper bound of global ``minmax`` (required, ``> low``).
        mean: mean of global ``zscore`` (required for it).
        std: standard deviation of global ``zscore`` (required, ``> 0``).

    Raises:
        ValueError: unknown kind, missing or extra statistics, non-finite values, ``low >= high``, ``std <= 0``.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    std: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown normaliser {self.kind!r} (expected one of {', '.join(KINDS)})")
        given = {k for k in ("low", "high", "mean", "std") if getattr(self, k) is not None}
        needs = {"minmax": {"low", "high"}, "zscore": {"mean", "std"}}.get(self.kind, set())
        if needs - given:
            raise ValueError(f"normaliser {self.kind!r} needs {' and '.join(sorted(needs))} "
                             f"(missing {', '.join(sorted(needs - given))})")
        if given - needs:
            raise ValueError(f"normaliser {self.kind!r} takes no {', '.join(sorted(given - needs))}")
        for k in given:
            object.__setattr__(self, k, _finite(k, getattr(self, k)))
        if self.kind == "minmax" and not self.high > self.low:  # type: ignore[operator]
            raise ValueError(f"minmax bounds must satisfy low < high, got ({self.low}, {self.high})")
        if self.kind == "zscore" and not self.std > 0:  # type: ignore[operator]
            raise ValueError(f"zscore needs a positive std, got {self.std}")

    @property
    def per_query(self) -> bool:
        """True when the value of a score depends on the other scores of its query."""
        return self.kind in ("minmax-query", "zscore-query", "sum")

    @classmethod
    def fit(cls, kind: str, scores: Sequence[float]) -> Normalizer:
        """A global normaliser whose statistics come from ``scores`` (e.g. all training-run scores).

        For ``minmax`` the bounds become the observed min and max; for ``zscore`` the mean and std. Per-query kinds
        need no fitting and are returned as they are.
        """
        vals = [float(s) for s in scores]
        if kind == "minmax":
            if len(vals) < 2 or max(vals) <= min(vals):
                raise ValueError("cannot fit minmax bounds: need at least two distinct scores")
            return cls(kind, low=min(vals), high=max(vals))
        if kind == "zscore":
            if len(vals) < 2:
                raise ValueError("cannot fit zscore: need at least two scores")
            return cls(kind, mean=statistics.fmean(vals), std=statistics.pstdev(vals))
        return cls(kind)

    def __call__(self, scores: Sequence[float]) -> list[float]:
        """Normalise the raw scores of ONE query's candidates (see :func:`normalize_scores`)."""
        return normalize_scores(scores, self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (only the fields the kind uses)."""
        d: dict[str, Any] = {"kind": self.kind}
        if self.kind == "minmax":
            d.update(low=self.low, high=self.high)
        if self.kind == "zscore":
            d.update(mean=self.mean, std=self.std)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`; unknown keys raise ValueError."""
        unknown = set(d) - {"kind", "low", "high", "mean", "std"}
        if unknown:
            raise ValueError(f"unknown normaliser keys {sorted(unknown)}")
        if "kind" not in d:
            raise ValueError("a normaliser needs a 'kind'")
        return cls(**d)

    @classmethod
    def from_bounds(cls, value: Any, where: str) -> Normalizer:
        """A global ``minmax`` from a config value ``[low, high]``; errors name ``where`` (e.g. ``file: bounds.bm25``).

        Raises:
            ValueError: not a list of exactly two finite numbers with low < high.
        """
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(f"{where}: expected [low, high] (two numbers), got {value!r}")
        try:
            return cls("minmax", low=value[0], high=value[1])
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None


def normalize_scores(scores: Sequence[float], norm: Normalizer) -> list[float]:
    """Normalise the raw scores of ONE query's candidates from ONE source.

    Global kinds (``minmax``, ``zscore``) and ``raw`` treat each score alone; per-query kinds use the whole list.

    Raises:
        ValueError: a score is NaN or infinite, or ``sum`` over scores that add up to 0.
    """
    vals = [float(s) for s in scores]
    for v in vals:
        if not math.isfinite(v):
            raise ValueError(f"cannot normalise a non-finite score {v!r}")
    k = norm.kind
    if k == "raw":
        return vals
    if k == "minmax":
        span = norm.high - norm.low  # type: ignore[operator]
        return [min(1.0, max(0.0, (v - norm.low) / span)) for v in vals]  # type: ignore[operator]
    if k == "zscore":
        return [(v - norm.mean) / norm.std for v in vals]  # type: ignore[operator]
    if k == "minmax-query":
        return minmax_values(vals)
    if k == "zscore-query":
        return zscore_values(vals)
    if not vals:
        return []
    total = sum(vals)  # "sum"
    if total == 0:
        raise ValueError("cannot sum-normalise scores that add up to 0")
    return [v / total for v in vals]


def normalize_query_scores(scores: Mapping[str, float], kind: str | Normalizer) -> dict[str, float]:
    """Normalise one query's ``{doc id: score}`` with a normaliser (or a kind: ``raw``, ``minmax-query``, ...)."""
    norm = kind if isinstance(kind, Normalizer) else Normalizer(kind)
    return dict(zip(scores, normalize_scores(list(scores.values()), norm), strict=True))
