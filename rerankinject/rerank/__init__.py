"""Re-ranking with score-injecting cross-encoders.

:class:`ScoreInjectReranker` is the one path from candidates to scores, for inference and training validation.
CLI: ``python -m rerankinject.rerank``.
"""

from .reranker import MISSING_POLICIES, Candidate, ScoreInjectReranker, Scorer

__all__ = [
    "ScoreInjectReranker",
    "Candidate",
    "Scorer",
    "MISSING_POLICIES",
]
