"""Hybrid BM25 + dense first stage that keeps every raw score.

Each retriever returns its top ``depth`` documents; the candidates of a query are the union of the two lists. A
candidate missing from one list gets its EXACT score from that retriever: BM25 from one Lucene search filtered
to the missing documents (:meth:`~rerankinject.search.lucene.BM25Searcher.score_many`, the numbers a full-depth search
gives), dense as the inner product with its stored vector
(:meth:`~rerankinject.search.faiss.DenseSearcher.score_vector`). So every candidate carries both raw scores. With
``min_fill=True`` the fusion instead uses Pyserini's fill (the list's minimum score) for the missing side; the
per-retriever runs still carry the exact raw scores.

Fusions (pure functions, usable on any ``{doc id: score}`` maps):

* ``interpolate``: ``alpha * norm(bm25) + (1 - alpha) * norm(dense)``; ``alpha`` is the weight of BM25 and
  ``norm`` is a per-query kind (``raw``, ``minmax-query``, ``zscore-query``; :mod:`rerankinject.injection.normalize`)
  computed over the query's candidates.
* ``rrf``: reciprocal rank fusion ``sum 1 / (rrf_k + rank)``, ranks within each retriever (over all candidates with
  exact fill; over its own list with ``min_fill``, where a missing document contributes nothing).
* ``pyserini``: ``pyserini.search.hybrid.HybridSearcher``'s formula: ``alpha * sparse + dense`` (or
  ``sparse + alpha * dense`` with ``weight_on_dense``), with its optional centred min-max normalisation whose
  minimum and maximum come from each retriever's own hit list. With ``min_fill=True`` it reproduces HybridSearcher.

:class:`HybridRetriever` returns a :class:`HybridResult`: the fused run and one run per retriever over exactly the
same candidates (the fused top ``k``), all with raw scores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tqdm.auto import tqdm

from ..injection.normalize import PER_QUERY_KINDS, normalize_query_scores, pyserini_normalize
from ..io.runs import Run, RunRecord, sort_hits

__all__ = [
    "FUSIONS",
    "HybridResult",
    "HybridRetriever",
    "interpolate_scores",
    "rrf",
    "pyserini_fuse",
    "fuse_query",
    "fuse_runs",
    "retriever_run_paths",
]

logger = logging.getLogger(__name__)

FUSIONS = ("interpolate", "rrf", "pyserini")
DEFAULT_RRF_K = 60


def _check_normalization(normalization: str) -> None:
    if normalization not in PER_QUERY_KINDS:
        raise ValueError(f"unknown normalization {normalization!r} (expected a per-query kind: "
                         f"{', '.join(PER_QUERY_KINDS)})")


def _check_alpha(alpha: float) -> None:
    if not (alpha == alpha) or alpha in (float("inf"), float("-inf")):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")


def interpolate_scores(bm25: Mapping[str, float], dense: Mapping[str, float], alpha: float,
                normalization: str = "minmax-query") -> dict[str, float]:
    """``alpha * norm(bm25) + (1 - alpha) * norm(dense)`` over the same documents.

    Args:
        bm25: ``{doc id: BM25 score}`` for every candidate.
        dense: ``{doc id: dense score}`` for the same candidates.
        alpha: weight of BM25 (0 = dense only, 1 = BM25 only).
        normalization: a per-query kind of :class:`~rerankinject.injection.normalize.Normalizer` (``raw``,
            ``minmax-query``, ``zscore-query``, ``sum``) over these candidates.

    Raises:
        ValueError: the two maps cover different documents, or a bad alpha/normalization.

    """
    _check_alpha(alpha)
    if bm25.keys() != dense.keys():
        only = sorted(set(bm25) ^ set(dense))
        raise ValueError(f"interpolation needs both scores for every candidate; {len(only)} doc(s) have only one, "
                         f"e.g. {only[:3]}")
    nb, nd = normalize_query_scores(bm25, normalization), normalize_query_scores(dense, normalization)
    return {d: alpha * nb[d] + (1.0 - alpha) * nd[d] for d in nb}


def _ranks(scores: Mapping[str, float]) -> dict[str, int]:
    ordered = sorted(scores, key=lambda d: (-scores[d], d))
    return {d: r for r, d in enumerate(ordered, 1)}


def rrf(rankings: Sequence[Mapping[str, float]], k: int = DEFAULT_RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: ``sum over rankings of 1 / (k + rank)``; a document absent from a ranking adds 0.

    Ranks are 1-based, by descending score with ties broken by doc id.
    """
    if k < 0:
        raise ValueError(f"rrf k must be >= 0, got {k}")
    fused: dict[str, float] = {}
    for scores in rankings:
        for d, r in _ranks(scores).items():
            fused[d] = fused.get(d, 0.0) + 1.0 / (k + r)
    return fused


