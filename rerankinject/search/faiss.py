"""Dense first stage: :class:`DenseSearcher` over an index of :func:`rerankinject.index.build_dense_index`.

It has Pyserini's searcher shape (``search``, ``batch_search``, wrapping ``pyserini.search.faiss.FaissSearcher``)
plus :meth:`~DenseSearcher.search_run` and the exact score of any indexed document (:meth:`~DenseSearcher.score`,
from its stored vector).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..encode.encoder import _dense_query_encoder_class, load_encoder_settings
from ..errors import DataError
from ..io.runs import Run, RunRecord, rescore_run, sort_hits

__all__ = ["DenseSearcher"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# search


def _read_docids(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"dense index has no doc id list: {path}")
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def _faiss_searcher_class() -> type:
    from ..jvm import start_jvm

    start_jvm()  # pyserini.search.faiss imports pyserini.search.lucene
    from pyserini.search.faiss import FaissSearcher

    class _CheckedFaissSearcher(FaissSearcher):
        """``FaissSearcher`` whose index loading refuses a doc id list that does not match the index."""

        def load_index(self, index_dir: str):  # noqa: D102
            import faiss

            path = Path(index_dir) / "index"
            if not path.is_file():
                raise DataError(f"dense index has no faiss index file: {path}")
            index = faiss.read_index(str(path))
            docids = _read_docids(Path(index_dir) / "docid")
            if len(docids) != index.ntotal:
                raise DataError(f"doc id list {Path(index_dir) / 'docid'} has {len(docids)} ids but the faiss index "
                                f"holds {index.ntotal} vectors; the index folder is inconsistent (rebuild it)")
            return index, docids

    return _CheckedFaissSearcher


class DenseSearcher:
    """Dense retrieval over an index from :func:`build_dense_index`, with Pyserini's searcher interface.

    ``search``/``batch_search`` return Pyserini ``DenseSearchResult`` hits (``.docid``, ``.score``) from the
    wrapped ``pyserini.search.faiss.FaissSearcher`` (``.searcher``), whose query encoder is a
    :class:`DenseQueryEncoder` rebuilt from the index's ``encoder.json``.

    Args:
        index_dir: the dense index folder.
        model_path: override the stored encoder folder (same architecture/dimension expected).
        device: torch device for the query encoder.
        batch_size: queries per forward pass.
        query_encoder: use this query encoder instead of rebuilding one.

    Raises:
        DataError: missing/inconsistent index files, or a query encoder whose dimension differs from the index.

    """

    def __init__(self, index_dir: str | os.PathLike, model_path: str | os.PathLike | None = None,
                 device: str | None = None, batch_size: int = 32, query_encoder: Any | None = None):
        self.index_dir = Path(index_dir)
        self.removed_hits = 0  # hits dropped by remove_query so far (the CLI reports them)
        if not self.index_dir.is_dir():
            raise DataError(f"dense index not found: {self.index_dir} (build it with `python -m rerankinject.index "
                            f"dense`)")
        self.settings = load_encoder_settings(self.index_dir)
        searcher_cls = _faiss_searcher_class()
        if query_encoder is None:
            query_encoder = _dense_query_encoder_class().from_index(self.index_dir, model_path=model_path,
                                                                    device=device,
                                                         batch_size=batch_size)
        self.query_encoder = query_encoder
        self.searcher = searcher_cls(str(self.index_dir), query_encoder)
        enc_dim = getattr(query_encoder, "dim", None)
        if enc_dim is not None and enc_dim != self.searcher.dimension:
            raise DataError(f"query encoder dimension {enc_dim} differs from the index dimension "
                            f"{self.searcher.dimension} ({self.index_dir}); use the encoder the index was built with")
        self.docids: list[str] = self.searcher.docids
        self._row = {d: i for i, d in enumerate(self.docids)}

    @property
    def num_docs(self) -> int:
        """Number of indexed documents."""
        return int(self.searcher.num_docs)

    def set_hnsw_ef_search(self, ef_search: int) -> None:
        """HNSW search beam width (only for HNSW indexes)."""
        self.searcher.set_hnsw_ef_search(ef_search)

    def search(self, query: str, k: int = 10, threads: int = 1) -> list[Any]:
        """Top-``k`` hits for one query, as ``FaissSearcher.search``."""
        return self.searcher.search(query, k=k, threads=threads)

    def batch_search(self, queries: Sequence[str], qids: Sequence[str], k: int = 10,
                     threads: int = 1) -> dict[str, list[Any]]:
        """``{qid: hits}`` for many queries, as ``FaissSearcher.batch_search`` (queries encoded in batches)."""
        return self.searcher.batch_search(list(queries), [str(q) for q in qids], k=k, threads=threads)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query embeddings ``(n, dim)`` float32 (the vectors :meth:`search_vectors` takes)."""
        if hasattr(self.query_encoder, "encode_batch"):
            q = np.asarray(self.query_encoder.encode_batch(list(queries)), dtype=np.float32)
        else:
            q = np.stack([np.asarray(self.query_encoder.encode(t), dtype=np.float32) for t in queries])
        if q.ndim != 2 or q.shape[1] != self.searcher.dimension:
            raise DataError(f"query encoder returned shape {q.shape}, index dimension is {self.searcher.dimension}")
        return q

    def search_vectors(self, q_embs: np.ndarray, k: int, threads: int = 1) -> list[list[tuple[str, float]]]:
        """``[(doc id, score), ...]`` top-``k`` per query vector (faiss inner product)."""
        import faiss

        faiss.omp_set_num_threads(threads)
        D, I = self.searcher.index.search(np.ascontiguousarray(q_embs, dtype=np.float32), k)  # noqa: E741
        return [[(self.docids[i], float(s)) for s, i in zip(drow, irow, strict=True) if i != -1]
                for drow, irow in zip(D, I, strict=True)]

    def has_doc(self, doc_id: str) -> bool:
        """Whether ``doc_id`` is in the index."""
        return doc_id in self._row

    def doc_vectors(self, doc_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of some documents ``(n, dim)`` (faiss ``reconstruct``).

        Raises:
            DataError: a doc id is not in the index.

        """
        rows = []
        for d in doc_ids:
            if d not in self._row:
                raise DataError(f"doc id {d!r} is not in the dense index {self.index_dir}")
            rows.append(self._row[d])
        if not rows:
            return np.zeros((0, self.searcher.dimension), dtype=np.float32)
        return np.stack([self.searcher.index.reconstruct(r) for r in rows]).astype(np.float32)

    def score_vector(self, q_emb: np.ndarray, doc_ids: Sequence[str]) -> dict[str, float]:
        """Exact inner products of one query vector with the stored vectors of ``doc_ids``."""
        vecs = self.doc_vectors(doc_ids)
        scores = vecs @ np.asarray(q_emb, dtype=np.float32).reshape(-1)
        return {d: float(s) for d, s in zip(doc_ids, scores, strict=True)}

    def score(self, query: str, doc_id: str) -> float:
        """The exact dense score (inner product with the stored vector) of one indexed document for ``query``."""
        return self.score_many(query, [doc_id])[doc_id]

    def score_many(self, query: str, doc_ids: Iterable[str]) -> dict[str, float]:
        """Exact dense scores of several indexed documents for one query."""
        return self.score_vector(self.encode_queries([query])[0], list(doc_ids))

    def rescore_run(self, run: Mapping[str, Sequence[RunRecord]], topics: Mapping[str, str],
                    progress: bool = True) -> Run:
        """The same (query, doc) pairs as ``run``, each with its exact dense score (inner product) from THIS index.

        E.g. the dense score of every BM25 candidate: the DPR source of DPRCAT, or a dense re-ranking of BM25's
        candidates. Records come back sorted by the new score.

        Raises:
            DataError: a run query has no topic, or a doc is not in this index.
        """
        return rescore_run(run, topics, self.score_many, "dense rescore", progress)

    def search_run(self, topics: Mapping[str, str], k: int = 1000, threads: int = 1, batch_size: int = 256,
                   remove_query: bool = False, progress: bool = True) -> Run:
        """Search every topic and return a ranked :data:`Run` with raw inner-product scores.

        Args:
            topics: ``{qid: query text}``.
            k: hits per query.
            threads: faiss threads.
            batch_size: queries encoded and searched per step.
            remove_query: drop a hit whose doc id equals the query id (BEIR convention; counted in
                ``removed_hits``).
            progress: show a tqdm bar.

        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        qids = list(topics)
        extra = 1 if remove_query else 0
        run: Run = {}
        with tqdm(total=len(qids), desc="dense", unit="q", disable=not progress, mininterval=2) as bar:
            for i in range(0, len(qids), batch_size):
                chunk = qids[i:i + batch_size]
                hits = self.search_vectors(self.encode_queries([topics[q] for q in chunk]),
                                           min(k + extra, self.num_docs), threads=threads)
                for qid, row in zip(chunk, hits, strict=True):
                    recs = [RunRecord(qid, d, s) for d, s in row if not (remove_query and d == qid)]
                    self.removed_hits += len(row) - len(recs)
                    run[qid] = sort_hits(recs)[:k]
                bar.update(len(chunk))
        return run
