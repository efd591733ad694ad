"""Re-rank first-stage candidates with a score-injected cross-encoder (Askari et al., ECIR 2023).

:class:`ScoreInjectReranker` loads a checkpoint folder (weights, tokenizer and ``injection.json``; a plain Hugging
Face sequence-classification folder loads as CAT) and scores each query's candidates with the checkpoint's own
injection recipe, so inference builds exactly the inputs training saw. It takes:

* :class:`Candidate` objects or ``(doc_id, text, {source: raw score})`` tuples (:meth:`ScoreInjectReranker.rerank`);
* Pyserini ``LuceneSearcher`` hits (``.docid``, ``.score``) together with the searcher that produced them, or our
  :class:`~rerankinject.search.lucene.BM25Searcher` (:meth:`ScoreInjectReranker.rerank_hits`): the text comes from the
  index's stored ``raw``/``contents`` field and the hit score is the injected ``bm25`` score;
* whole runs (:meth:`ScoreInjectReranker.rerank_run`), streamed query by query.

Every result is a list of :class:`~rerankinject.io.runs.RunRecord` whose score is the cross-encoder's raw logit. With
``depth=K`` only the top K candidates are re-ranked; the rest keep their original order below them, with scores
``min(logits) - 1, min(logits) - 2, ...`` so that any TREC writer keeps that order.

A candidate that lacks a score from a source the recipe injects gets the exact score from that source's *scorer*
(any object with ``score(query, doc_id) -> float``, see :class:`Scorer`; e.g. ``BM25Searcher`` for a Lucene index),
else the ``missing`` policy decides: ``"error"`` (default), ``"min"`` (the source run's lowest score for that
query in :meth:`~ScoreInjectReranker.rerank_run`; the lowest among the candidates in
:meth:`~ScoreInjectReranker.rerank`) or ``"zero"``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from tqdm.auto import tqdm

from ..cluster import RayOptions
from ..errors import DataError
from ..injection.recipe import InjectionRecipe
from ..io.formats import Document, document_text
from ..io.runs import Run, RunRecord, sort_hits
from ..scoring.model import CrossEncoderModel
from .passages import PassageSpec, aggregate, document_passages

__all__ = ["Candidate", "RankedPassage", "Scorer", "ScoreInjectReranker", "MISSING_POLICIES", "hit_text",
           "apply_depth"]

logger = logging.getLogger(__name__)

MISSING_POLICIES = ("error", "min", "zero")
"""What to do with a candidate that has no score from a required source and no scorer can compute one: refuse
(``error``), the query's lowest score of that source (``min``) or 0.0 (``zero``). A scorer (exact score from an
index) is always tried first; training adds ``index`` (a scorer is required) and ``drop`` (drop the training pair),
see :data:`rerankinject.train.config.MISSING_POLICIES`."""


class Candidate(NamedTuple):
    """One candidate of one query: the doc id, its text and its raw first-stage scores by source name."""

    doc_id: str
    text: str
    scores: Mapping[str, float] = {}


class RankedPassage(NamedTuple):
    """One result of :meth:`ScoreInjectReranker.rank`: input index, raw logit and corpus id (None without ids)."""

    index: int
    score: float
    corpus_id: str | None = None


@runtime_checkable
class Scorer(Protocol):
    """Anything that gives the exact first-stage score of one document for a query.

    :class:`~rerankinject.search.lucene.BM25Searcher` is one (BM25 over a Lucene index); a dense searcher with a
    ``score(query, doc_id)`` method plugs in the same way.
    """

    def score(self, query: str, doc_id: str) -> float:
        """The raw first-stage score of ``doc_id`` for ``query``."""
        ...


def _lucene(searcher: Any) -> Any:
    """The Pyserini ``LuceneSearcher`` inside a :class:`BM25Searcher`, or the searcher itself."""
    inner = getattr(searcher, "searcher", None)
    return inner if inner is not None and hasattr(inner, "doc") else searcher


def hit_text(searcher: Any, doc_id: str) -> str:
    """The text of an indexed document, from the index's stored ``raw`` field (JSON or plain) or ``contents``.

    Args:
        searcher: a Pyserini ``LuceneSearcher`` (anything with ``doc(docid)``) or a :class:`BM25Searcher`.
        doc_id: the collection doc id.

    Raises:
        DataError: the document is not in the index, or the index stores no text for it.
    """
    doc = _lucene(searcher).doc(doc_id)
    if doc is None:
        raise DataError(f"doc id {doc_id!r} is not in the index of {type(searcher).__name__}")
    raw = doc.raw()
    if raw:
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            return str(raw)
        if isinstance(obj, dict):
            if "contents" in obj:
                return str(obj["contents"])
            if "text" in obj:
                return document_text(Document(doc_id, str(obj.get("title") or ""), str(obj["text"])))
        return str(raw)
    contents = doc.contents()
    if contents:
        return str(contents)
    raise DataError(f"the index stores no text for doc {doc_id!r} (build it with -storeRaw or -storeContents, "
                    f"or re-rank from a corpus file instead)")


def apply_depth(query_id: str, ranked: Sequence[RunRecord], rest: Sequence[RunRecord]) -> list[RunRecord]:
    """Append ``rest`` (in its given order) below ``ranked`` with descending scores under ``ranked``'s minimum.

    The tail gets ``min - 1, min - 2, ...`` (``-1, -2, ...`` when ``ranked`` is empty) so that sorting by score,
    as every TREC writer does, keeps the original order of the candidates below the re-ranking depth.
    """
    out = list(ranked)
    floor = min((r.score for r in ranked), default=0.0)
    out += [RunRecord(query_id, r.doc_id, floor - (i + 1)) for i, r in enumerate(rest)]
    return out


class ScoreInjectReranker:
    """A cross-encoder re-ranker that injects first-stage scores as text, following its checkpoint's recipe.

    Args:
        model_dir: checkpoint folder (weights + tokenizer + ``injection.json``); a plain Hugging Face
            sequence-classification folder loads as CAT.
        device: ``cpu`` or ``cuda``; default CUDA when available.
        batch_size: pairs per forward pass.
        missing: ``"error"`` (default), ``"min"`` or ``"zero"``; see :data:`MISSING_POLICIES`.
        scorers: ``{source: Scorer}`` that compute missing scores exactly (e.g. ``{"bm25": BM25Searcher(...)}``).
        max_length: override the recipe's total input length.
        dtype: on CUDA ``fp16``/``bf16`` autocast or ``fp32``; ``auto`` picks bf16 on CUDA, fp32 on CPU.
        progress: show a tqdm bar over the query-passage pairs in :meth:`rerank_run`.
        model: an already loaded :class:`CrossEncoderModel` to use instead of loading ``model_dir``.
        backend: ``torch`` (default), ``onnx`` (ONNX Runtime fp32, fused attention; CPU) or ``onnx-int8``
            (dynamic int8; CPU). All score the same token ids; see ``docs/performance.md`` for speed and fidelity.
        threads: CPU threads for scoring (default: all cores).
        workers: batches scored concurrently on CPU (default: one per thread; 1 = one batch on all threads).
        group_pairs: :meth:`iter_rerank_run` scores the pairs of consecutive queries together until at least this
            many are collected (batches then are length-sorted across queries and full; queries are still yielded
            one by one). 1 scores query by query.
        exact_head: with a quantised backend (``onnx-int8*``), re-score each query's top ``exact_head`` of the
            quantised ranking with the fp32 ``exact_backend`` (a two-precision cascade: the head, which decides
            nDCG@10, gets exact fp32 scores and order; the tail keeps the int8 order and scores, lowered by one
            constant per query when needed to stay below the head). 0 (default): no re-scoring.
        exact_backend: the fp32 backend of the head re-scoring (``onnx`` default, or ``torch``).
        exact_batch_size: pairs per fp32 forward pass of the head re-scoring (default: ``batch_size``; 32 measured
            no faster than 8 for the head of an int8 batch-8 run, docs/performance.md).
        ray: score on a Ray actor pool (:class:`~rerankinject.cluster.RayOptions`): :meth:`iter_rerank_run` sends
            the whole run's groups, batched as locally, to one Ray Data job; output equals the local engine's.
    """

    passages: PassageSpec | None = None
    """Long documents: split into passages and aggregated (see :meth:`set_passages`); None scores each document
    as one (truncated) input."""

    def __init__(self, model_dir: str | os.PathLike | None = None, device: str | None = None, batch_size: int = 32,
                 missing: str = "error", scorers: Mapping[str, Scorer] | None = None,
                 max_length: int | None = None, dtype: str = "auto", progress: bool = False,
                 model: CrossEncoderModel | None = None, backend: str = "torch", threads: int | None = None,
                 workers: int | None = None, group_pairs: int = 2048, exact_head: int = 0,
                 exact_backend: str = "onnx", exact_batch_size: int | None = None, ray: RayOptions | None = None):
        if missing not in MISSING_POLICIES:
            raise ValueError(f"missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if group_pairs < 1:
            raise ValueError(f"group_pairs must be >= 1, got {group_pairs}")
        self.group_pairs = group_pairs
        if model is None:
            if model_dir is None:
                raise ValueError("give model_dir or a loaded model")
            model = CrossEncoderModel(model_dir, device=device, dtype=dtype, max_length=max_length, backend=backend,
                                      threads=threads, workers=workers, exact_head=exact_head,
                                      exact_backend=exact_backend, exact_batch_size=exact_batch_size, ray=ray)
        self.model = model
        self.batch_size = batch_size
        self.missing = missing
        self.progress = progress
        self.scorers: dict[str, Scorer] = dict(scorers or {})
        for name, s in self.scorers.items():
            if not callable(getattr(s, "score", None)):
                raise ValueError(f"scorer for source {name!r} has no score(query, doc_id) method: {s!r}")
        unused = sorted(set(self.scorers) - set(self.sources))
        if unused:
            logger.warning("scorers for %s are not used: the recipe (%s) injects %s", unused, self.recipe.variant,
                           list(self.sources) or "no scores")

    @property
    def recipe(self) -> InjectionRecipe:
        """The checkpoint's injection recipe."""
        return self.model.recipe

    @property
    def sources(self) -> tuple[str, ...]:
        """The score sources the recipe injects, in template order (empty for CAT)."""
        return self.recipe.sources

    def check_sources(self, given: Iterable[str]) -> None:
        """Refuse to run when a source the recipe injects is neither given nor computable by a scorer.

        Raises:
            DataError: naming the missing source and how to pass it (``--source NAME=RUN``).
        """
        have = set(given) | set(self.scorers)
        for s in self.sources:
            if s not in have:
                raise DataError(
                    f"the checkpoint {self.model.model_dir} injects score source {s!r} (recipe {self.recipe.variant}: "
                    f"{', '.join(self.sources)}) but no {s!r} scores were given: pass --source {s}=RUN "
                    f"(a run with raw {s} scores for the same queries; if the run being re-ranked is itself the "
                    f"{s} run, pass it again as --source {s}=<that run>)")

    # --- scoring --------------------------------------------------------------------------------------------
    def _fill_scores(self, query: str, query_id: str, cands: Sequence[Candidate],
                     floors: Mapping[str, float] | None = None,
                     scorers: Mapping[str, Scorer] | None = None) -> dict[str, dict[str, float]]:
        """``{source: {doc id: raw score}}`` for every candidate, filling gaps by scorer or policy.

        ``floors`` gives the "min" policy's value per source (the source run's minimum for the query); without
        it, the lowest score among the candidates is used.
        """
        raw: dict[str, dict[str, float]] = {}
        for s in self.sources:
            by_doc: dict[str, float] = {}
            gaps: list[str] = []
            for c in cands:
                v = c.scores.get(s) if c.scores else None
                if v is None:
                    gaps.append(c.doc_id)
                    continue
                v = float(v)
                if not math.isfinite(v):
                    raise DataError(f"query {query_id!r} doc {c.doc_id!r}: source {s!r} score {v!r} is not finite")
                by_doc[c.doc_id] = v
            if gaps:
                scorer = (scorers or {}).get(s) or self.scorers.get(s)
                if scorer is not None:
                    for d in gaps:
                        v = float(scorer.score(query, d))
                        if not math.isfinite(v):
                            raise DataError(f"scorer for {s!r} gave a non-finite score {v!r} for query "
                                            f"{query_id!r} doc {d!r}")
                        by_doc[d] = v
                    logger.debug("query %s: computed %d missing %s scores", query_id, len(gaps), s)
                elif self.missing == "zero":
                    by_doc.update(dict.fromkeys(gaps, 0.0))
                elif self.missing == "min":
                    if floors is not None and s in floors:
                        floor = float(floors[s])
                    elif by_doc:
                        floor = min(by_doc.values())
                    else:
                        raise DataError(f"query {query_id!r}: no candidate has a {s!r} score, so the 'min' policy "
                                        f"has no minimum to use (give a {s} scorer, e.g. --bm25-index)")
                    by_doc.update(dict.fromkeys(gaps, floor))
                    logger.debug("query %s: %d candidates without a %s score get the minimum %r", query_id,
                                 len(gaps), s, floor)
                else:
                    raise DataError(
                        f"query {query_id!r}: {len(gaps)} candidate(s) have no {s!r} score (e.g. doc {gaps[0]!r}) "
                        f"and no {s} scorer is available: pass a source run that covers them, a scorer "
                        f"(--bm25-index for bm25), or --missing min")
            raw[s] = by_doc
        return raw

    def score(self, query: str, candidates: Sequence[Candidate], query_id: str = "q",
              floors: Mapping[str, float] | None = None, scorers: Mapping[str, Scorer] | None = None) -> list[float]:
        """Raw cross-encoder logits of the candidates, in order.

        Args:
            query: the query text.
            candidates: the query's candidates (their ``scores`` hold raw first-stage scores by source).
            query_id: used in error messages.
            floors: per source, the value the ``"min"`` policy gives a candidate without a score (default: the
                lowest score among the candidates).
            scorers: extra ``{source: Scorer}`` for this call, tried before the reranker's own.
        """
        if not candidates:
            return []
        return self.model.predict(self.build_inputs(query, candidates, query_id, floors, scorers),
                                  batch_size=self.batch_size, groups=[[c.doc_id for c in candidates]])

    def build_inputs(self, query: str, candidates: Sequence[Candidate], query_id: str = "q",
                     floors: Mapping[str, float] | None = None,
                     scorers: Mapping[str, Scorer] | None = None) -> list[tuple[list[int], list[int]]]:
        """The model inputs ``(input_ids, token_type_ids)`` of the candidates (scores filled, rendered, tokenised)."""
        if not candidates:
            return []
        ids = [c.doc_id for c in candidates]
        if len(set(ids)) != len(ids):
            raise DataError(f"query {query_id!r}: a doc id appears twice among the candidates")
        raw = self._fill_scores(query, query_id, candidates, floors, scorers)
        rendered = self.recipe.render_query(raw, ids) if self.sources else [{} for _ in ids]
        return self.model.builder.encode(query, [c.text for c in candidates], rendered)

    @staticmethod
    def as_candidate(item: Any, source: str | None = None, searcher: Any = None) -> Candidate:
        """Coerce a :class:`Candidate`, a ``(doc_id, text[, scores])`` tuple or a Pyserini hit into a Candidate.

        A hit (``.docid``, ``.score``) needs ``searcher`` for its text; its score becomes ``{source: score}``
        when ``source`` is given.
        """
        if isinstance(item, Candidate):
            return item
        if isinstance(item, tuple):
            if len(item) == 2:
                return Candidate(str(item[0]), str(item[1]), {})
            if len(item) == 3:
                return Candidate(str(item[0]), str(item[1]), dict(item[2] or {}))
            raise ValueError(f"a candidate tuple is (doc_id, text) or (doc_id, text, scores), got {len(item)} items")
        if hasattr(item, "docid") and hasattr(item, "score"):
            if searcher is None:
                raise ValueError("Pyserini hits need the searcher that found them (for the text): pass searcher=")
            doc_id = str(item.docid)
            return Candidate(doc_id, hit_text(searcher, doc_id), {source: float(item.score)} if source else {})
        raise ValueError(f"cannot use {type(item).__name__} as a candidate (expected Candidate, a (doc_id, text, "
                         f"scores) tuple or a Pyserini hit)")

    def rerank(self, query: str, candidates: Sequence[Any], query_id: str = "q", depth: int | None = None,
               source: str | None = None, searcher: Any = None,
               scorers: Mapping[str, Scorer] | None = None) -> list[RunRecord]:
        """Re-rank one query's candidates, best first.

        Args:
            query: the query text.
            candidates: in first-stage order; :class:`Candidate`, ``(doc_id, text, {source: score})`` tuples or
                Pyserini hits (with ``searcher``).
            query_id: the id written into the records.
            depth: re-rank only the first ``depth`` candidates; the rest follow in their given order.
            source: for hits, the source name of their scores (e.g. ``bm25``).
            searcher: for hits, the searcher that found them.
            scorers: extra ``{source: Scorer}`` for this call (see :meth:`score`).

        Returns:
            Records ranked by the cross-encoder's raw logit (the tail below ``depth`` as :func:`apply_depth`).
        """
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        k = len(candidates) if depth is None else min(depth, len(candidates))
        head = [self.as_candidate(c, source, searcher) for c in candidates[:k]]
        logits = self.score(query, head, query_id, scorers=scorers)
        ranked = sort_hits(RunRecord(query_id, c.doc_id, s) for c, s in zip(head, logits, strict=True))
        rest = [RunRecord(query_id, self._doc_id(c), 0.0) for c in candidates[k:]]
        return apply_depth(query_id, ranked, rest)

    @staticmethod
    def _doc_id(item: Any) -> str:
        if isinstance(item, tuple):
            return str(item[0])
        return str(item.docid if hasattr(item, "docid") else item.doc_id)

    def rerank_hits(self, query: str, hits: Sequence[Any], searcher: Any, query_id: str = "q",
                    source: str = "bm25", depth: int | None = None) -> list[RunRecord]:
        """Re-rank the hits of a Pyserini ``LuceneSearcher`` (or :class:`BM25Searcher`) search.

        The text comes from the searcher's index; each hit's score is injected as source ``source`` (a BM25
        search gives ``bm25`` scores). A searcher with a ``score(query, doc_id)`` method (our
        :class:`BM25Searcher`) also scores, for this call, any candidate that lacks a ``source`` score.
        """
        extra = {source: searcher} if callable(getattr(searcher, "score", None)) else None
        return self.rerank(query, hits, query_id=query_id, depth=depth, source=source, searcher=searcher,
                           scorers=extra)

    # --- runs -----------------------------------------------------------------------------------------------
    def iter_rerank_run(self, run: Mapping[str, Sequence[RunRecord]], topics: Mapping[str, str],
                        corpus: Mapping[str, Any], sources: Mapping[str, Any] | None = None,
                        depth: int | None = None,
                        skip: Collection[str] = ()) -> Iterator[tuple[str, list[RunRecord]]]:
        """Yield ``(query id, re-ranked records)`` one query at a time (streaming; see :meth:`rerank_run`).

        Consecutive queries are scored together in groups of at least ``group_pairs`` pairs (one length-sorted
        :meth:`CrossEncoderModel.predict` call: full batches, little padding). Group boundaries depend only on the
        run (query order and candidate counts), so passing the queries already done as ``skip`` (on resume)
        reproduces the same groups: a group whose queries are all skipped is not scored, skipped queries are not
        yielded, and no score depends on where a job was interrupted.
        """
        sources = dict(sources or {})
        self.check_sources(sources)
        extra = sorted(set(sources) - set(self.sources))
        if extra:
            logger.warning("source(s) %s are not injected by this checkpoint (%s) and are ignored", extra,
                           self.recipe.variant)
        by_source = {s: _as_score_dict(sources[s], s) for s in self.sources if s in sources}
        missing_q = [q for q in run if q not in topics]
        if missing_q:
            raise DataError(f"run query id {missing_q[0]!r} is not in the topics ({len(missing_q)} such queries)")
        skip = set(skip)
        score_groups = getattr(self.model.scorer, "score_groups", None)
        if self.passages is not None:  # passages: one predict call per group of documents' passages
            if score_groups is not None:
                raise ValueError("passages are scored by the local engine only (not with a distributed engine)")
            scored_docs = (item for span in self._spans(run, depth, skip)
                           for item in self._rerank_group_passages(span, skip, topics, corpus, by_source))
            with tqdm(total=len(set(run) - set(skip)), desc="rerank", unit="q", disable=not self.progress,
                      mininterval=2, smoothing=0) as bar:
                for item in scored_docs:
                    bar.update(1)
                    yield item
            return
        groups = self._built_groups(run, depth, skip, topics, corpus, by_source)
        if score_groups is not None:  # a distributed engine (GroupScorer): the whole run in one job, streamed back
            scored: Iterator[tuple[Any, list[float]]] = score_groups(groups, self.batch_size)
        else:
            scored = ((meta, self.model.predict(inputs, batch_size=self.batch_size, groups=meta[1]))
                      for meta, inputs in groups)

        def n_pairs(recs: Sequence[RunRecord]) -> int:
            return len(recs) if depth is None else min(depth, len(recs))

        # the bar counts pairs (the unit of work, scored a group at a time) and its ETA is the mean rate so far
        # (smoothing=0): a bar over queries, updated in bursts, extrapolated hours from the first few queries
        total = sum(n_pairs(recs) for qid, recs in run.items() if qid not in skip)
        with tqdm(total=total, desc="rerank", unit="pair", unit_scale=True, disable=not self.progress,
                  mininterval=2, smoothing=0) as bar:
            for (span, doc_ids), logits in scored:
                items = list(self._assemble(span, doc_ids, logits, skip))
                bar.update(sum(n_pairs(run[qid]) for qid, _ in items))  # a whole group at once: a sane ETA at once
                yield from items

    def _built_groups(self, run: Mapping[str, Sequence[RunRecord]], depth: int | None, skip: Collection[str],
                      topics: Mapping[str, str], corpus: Mapping[str, Any],
                      by_source: Mapping[str, Mapping[str, Mapping[str, float]]]
                      ) -> Iterator[tuple[tuple[list[tuple[str, list[RunRecord], int]], list[list[str]]],
                                          list[tuple[list[int], list[int]]]]]:
        """The run's scoring groups, each ``((span, doc ids per query), inputs)``, skipping all-skipped groups.

        Consecutive queries form a group until it holds at least ``group_pairs`` pairs; boundaries depend only on
        the run (query order and candidate counts), never on ``skip``.
        """
        for span in self._spans(run, depth, skip):
            yield self._build_group(span, topics, corpus, by_source)

    def _spans(self, run: Mapping[str, Sequence[RunRecord]], depth: int | None,
               skip: Collection[str]) -> Iterator[list[tuple[str, list[RunRecord], int]]]:
        """Consecutive queries ``(qid, records, k)`` until a group holds ``group_pairs`` pairs (all-skipped left out).

        Boundaries depend only on the run (query order and candidate counts), never on ``skip``.
        """
        span: list[tuple[str, list[RunRecord], int]] = []
        pending = 0
        for n, (qid, recs) in enumerate(run.items(), 1):
            recs = list(recs)
            k = len(recs) if depth is None else min(depth, len(recs))
            span.append((qid, recs, k))
            pending += k
            if pending >= self.group_pairs or n == len(run):
                if not all(q in skip for q, _, _ in span):
                    yield span
                span, pending = [], 0

    def _build_group(self, span: Sequence[tuple[str, list[RunRecord], int]], topics: Mapping[str, str],
                     corpus: Mapping[str, Any], by_source: Mapping[str, Mapping[str, Mapping[str, float]]]
                     ) -> tuple[tuple[list[tuple[str, list[RunRecord], int]], list[list[str]]],
                                list[tuple[list[int], list[int]]]]:
        """The inputs of a group's queries, with the group's span and doc ids (all its assembly needs)."""
        inputs: list[tuple[list[int], list[int]]] = []
        doc_ids: list[list[str]] = []
        for qid, recs, k in span:
            cands, _, floors = self._query_candidates(qid, recs[:k], corpus, by_source)
            inputs += self.build_inputs(topics[qid], cands, qid, floors)
            doc_ids.append([c.doc_id for c in cands])
        return (list(span), doc_ids), inputs

    @staticmethod
    def _query_candidates(qid: str, recs: Sequence[RunRecord], corpus: Mapping[str, Any],
                          by_source: Mapping[str, Mapping[str, Mapping[str, float]]]
                          ) -> tuple[list[Candidate], list[Document | str], dict[str, float]]:
        """A query's candidates (text and raw scores), their documents, and each source's floor (the "min" policy).

        Raises:
            DataError: a doc id is not in the corpus.
        """
        cands: list[Candidate] = []
        docs: list[Document | str] = []
        for r in recs:
            doc = corpus.get(r.doc_id)
            if doc is None:
                raise DataError(f"run doc id {r.doc_id!r} (query {qid!r}) is not in the corpus")
            if isinstance(doc, Document):
                text = document_text(doc)
            else:
                doc = text = str(doc)
            scores = {s: by_source[s][qid][r.doc_id] for s in by_source if r.doc_id in by_source[s].get(qid, {})}
            cands.append(Candidate(r.doc_id, text, scores))
            docs.append(doc)
        floors = {s: min(by_source[s][qid].values()) for s in by_source if by_source[s].get(qid)}
        return cands, docs, floors

    @staticmethod
    def _assemble(span: Sequence[tuple[str, list[RunRecord], int]], doc_ids: Sequence[Sequence[str]],
                  logits: Sequence[float], skip: Collection[str]) -> Iterator[tuple[str, list[RunRecord]]]:
        """Yield each query of a scored group not in ``skip``: ranked by logit, the tail below (:func:`apply_depth`)."""
        at = 0
        for (qid, recs, k), ids in zip(span, doc_ids, strict=True):
            ranked = sort_hits(RunRecord(qid, d, s) for d, s in zip(ids, logits[at:at + len(ids)], strict=True))
            at += len(ids)
            if qid not in skip:
                yield qid, apply_depth(qid, ranked, recs[k:])

    def rerank_run(self, run: Mapping[str, Sequence[RunRecord]], topics: Mapping[str, str],
                   corpus: Mapping[str, Any], sources: Mapping[str, Any] | None = None,
                   depth: int | None = None) -> Run:
        """Re-rank a whole run, query by query.

        Args:
            run: ``{qid: records in first-stage order}`` (e.g. from :func:`~rerankinject.io.runs.read_run`).
            topics: ``{qid: query text}``; every run query must be there.
            corpus: ``{doc id: Document or text}``; every re-ranked doc must be there.
            sources: ``{source name: Run or {qid: {doc id: raw score}}}`` for the sources the recipe injects.
            depth: re-rank the top ``depth`` per query; the rest stay below in their original order.

        Raises:
            DataError: a required source is not given (naming ``--source NAME=RUN``), a query is not in the topics,
                a doc is not in the corpus, or a score is missing under ``missing="error"``.
        """
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        return dict(self.iter_rerank_run(run, topics, corpus, sources, depth))


    # --- long documents: passages ---------------------------------------------------------------------------
    def set_passages(self, mode: str | None, length: int = 150, stride: int = 75) -> ScoreInjectReranker:
        """Score long documents as passages (see :mod:`rerankinject.rerank.passages`); ``mode=None`` turns it off.

        Args:
            mode: ``firstp``, ``maxp`` or ``sump`` (the document's score is its first, best or summed passage
                logit), or None for one truncated input per document (the default).
            length: words per passage (> 0).
            stride: words between passage starts (0 < stride <= length).

        Every passage carries its document's injected first-stage score(s). Applies to :meth:`rerank_run`,
        :meth:`iter_rerank_run` and :meth:`rank` (not to :meth:`predict`, whose pairs are scored as given).

        Returns:
            The reranker itself.

        Raises:
            ValueError: an unknown mode, ``length <= 0``, ``stride <= 0`` or ``stride > length``.
        """
        self.passages = None if mode is None else PassageSpec(mode, length, stride)
        return self

    def _passage_inputs(self, query: str, candidates: Sequence[Candidate], docs: Sequence[Document | str],
                        query_id: str, floors: Mapping[str, float] | None = None,
                        scorers: Mapping[str, Scorer] | None = None
                        ) -> tuple[list[tuple[list[int], list[int]]], list[int]]:
        """The inputs of every passage of every candidate, and the number of passages of each candidate.

        Scores are filled, normalised and rendered per DOCUMENT (a per-query normaliser sees the query's
        documents), then repeated on each of its passages. A document without text is one empty passage.
        """
        spec = self.passages
        if spec is None:
            raise ValueError("no passage splitting set (call set_passages)")
        ids = [c.doc_id for c in candidates]
        if len(set(ids)) != len(ids):
            raise DataError(f"query {query_id!r}: a doc id appears twice among the candidates")
        raw = self._fill_scores(query, query_id, candidates, floors, scorers)
        rendered = self.recipe.render_query(raw, ids) if self.sources else [{} for _ in ids]
        texts: list[str] = []
        rends: list[Mapping[str, str]] = []
        counts: list[int] = []
        for doc, rend in zip(docs, rendered, strict=True):
            parts = document_passages(doc, spec) or [""]
            texts += parts
            rends += [rend] * len(parts)
            counts.append(len(parts))
        return self.model.builder.encode(query, texts, rends), counts

    @staticmethod
    def _passage_keys(candidates: Sequence[Candidate], counts: Sequence[int]) -> list[str]:
        return [f"{c.doc_id}#{i}" for c, n in zip(candidates, counts, strict=True) for i in range(n)]

    def _aggregate(self, logits: Sequence[float], counts: Sequence[int]) -> list[float]:
        """Per-document scores from the passage logits (in candidate order, ``counts`` passages each)."""
        assert self.passages is not None
        out, at = [], 0
        for n in counts:
            out.append(aggregate(logits[at:at + n], self.passages.mode))
            at += n
        return out

    def _rerank_group_passages(self, span: Sequence[tuple[str, list[RunRecord], int]], skip: Collection[str],
                               topics: Mapping[str, str], corpus: Mapping[str, Any],
                               by_source: Mapping[str, Mapping[str, Mapping[str, float]]]
                               ) -> Iterator[tuple[str, list[RunRecord]]]:
        """Re-rank one group with passages: the passages of all the group's documents in one predict call."""
        built = []
        for qid, recs, k in span:
            cands, docs, floors = self._query_candidates(qid, recs[:k], corpus, by_source)
            inputs, counts = self._passage_inputs(topics[qid], cands, docs, qid, floors) if cands else ([], [])
            built.append((cands, inputs, counts))
        logits = self.model.predict([x for _, inputs, _ in built for x in inputs], batch_size=self.batch_size,
                                    groups=[self._passage_keys(c, n) for c, _, n in built])
        doc_scores = self._aggregate(logits, [n for _, _, counts in built for n in counts])  # one per document
        yield from self._assemble(span, [[c.doc_id for c in cands] for cands, _, _ in built], doc_scores, skip)

    # --- text API (sentence-transformers style) -------------------------------------------------------------
    def _require_scores(self, scores: Sequence[Mapping[str, float]], what: str) -> None:
        """Every injected source in every item (the text API without doc ids has no scorer or policy to fall back on).

        Raises:
            DataError: naming the first item without a score and the sources the checkpoint injects.
        """
        for i, sc in enumerate(scores):
            for s in self.sources:
                if sc.get(s) is None:
                    raise DataError(
                        f"{what} {i} has no {s!r} score, but the checkpoint {self.model.model_dir} injects "
                        f"{', '.join(self.sources)} (recipe {self.recipe.variant}): give the raw first-stage "
                        f"scores, e.g. {{{', '.join(repr(x) + ': 17.2' for x in self.sources)}}}")

    def predict(self, pairs: Sequence[Sequence[Any]], batch_size: int | None = None,
                show_progress_bar: bool = False) -> list[float]:
        """Raw logits of text pairs, like sentence-transformers' ``CrossEncoder.predict``, with injected scores.

        Args:
            pairs: ``(query, passage)`` (CAT checkpoints) or ``(query, passage, {source: raw score})`` items, e.g.
                ``("do fleas carry disease", "Fleas can transmit plague.", {"bm25": 17.2, "dpr": 0.71})``.
                Raw first-stage scores: the checkpoint's recipe normalises and renders them. A per-query
                normaliser (``minmax-query``, ...) sees the scores of all pairs with the same query text.
            batch_size: pairs per forward pass (default: the reranker's); pairs are length-sorted into batches.
            show_progress_bar: a tqdm bar over batches.

        Returns:
            One raw logit per pair, in input order (pairs are scored as given: no passage splitting).

        Raises:
            DataError: a pair lacks a score from a source the checkpoint injects, or a score is not finite.
            ValueError: a malformed pair or ``batch_size < 1``.
        """
        items: list[tuple[str, str, dict[str, float]]] = []
        for i, p in enumerate(pairs):
            if isinstance(p, str | bytes) or len(p) not in (2, 3):
                raise ValueError(f"pair {i}: expected (query, passage) or (query, passage, scores), got {p!r:.80}")
            items.append((str(p[0]), str(p[1]), dict(p[2] or {}) if len(p) == 3 else {}))
        self._require_scores([sc for _, _, sc in items], "pair")
        by_query: dict[str, list[int]] = {}
        for i, (q, _, _) in enumerate(items):
            by_query.setdefault(q, []).append(i)
        order: list[int] = []
        inputs: list[tuple[list[int], list[int]]] = []
        groups: list[list[str]] = []
        for q, idx in by_query.items():
            cands = [Candidate(f"#{i}", items[i][1], items[i][2]) for i in idx]
            inputs += self.build_inputs(q, cands, query_id=f"pairs of query {q[:40]!r}", scorers={})
            groups.append([c.doc_id for c in cands])
            order += idx
        logits = self.model.predict(inputs, batch_size=batch_size or self.batch_size, progress=show_progress_bar,
                                    groups=groups)
        out = [0.0] * len(items)
        for i, v in zip(order, logits, strict=True):
            out[i] = float(v)
        return out

    def rank(self, query: str, passages: Sequence[str],
             scores: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]] | None = None,
             top_k: int | None = None, corpus_ids: Sequence[str] | None = None,
             batch_size: int | None = None) -> list[RankedPassage]:
        """Rank passages (or documents) for one query, like sentence-transformers' ``CrossEncoder.rank``.

        Args:
            query: the query text.
            passages: the texts to rank.
            scores: the raw first-stage scores, as ``{source: [one score per passage]}`` or as one
                ``{source: score}`` per passage; may be None for a CAT checkpoint.
            top_k: return only the best ``top_k`` (default all).
            corpus_ids: the passages' ids (unique). With ids, a missing score follows the run path's rules
                (the reranker's scorers, then its ``missing`` policy); without them every score is required.
            batch_size: pairs per forward pass (default: the reranker's).

        Returns:
            :class:`RankedPassage` (index, raw logit, corpus id) best first; ties keep the input order. With
            :meth:`set_passages`, each text is split into passages that all carry its scores, and its score
            aggregates theirs.

        Raises:
            DataError: a missing score for a source the checkpoint injects, a non-finite score, repeated ids.
            ValueError: scores or ids not matching the passages, ``top_k < 1``.
        """
        n = len(passages)
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        per: list[dict[str, float]]
        if scores is None:
            per = [{} for _ in range(n)]
        elif isinstance(scores, Mapping):
            per = [{} for _ in range(n)]
            for s, vals in scores.items():
                if isinstance(vals, str | bytes) or not isinstance(vals, Sequence) or len(vals) != n:
                    raise ValueError(f"scores[{s!r}] must give one score per passage ({n}), got {vals!r:.80}")
                for d, v in zip(per, vals, strict=True):
                    if v is not None:
                        d[s] = float(v)
        else:
            if len(scores) != n:
                raise ValueError(f"scores has {len(scores)} entries for {n} passages")
            per = [dict(sc or {}) for sc in scores]
        if corpus_ids is None:
            self._require_scores(per, "passage")
            ids = [f"#{i}" for i in range(n)]
            extra: Mapping[str, Scorer] | None = {}
        else:
            ids = [str(d) for d in corpus_ids]
            if len(ids) != n:
                raise ValueError(f"corpus_ids has {len(ids)} entries for {n} passages")
            if len(set(ids)) != n:
                raise DataError("corpus_ids repeat: each passage needs its own id")
            extra = None
        if not n:
            return []
        cands = [Candidate(d, str(t), sc) for d, t, sc in zip(ids, passages, per, strict=True)]
        bs = batch_size or self.batch_size
        if self.passages is None:
            logits = self.model.predict(self.build_inputs(query, cands, scorers=extra), batch_size=bs, groups=[ids])
        else:
            inputs, counts = self._passage_inputs(query, cands, [str(t) for t in passages], "q", scorers=extra)
            logits = self._aggregate(self.model.predict(inputs, batch_size=bs,
                                                        groups=[self._passage_keys(cands, counts)]), counts)
        order = sorted(range(n), key=lambda i: (-logits[i], i))[:top_k]
        return [RankedPassage(i, float(logits[i]), None if corpus_ids is None else ids[i]) for i in order]


def _as_score_dict(src: Any, name: str) -> dict[str, dict[str, float]]:
    """``{qid: {doc: score}}`` from a Run or such a dict."""
    if not isinstance(src, Mapping):
        raise ValueError(f"source {name!r} must be a Run or {{qid: {{doc id: score}}}}, got {type(src).__name__}")
    out: dict[str, dict[str, float]] = {}
    for qid, val in src.items():
        if isinstance(val, Mapping):
            out[str(qid)] = {str(d): float(s) for d, s in val.items()}
        else:
            out[str(qid)] = {r.doc_id: float(r.score) for r in val}
    return out