def pyserini_fuse(dense_hits: Mapping[str, Any], sparse_hits: Mapping[str, Any], alpha: float,
                  normalization: bool = False, weight_on_dense: bool = False,
                  dense_fill: Mapping[str, Any] | None = None,
                  sparse_fill: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``HybridSearcher._hybrid_results`` of Pyserini 1.6.0 (before its sort and cut), optionally with exact fill.

    Args:
        dense_hits: the dense retriever's hit list ``{doc id: score}``.
        sparse_hits: the sparse retriever's hit list.
        alpha: Pyserini's weight: ``alpha * sparse + dense`` (``sparse + alpha * dense`` with ``weight_on_dense``).
        normalization: Pyserini's centred min-max, with min and max of each retriever's own hit list.
        weight_on_dense: put ``alpha`` on the dense score.
        dense_fill: exact dense scores of the documents missing from ``dense_hits`` (default: the list minimum,
            as Pyserini).
        sparse_fill: exact sparse scores of the documents missing from ``sparse_hits`` (default: the list minimum).

    Returns:
        ``{doc id: fused score}`` for the union of both lists (the scores keep the input number types, so
        float32 inputs give Pyserini's float32 arithmetic).

    """
    _check_alpha(alpha)
    min_dense = min(dense_hits.values()) if dense_hits else 0
    max_dense = max(dense_hits.values()) if dense_hits else 1
    min_sparse = min(sparse_hits.values()) if sparse_hits else 0
    max_sparse = max(sparse_hits.values()) if sparse_hits else 1
    fused: dict[str, Any] = {}
    for doc in set(dense_hits) | set(sparse_hits):
        if doc in dense_hits:
            dense_score = dense_hits[doc]
        else:
            dense_score = dense_fill[doc] if dense_fill is not None else min_dense
        if doc in sparse_hits:
            sparse_score = sparse_hits[doc]
        else:
            sparse_score = sparse_fill[doc] if sparse_fill is not None else min_sparse
        if normalization:
            sparse_score = pyserini_normalize(sparse_score, min_sparse, max_sparse)
            dense_score = pyserini_normalize(dense_score, min_dense, max_dense)
        fused[doc] = alpha * sparse_score + dense_score if not weight_on_dense else sparse_score + alpha * dense_score
    return fused


def fuse_query(bm25_hits: Mapping[str, float], dense_hits: Mapping[str, float],
               bm25_exact: Mapping[str, float] | None = None, dense_exact: Mapping[str, float] | None = None,
               fusion: str = "interpolate", alpha: float = 0.5, normalization: str = "minmax-query",
               rrf_k: int = DEFAULT_RRF_K, weight_on_dense: bool = False) -> dict[str, float]:
    """Fuse one query's two hit lists into ``{doc id: fused score}`` over their union.

    Args:
        bm25_hits: BM25's top list ``{doc id: score}``.
        dense_hits: the dense retriever's top list.
        bm25_exact: exact BM25 scores of (at least) the union's documents missing from ``bm25_hits``; ``None``
            means Pyserini's min-fill (the list minimum).
        dense_exact: likewise for the dense side.
        fusion: ``interpolate``, ``rrf`` or ``pyserini`` (see the module documentation).
        alpha: BM25 weight for ``interpolate``; Pyserini's alpha for ``pyserini``.
        normalization: for ``interpolate``: ``raw``/``minmax-query``/``zscore-query``/``sum``; for ``pyserini``:
            anything but ``raw`` turns on Pyserini's own normalisation; ignored by ``rrf``.
        rrf_k: the RRF constant.
        weight_on_dense: ``pyserini`` only: put ``alpha`` on the dense score.

    """
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r} (expected one of {', '.join(FUSIONS)})")
    _check_normalization(normalization)
    if fusion == "pyserini":
        return pyserini_fuse(dense_hits, bm25_hits, alpha, normalization=normalization != "raw",
                             weight_on_dense=weight_on_dense, dense_fill=dense_exact, sparse_fill=bm25_exact)
    candidates = set(bm25_hits) | set(dense_hits)
    if fusion == "rrf" and bm25_exact is None and dense_exact is None:
        return rrf([bm25_hits, dense_hits], k=rrf_k)

    def complete(hits: Mapping[str, float], exact: Mapping[str, float] | None) -> dict[str, float]:
        lo = min(hits.values()) if hits else 0.0
        return {d: float(hits[d]) if d in hits else float(exact[d] if exact is not None else lo) for d in candidates}

    bm25_all, dense_all = complete(bm25_hits, bm25_exact), complete(dense_hits, dense_exact)
    if fusion == "rrf":
        return rrf([bm25_all if bm25_exact is not None else bm25_hits,
                    dense_all if dense_exact is not None else dense_hits], k=rrf_k)
    return interpolate_scores(bm25_all, dense_all, alpha, normalization)


def fuse_runs(bm25: Run, dense: Run, fusion: str = "interpolate", alpha: float = 0.5,
              normalization: str = "minmax-query", rrf_k: int = DEFAULT_RRF_K, weight_on_dense: bool = False,
              k: int | None = None) -> Run:
    """Fuse two runs that score the same candidates (e.g. the per-retriever runs of :class:`HybridResult`).

    Every candidate must have both scores (the exact-fill setting); with the per-retriever runs of a
    :meth:`HybridRetriever.search_runs` call made with ``k`` covering every candidate, this reproduces its fused run
    for any fusion/alpha/normalisation, which is how ``scripts/tune_hybrid.py`` sweeps alpha cheaply.
    """
    if set(bm25) != set(dense):
        raise ValueError(f"runs cover different queries ({len(set(bm25) ^ set(dense))} differ)")
    out: Run = {}
    for qid in bm25:
        b = {r.doc_id: r.score for r in bm25[qid]}
        d = {r.doc_id: r.score for r in dense[qid]}
        if b.keys() != d.keys():
            raise ValueError(f"query {qid!r}: the two runs score different candidates; fuse_runs needs both raw "
                             f"scores for every candidate")
        fused = fuse_query(b, d, b, d, fusion=fusion, alpha=alpha, normalization=normalization, rrf_k=rrf_k,
                           weight_on_dense=weight_on_dense)
        ranked = sort_hits(RunRecord(qid, doc, float(s)) for doc, s in fused.items())
        out[qid] = ranked[:k] if k is not None else ranked
    return out


class HybridResult(NamedTuple):
    """The fused run and the two per-retriever runs over the same candidates, all with raw scores."""

    fused: Run
    bm25: Run
    dense: Run


def retriever_run_paths(output: str | os.PathLike) -> tuple[Path, Path]:
    """Where the per-retriever runs of a hybrid run go: ``.bm25`` / ``.dense`` inserted before the extension.

    ``runs/scifact.hybrid.trec`` -> ``runs/scifact.hybrid.bm25.trec`` and ``runs/scifact.hybrid.dense.trec``; a
    ``.gz`` ending is kept (``x.trec.gz`` -> ``x.bm25.trec.gz``); a name without extension gets the suffix appended
    (``runs/x`` -> ``runs/x.bm25``).
    """
    p = Path(output)
    name = p.name
    gz = ".gz" if name.endswith(".gz") else ""
    base = name[:-3] if gz else name
    stem, ext = os.path.splitext(base)
    return (p.with_name(f"{stem}.bm25{ext}{gz}"), p.with_name(f"{stem}.dense{ext}{gz}"))


class HybridRetriever:
    """BM25 + dense first stage with exact scores for every candidate.

    Args:
        bm25: a :class:`~rerankinject.search.lucene.BM25Searcher`.
        dense: a :class:`~rerankinject.search.faiss.DenseSearcher`.

    """

    def __init__(self, bm25: Any, dense: Any):
        self.bm25 = bm25
        self.removed_hits = 0  # dense hits dropped by remove_query here (BM25's are counted by the BM25 searcher)
        self.dense = dense

    def search_runs(self, topics: Mapping[str, str], k: int = 1000, depth: int | None = None,
                    fusion: str = "interpolate", alpha: float = 0.5, normalization: str = "minmax-query",
                    rrf_k: int = DEFAULT_RRF_K, min_fill: bool = False, weight_on_dense: bool = False,
                    remove_query: bool = False, threads: int = 1, batch_size: int = 64,
                    progress: bool = True) -> HybridResult:
        """Search every topic with both retrievers, fuse, and return the fused and per-retriever runs.

        Args:
            topics: ``{qid: query text}``.
            k: fused hits kept per query (the per-retriever runs hold the same documents).
            depth: hits taken from each retriever (default ``k``).
            fusion: ``interpolate``, ``rrf`` or ``pyserini``.
            alpha: see :func:`fuse_query`.
            normalization: see :func:`fuse_query`.
            rrf_k: RRF constant.
            min_fill: fuse with Pyserini's min-fill instead of exact scores (the per-retriever runs stay exact).
            weight_on_dense: ``pyserini`` fusion only.
            remove_query: drop a doc whose id equals the query id from both lists (BEIR convention).
            threads: search threads (Lucene and faiss).
            batch_size: queries per dense encoding/search batch.
            progress: tqdm bars.

        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        depth = k if depth is None else depth
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r} (expected one of {', '.join(FUSIONS)})")
        _check_normalization(normalization)
        _check_alpha(alpha)
        qids = list(topics)
        bm25_run = self.bm25.search_run(topics, k=depth, threads=threads, remove_query=remove_query,
                                        progress=progress)
        extra = 1 if remove_query else 0
        fused_run: Run = {}
        bm25_out: Run = {}
        dense_out: Run = {}
        n_filled = [0, 0]
        with tqdm(total=len(qids), desc="hybrid", unit="q", disable=not progress, mininterval=2) as bar:
            for i in range(0, len(qids), batch_size):
                chunk = qids[i:i + batch_size]
                q_embs = self.dense.encode_queries([topics[q] for q in chunk])
                dense_lists = self.dense.search_vectors(q_embs, min(depth + extra, self.dense.num_docs),
                                                        threads=threads)
                for qid, q_emb, dlist in zip(chunk, q_embs, dense_lists, strict=True):
                    b_hits = {r.doc_id: r.score for r in bm25_run.get(qid, [])}
                    d_hits = {d: s for d, s in dlist if not (remove_query and d == qid)}
                    self.removed_hits += len(dlist) - len(d_hits)
                    if len(d_hits) > depth:
                        d_hits = dict(sorted(d_hits.items(), key=lambda x: (-x[1], x[0]))[:depth])
                    candidates = set(b_hits) | set(d_hits)
                    miss_b = sorted(candidates - set(b_hits))
                    miss_d = sorted(candidates - set(d_hits))
                    n_filled[0] += len(miss_b)
                    n_filled[1] += len(miss_d)
                    b_exact = self.bm25.score_many(topics[qid], miss_b)
                    d_exact = self.dense.score_vector(q_emb, miss_d)
                    fused = fuse_query(b_hits, d_hits, None if min_fill else b_exact, None if min_fill else d_exact,
                                       fusion=fusion, alpha=alpha, normalization=normalization, rrf_k=rrf_k,
                                       weight_on_dense=weight_on_dense)
                    top = sort_hits(RunRecord(qid, d, float(s)) for d, s in fused.items())[:k]
                    fused_run[qid] = top
                    b_all = {**b_hits, **b_exact}
                    d_all = {**d_hits, **d_exact}
                    bm25_out[qid] = sort_hits(RunRecord(qid, r.doc_id, float(b_all[r.doc_id])) for r in top)
                    dense_out[qid] = sort_hits(RunRecord(qid, r.doc_id, float(d_all[r.doc_id])) for r in top)
                bar.update(len(chunk))
        logger.info("hybrid: %d queries; exact scores computed for %d BM25-missing and %d dense-missing candidates",
                    len(qids), n_filled[0], n_filled[1])
        return HybridResult(fused_run, bm25_out, dense_out)
