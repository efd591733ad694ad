"""Training examples from first-stage runs and qrels: (query, positive, hard negative) pairs with raw scores.

* :class:`ScoreTable` - the raw first-stage scores of every source (``{source: {qid: {doc: score}}}``) and the
  policy for a (query, doc) a source did not retrieve (error, drop, the query's minimum, zero, or the exact BM25
  score from a Lucene index);
* :func:`split_queries` - a deterministic validation split by query;
* :func:`sample_pairs` - positives (grade >= threshold) and hard negatives sampled from the candidate run;
* :func:`attach_scores` - give every pair the raw scores of every source (dropping or failing per policy).

Sampling is deterministic: each query has its own ``random.Random(f"{seed}:{qid}")``, so a query's pairs do not
depend on the other queries.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets.registry import Dataset
from ..errors import DataError
from ..io.runs import query_sort_key, read_run

__all__ = ["Pair", "ScoreTable", "MissingScore", "resolve_run_path", "split_queries", "sample_pairs",
           "attach_scores"]

logger = logging.getLogger(__name__)


@dataclass
class Pair:
    """One training example: a query, a positive and a negative, their raw scores per source and teacher scores."""

    qid: str
    pos_id: str
    neg_id: str
    pos_scores: dict[str, float] = field(default_factory=dict)
    neg_scores: dict[str, float] = field(default_factory=dict)
    t_pos: float | None = None
    t_neg: float | None = None


class MissingScore(KeyError):
    """A source has no score for a (query, doc) and the policy is ``drop``."""


def resolve_run_path(value: str, dataset: Dataset | None) -> Path:
    """A run file path, or the bundled run of that name of ``dataset`` (``bm25``, ``tasb`` on TREC DL)."""
    p = Path(value)
    if p.is_file():
        return p
    if dataset is not None and value in dataset.spec.runs:
        return dataset.run_path(value)
    known = ", ".join(dataset.spec.runs) if dataset is not None and dataset.spec.runs else "none"
    raise DataError(f"run not found: {value!r} is neither a file nor a bundled run of "
                    f"{dataset.name if dataset else 'the data set'} (bundled: {known})")


class ScoreTable:
    """Raw first-stage scores of several sources and the missing-score policy.

    Args:
        runs: ``{source: {qid: {doc: raw score}}}``.
        policy: a policy name for all sources, or ``{source: policy}`` (``*`` for the rest); see
            :data:`~rerankinject.train.config.MISSING_POLICIES`.
        indexes: ``{source: index folder}`` for the ``index`` policy: a Lucene index (exact BM25 score) or a dense
            index of ``python -m rerankinject.index dense`` (exact dense score).
        queries: query texts (needed by the ``index`` policy).
    """

    def __init__(self, runs: Mapping[str, Mapping[str, Mapping[str, float]]], policy: str | Mapping[str, str] = "error",
                 indexes: Mapping[str, str | os.PathLike] | None = None, queries: Mapping[str, str] | None = None):
        self.runs = {s: {q: dict(d) for q, d in r.items()} for s, r in runs.items()}
        self.policy = dict(policy) if isinstance(policy, Mapping) else {"*": policy}
        self.indexes = dict(indexes or {})
        self.queries = dict(queries or {})
        self._searchers: dict[str, Any] = {}
        self._stand_in: dict[tuple[str, str, str], float] = {}  # kept apart: ranked() lists only retrieved docs
        self.filled: dict[str, int] = dict.fromkeys(self.runs, 0)
        for s in self.runs:
            if self.policy_of(s) == "index" and s not in self.indexes:
                raise DataError(f"missing_score policy 'index' for source {s!r} needs sources.{s}.index "
                                f"(a Lucene or dense index folder)")

    @classmethod
    def from_config(cls, sources: Mapping[str, Any], dataset: Dataset | None, policy: str | Mapping[str, str],
                    queries: Mapping[str, str]) -> ScoreTable:
        """Read each source's run (file path, bundled name or ``{run, index}``)."""
        runs, indexes = {}, {}
        for name, spec in sources.items():
            run_value = spec["run"] if isinstance(spec, Mapping) else spec
            if isinstance(spec, Mapping) and spec.get("index"):
                indexes[name] = spec["index"]
            path = resolve_run_path(str(run_value), dataset)
            runs[name] = {q: {r.doc_id: r.score for r in recs} for q, recs in read_run(path).items()}
            logger.info("source %s: %s (%d queries)", name, path, len(runs[name]))
        return cls(runs, policy, indexes, queries)

    @property
    def sources(self) -> list[str]:
        """Source names in config order."""
        return list(self.runs)

    def policy_of(self, source: str) -> str:
        """The missing-score policy of one source."""
        return self.policy.get(source, self.policy.get("*", "error"))

    def ranked(self, source: str, qid: str, depth: int | None = None) -> list[str]:
        """A source's doc ids for a query, best first (ties by doc id), cut at ``depth``."""
        docs = self.runs[source].get(qid, {})
        order = sorted(docs, key=lambda d: (-docs[d], d))
        return order if depth is None else order[:depth]

    def score(self, source: str, qid: str, doc: str) -> float:
        """The raw score of ``doc`` for ``qid`` in ``source``, or the policy's stand-in.

        Raises:
            DataError: policy ``error`` (the message names source, query and doc).
            MissingScore: policy ``drop``.
        """
        by_doc = self.runs[source].get(qid)
        if by_doc is not None and doc in by_doc:
            return by_doc[doc]
        key = (source, qid, doc)
        if key in self._stand_in:
            return self._stand_in[key]
        pol = self.policy_of(source)
        if pol == "error":
            raise DataError(f"source {source!r} has no score for query {qid!r} doc {doc!r} (set missing_score "
                            f"to drop, min, zero or index to allow this)")
        if pol == "drop":
            raise MissingScore(source)
        self.filled[source] += 1
        if pol == "zero":
            value = 0.0
        elif pol == "min":
            value = min(by_doc.values()) if by_doc else 0.0
        else:  # index
            value = self._searcher(source).score(self.queries[qid], doc)
        if not math.isfinite(value):
            raise DataError(f"source {source!r}: non-finite stand-in score for query {qid!r} doc {doc!r}")
        self._stand_in[key] = value
        return value

    def scores(self, qid: str, doc: str, sources: Iterable[str] | None = None) -> dict[str, float]:
        """Raw scores of every (or the given) source for one (query, doc)."""
        return {s: self.score(s, qid, doc) for s in (self.sources if sources is None else sources)}

    def _searcher(self, source: str) -> Any:
        """The exact scorer of a source's ``index``: a dense index (it has ``encoder.json``) or a Lucene index."""
        if source not in self._searchers:
            from ..encode.encoder import ENCODER_META

            if (Path(self.indexes[source]) / ENCODER_META).is_file():
                from ..search.faiss import DenseSearcher

                self._searchers[source] = DenseSearcher(self.indexes[source])
            else:
                from ..search.lucene import BM25Searcher

                self._searchers[source] = BM25Searcher(self.indexes[source])
        return self._searchers[source]


