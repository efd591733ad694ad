"""Validation (and the best model's test/validation runs) by re-ranking, through :class:`ScoreInjectReranker`.

The training code scores validation queries with the same object as inference: the same input builder, the same
depth rule (candidates below ``depth`` keep their first-stage order underneath), the same missing-score policies,
the same per-query normaliser window (the re-ranked candidates). Only the scores come from the training
:class:`~rerankinject.train.data.ScoreTable`, which applies the config's ``missing_score`` policy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DataError
from ..evaluate.measures import evaluate_run
from ..io.formats import Document
from ..io.runs import Run, RunRecord
from ..rerank.passages import PassageSpec
from ..rerank.reranker import ScoreInjectReranker
from .data import MissingScore, ScoreTable

__all__ = ["RerankSet"]

logger = logging.getLogger(__name__)


class RerankSet:
    """Queries with their first-stage candidates and raw scores, ready to be re-ranked by any checkpoint.

    Args:
        ce: a :class:`~rerankinject.scoring.model.CrossEncoderModel` (its recipe says which sources to collect).
        qids: the queries to re-rank.
        queries: query texts.
        table: raw first-stage scores; candidates come from ``table.ranked(candidates, qid)``.
        candidates: the source whose run is re-ranked.
        depth: how many of its top documents are re-ranked.
        corpus: documents by id.
        qrels: judgments for evaluation; rel_level: binary relevance level.
        passages: long documents scored as passages (aggregated per document), as ``rerank --passages``; None:
            documents are truncated.
    """

    def __init__(self, ce: Any, qids: Sequence[str], queries: Mapping[str, str], table: ScoreTable,
                 candidates: str, depth: int, corpus: Mapping[str, Document],
                 qrels: Mapping[str, Mapping[str, int]], rel_level: int = 1, passages: PassageSpec | None = None):
        self.passages = passages
        self.qrels = {q: dict(qrels[q]) for q in qids if q in qrels}
        self.rel_level = rel_level
        self.depth = depth
        self.queries, self.corpus = queries, corpus
        self.run: Run = {}
        self.sources: dict[str, dict[str, dict[str, float]]] = {s: {} for s in ce.recipe.sources}
        by_cand = table.runs[candidates]
        for qid in qids:
            ranked = table.ranked(candidates, qid)
            if not ranked:
                continue
            self.run[qid] = [RunRecord(qid, d, by_cand[qid][d]) for d in ranked]
            for s in self.sources:
                try:
                    self.sources[s][qid] = {d: table.score(s, qid, d) for d in ranked[:depth]}
                except MissingScore:
                    raise DataError(f"re-ranking query {qid!r}: source {s!r} lacks scores for some candidates; "
                                    f"missing_score 'drop' cannot apply here (use min, zero or index)") from None
        if not self.run:
            raise DataError(f"nothing to re-rank: none of {len(qids)} queries has candidates in source {candidates!r}")
        self.n_queries = len(self.run)

    def rerank(self, ce: Any, batch_size: int = 64, progress: bool = False) -> Run:
        """Re-rank every query with ``ce`` (its torch module in eval mode, then restored) through the reranker."""
        model = ce.model
        was_training = model is not None and model.training
        if was_training:
            model.eval()
        try:
            reranker = ScoreInjectReranker(model=ce, batch_size=batch_size, progress=progress)
            if self.passages is not None:
                reranker.set_passages(self.passages.mode, self.passages.length, self.passages.stride)
            return reranker.rerank_run(self.run, self.queries, self.corpus, self.sources, depth=self.depth)
        finally:
            if was_training:
                model.train()

    def evaluate(self, ce: Any, batch_size: int = 64, progress: bool = False) -> float:
        """nDCG@10 of the re-ranked run over the judged queries."""
        return evaluate_run(self.rerank(ce, batch_size, progress), self.qrels, self.rel_level,
                            names=("nDCG@10",))["nDCG@10"]
