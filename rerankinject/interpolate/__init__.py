"""The interpolation baseline of a first-stage and a cross-encoder run.

``alpha * norm(first stage) + (1 - alpha) * norm(cross-encoder)``, alpha tuned on other queries.
CLI: ``python -m rerankinject.interpolate``.
"""

from .baseline import alpha_grid, interpolate_runs, tune_alpha

__all__ = [
    "interpolate_runs",
    "tune_alpha",
    "alpha_grid",
]