def split_queries(qids: Iterable[str], val: float, seed: int) -> tuple[list[str], list[str]]:
    """Split query ids into (train, validation): ``val`` is a count (>= 1) or a fraction (< 1) of the queries.

    Deterministic for a seed; both lists come back in query-id order.

    Raises:
        DataError: the split would leave no training or no validation query.
    """
    ordered = sorted(set(qids), key=query_sort_key)
    n_val = int(val) if val >= 1 else max(1, round(val * len(ordered)))
    if n_val >= len(ordered):
        raise DataError(f"val_queries={val} leaves no training query ({len(ordered)} queries in all)")
    shuffled = list(ordered)
    random.Random(f"split:{seed}").shuffle(shuffled)
    val_set = set(shuffled[:n_val])
    return [q for q in ordered if q not in val_set], [q for q in ordered if q in val_set]


def sample_pairs(qids: Sequence[str], qrels: Mapping[str, Mapping[str, int]], table: ScoreTable, candidates: str,
                 threshold: int, negatives_per_positive: int, neg_depth: int, unjudged_as_negative: bool,
                 seed: int, corpus: Mapping[str, Any], max_positives_per_query: int | None = None,
                 positive_depth: int | None = None) -> list[Pair]:
    """Positives (grade >= ``threshold``, in the corpus) and hard negatives from the candidate run's top.

    A negative is a candidate-run document in the top ``neg_depth`` that is not relevant: judged below
    ``threshold``, or unjudged when ``unjudged_as_negative``. Each positive gets up to ``negatives_per_positive``
    negatives drawn without replacement (fewer if the pool is smaller). With ``positive_depth``, only positives in
    the candidate run's top ``positive_depth`` are used.
    """
    pairs: list[Pair] = []
    for qid in qids:
        judged = qrels.get(qid, {})
        pos = sorted(d for d, g in judged.items() if g >= threshold and d in corpus)
        if positive_depth is not None:
            top = set(table.ranked(candidates, qid, positive_depth))
            pos = [d for d in pos if d in top]
        rng = random.Random(f"{seed}:{qid}")
        if max_positives_per_query is not None and len(pos) > max_positives_per_query:
            pos = sorted(rng.sample(pos, max_positives_per_query))
        pool = [d for d in table.ranked(candidates, qid, neg_depth)
                if d in corpus and (judged[d] < threshold if d in judged else unjudged_as_negative)]
        if not pos or not pool:
            continue
        for p in pos:
            for n in rng.sample(pool, min(negatives_per_positive, len(pool))):
                pairs.append(Pair(qid, p, n))
    return pairs


def attach_scores(pairs: Iterable[Pair], table: ScoreTable) -> list[Pair]:
    """Give each pair the raw scores of every source; pairs with a dropped (``drop`` policy) score are left out."""
    out, dropped = [], 0
    for pr in pairs:
        try:
            pr.pos_scores = table.scores(pr.qid, pr.pos_id)
            pr.neg_scores = table.scores(pr.qid, pr.neg_id)
        except MissingScore:
            dropped += 1
            continue
        out.append(pr)
    if dropped:
        logger.info("dropped %d pairs with a missing first-stage score (missing_score: drop)", dropped)
    filled = {s: n for s, n in table.filled.items() if n}
    if filled:
        logger.info("scores filled in by the missing-score policy: %s", filled)
    return out
