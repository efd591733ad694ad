"""Validation (and final test) by re-ranking: the model scores a first-stage run's top-k exactly as at inference.

Inputs come from the model's own :class:`~rerankinject.injection.InputBuilder` and scores from
:meth:`~rerankinject.cross_encoder.CrossEncoderModel.predict`, so validation scores are inference scores.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DataError
from ..evaluate import evaluate_run
from ..formats import Document, document_text
from ..runs import Run, RunRecord, sort_hits
from .data import MissingScore, ScoreTable

__all__ = ["RerankSet"]

logger = logging.getLogger(__name__)


class RerankSet:
    """Queries with their candidates encoded for one model's recipe and tokenizer.

    Args:
        ce: a :class:`~rerankinject.cross_encoder.CrossEncoderModel` (its builder and recipe are used).
        qids: the queries to re-rank.
        queries: query texts.
        table: raw first-stage scores; candidates come from ``table.ranked(candidates, qid, depth)``.
        candidates: the source whose run is re-ranked.
        depth: how many of its top documents are re-ranked.
        corpus: documents by id.
        qrels: judgments for evaluation; rel_level: binary relevance level.
    """

    def __init__(self, ce: Any, qids: Sequence[str], queries: Mapping[str, str], table: ScoreTable,
                 candidates: str, depth: int, corpus: Mapping[str, Document],
                 qrels: Mapping[str, Mapping[str, int]], rel_level: int = 1):
        self.qrels = {q: dict(qrels[q]) for q in qids if q in qrels}
        self.rel_level = rel_level
        self.keys: list[tuple[str, str]] = []
        self.inputs: list[tuple[list[int], list[int]]] = []
        recipe = ce.recipe
        for qid in qids:
            docs = [d for d in table.ranked(candidates, qid, depth) if d in corpus]
            if not docs:
                continue
            try:
                raw = {s: {d: table.score(s, qid, d) for d in docs} for s in recipe.sources}
            except MissingScore as e:
                raise DataError(f"re-ranking query {qid!r}: source {e.args[0]!r} lacks scores for some candidates; "
                                f"missing_score 'drop' cannot apply here (use min, zero or index)") from None
            rendered = recipe.render_query(raw, docs)
            self.inputs += ce.builder.encode(queries[qid], [document_text(corpus[d]) for d in docs], rendered)
            self.keys += [(qid, d) for d in docs]
        if not self.inputs:
            raise DataError(f"nothing to re-rank: none of {len(qids)} queries has candidates in source {candidates!r}")
        self.n_queries = len({q for q, _ in self.keys})

    def rerank(self, ce: Any, batch_size: int = 64, progress: bool = False) -> Run:
        """Score every candidate with ``ce`` (switched to eval mode, then restored) and return the re-ranked run."""
        was_training = ce.model.training
        ce.model.eval()
        try:
            scores = ce.predict(self.inputs, batch_size=batch_size, progress=progress)
        finally:
            if was_training:
                ce.model.train()
        run: dict[str, list[RunRecord]] = {}
        for (q, d), s in zip(self.keys, scores, strict=True):
            run.setdefault(q, []).append(RunRecord(q, d, s))
        return {q: sort_hits(r) for q, r in run.items()}

    def evaluate(self, ce: Any, batch_size: int = 64, progress: bool = False) -> float:
        """nDCG@10 of the re-ranked run over the judged queries."""
        return evaluate_run(self.rerank(ce, batch_size, progress), self.qrels, self.rel_level,
                            names=("nDCG@10",))["nDCG@10"]
