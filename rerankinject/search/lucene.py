"""BM25 first stage on Pyserini/Anserini.

:class:`BM25Searcher` has Pyserini's searcher shape (``search(query, k)`` and ``batch_search(queries, qids, k,
threads)`` return Pyserini hits with ``docid`` and ``score``) and exposes the wrapped
``pyserini.search.lucene.LuceneSearcher`` as ``.searcher``. It adds what re-ranking needs: runs as
:class:`~rerankinject.io.runs.RunRecord` lists and the exact BM25 score of any indexed document for a query
(:meth:`BM25Searcher.score`), the same number Lucene's search would give it.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tqdm.auto import tqdm

from ..errors import DataError
from ..index.lucene import _check_index_dir, read_index_meta
from ..io.runs import Run, RunRecord, rescore_run, sort_hits
from ..jvm import start_jvm

__all__ = ["DEFAULT_K1", "DEFAULT_B", "anserini_round", "BM25Searcher"]

DEFAULT_K1 = 0.9
DEFAULT_B = 0.4

logger = logging.getLogger(__name__)



def anserini_round(score: float) -> float:
    """Round a score as Anserini's searcher does before returning hits: 4 decimals, stored as a float32.

    With this, a recomputed per-document score equals the score the same document gets from ``search``.
    """
    return float(struct.unpack("f", struct.pack("f", round(score, 4)))[0])


class BM25Searcher:
    """BM25 over a Lucene index, with Pyserini's searcher interface.

    Args:
        index_dir: a Lucene index built by :func:`build_lucene_index` (or by Pyserini/Anserini).
        k1: BM25 k1 (Anserini default 0.9).
        b: BM25 b (Anserini default 0.4).

    """

    def __init__(self, index_dir: str | os.PathLike, k1: float = DEFAULT_K1, b: float = DEFAULT_B):
        if not (k1 >= 0 and 0 <= b <= 1):
            raise ValueError(f"BM25 parameters out of range: k1={k1} (expected >= 0), b={b} (expected in [0, 1])")
        self.index_dir = _check_index_dir(index_dir)
        self.removed_hits = 0  # hits dropped by remove_query so far (the CLI reports them)
        start_jvm()
        from pyserini.index.lucene import LuceneIndexReader
        from pyserini.search.lucene import LuceneSearcher

        self.k1, self.b = float(k1), float(b)
        self.searcher = LuceneSearcher(str(self.index_dir))
        self.searcher.set_bm25(self.k1, self.b)
        self.reader = LuceneIndexReader(str(self.index_dir))
        self._similarity = None
        self.empty_docs = frozenset(read_index_meta(self.index_dir).get("empty_documents", ()))
        """Documents of the collection with no text, which Anserini did not index: BM25 scores them 0.0."""

    @property
    def num_docs(self) -> int:
        """Number of documents in the index."""
        return int(self.searcher.num_docs)

    def search(self, query: str, k: int = 10, remove_query_id: str | None = None) -> list[Any]:
        """Top-``k`` Pyserini hits (``.docid``, ``.score``) for one query, as ``LuceneSearcher.search``."""
        hits = self.searcher.search(query, k=k + (1 if remove_query_id else 0))
        if remove_query_id:
            hits = [h for h in hits if h.docid != remove_query_id][:k]
        return hits

    def batch_search(self, queries: Sequence[str], qids: Sequence[str], k: int = 10,
                     threads: int = 1) -> dict[str, list[Any]]:
        """``{qid: hits}`` for many queries, searched in parallel threads by Anserini."""
        return self.searcher.batch_search(list(queries), [str(q) for q in qids], k=k, threads=threads)

    def search_run(self, topics: Mapping[str, str], k: int = 1000, threads: int = 1, batch_size: int = 64,
                   remove_query: bool = False, progress: bool = True) -> Run:
        """Search every topic and return a ranked :data:`Run` with raw BM25 scores.

        Args:
            topics: ``{qid: query text}``.
            k: hits per query.
            threads: Anserini search threads.
            batch_size: queries per batch_search call (controls progress granularity).
            remove_query: drop a hit whose doc id equals the query id (Pyserini's ``--remove-query``, used for
                BEIR, where a query is also a corpus document). Risky where query and doc ids merely look alike
                (small integers): a relevant document can be dropped. Counted in ``removed_hits``.
            progress: show a tqdm bar.

        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        qids = list(topics)
        run: Run = {}
        extra = 1 if remove_query else 0
        with tqdm(total=len(qids), desc="bm25", unit="q", disable=not progress, mininterval=2) as bar:
            for i in range(0, len(qids), batch_size):
                chunk = qids[i:i + batch_size]
                results = self.batch_search([topics[q] for q in chunk], chunk, k=k + extra, threads=threads)
                for qid in chunk:
                    hits = results.get(qid, [])
                    recs = [RunRecord(qid, h.docid, float(h.score)) for h in hits
                            if not (remove_query and h.docid == qid)]
                    self.removed_hits += len(hits) - len(recs)
                    run[qid] = sort_hits(recs)[:k]
                bar.update(len(chunk))
        return run

    def has_doc(self, doc_id: str) -> bool:
        """Whether ``doc_id`` is in the index."""
        try:
            internal = self.reader.convert_collection_docid_to_internal_docid(doc_id)
        except Exception:
            return False
        return internal is not None and int(internal) >= 0

    def score(self, query: str, doc_id: str) -> float:
        """The exact BM25 score of one indexed document for ``query`` (0.0 when no query term matches).

        Computed by Lucene's per-document scoring with the searcher's BM25 parameters and rounded as Anserini
        rounds search scores (:func:`anserini_round`), so it equals the score ``search`` gives the document.

        A document of the collection with no text (not indexed, see :attr:`empty_docs`) scores 0.0.

        Raises:
            DataError: ``doc_id`` is not in the index.

        """
        if self._similarity is None:
            from jnius import autoclass

            self._similarity = autoclass("org.apache.lucene.search.similarities.BM25Similarity")(self.k1, self.b)
        if not self.has_doc(doc_id):
            if doc_id in self.empty_docs:
                return 0.0
            raise DataError(f"doc id {doc_id!r} is not in the Lucene index {self.index_dir}")
        s = float(self.reader.compute_query_document_score(doc_id, query, similarity=self._similarity))
        if not math.isfinite(s):
            raise RuntimeError(f"Lucene returned a non-finite BM25 score for doc {doc_id!r}")
        return anserini_round(s)

    def score_many(self, query: str, doc_ids: Iterable[str]) -> dict[str, float]:
        """Exact BM25 scores of several indexed documents for ``query``, from ONE Lucene search restricted to them.

        The query is built as :meth:`search` builds it (the searcher's query generator and analyzer on the
        ``contents`` field) and combined with a non-scoring filter on the ``id`` field, so each score is the one a
        full-depth search gives the document (Anserini's 4-decimal rounding included; Anserini's 1e-6 tie-breaking
        decrement depends on the documents returned). A document that matches no query term scores 0.0. Far faster
        than one :meth:`score` call per document.

        Raises:
            DataError: a doc id is not in the index.
        """
        doc_ids = list(dict.fromkeys(doc_ids))
        if not doc_ids:
            return {}
        from jnius import autoclass

        obj = self.searcher.object
        builder = autoclass("org.apache.lucene.search.BooleanQuery$Builder")()
        occur = autoclass("org.apache.lucene.search.BooleanClause$Occur")
        bytes_ref = autoclass("org.apache.lucene.util.BytesRef")
        terms = autoclass("java.util.ArrayList")()
        for d in doc_ids:
            terms.add(bytes_ref(d.encode("utf-8")))
        builder.add(obj.generator.buildQuery("contents", obj.analyzer, query), occur.MUST)
        builder.add(autoclass("org.apache.lucene.search.TermInSetQuery")("id", terms), occur.FILTER)
        hits = self.searcher.search(builder.build(), k=len(doc_ids))
        out = {h.docid: float(h.score) for h in hits}
        for d in doc_ids:
            if d not in out:
                if d not in self.empty_docs and not self.has_doc(d):
                    raise DataError(f"doc id {d!r} is not in the Lucene index {self.index_dir}")
                out[d] = 0.0
        return out

    def rescore_run(self, run: Mapping[str, Sequence[RunRecord]], topics: Mapping[str, str],
                    progress: bool = True) -> Run:
        """The same (query, doc) pairs as ``run``, each with its exact BM25 score from THIS index.

        Used when a model was trained with BM25 from this index and tests on candidates that another index (e.g.
        the full corpus) retrieved: both then see one score scale. Records come back sorted by the new score.

        Raises:
            DataError: a run query has no topic, or a doc is not in this index.
        """
        return rescore_run(run, topics, self.score_many, "bm25 rescore", progress)

    def close(self) -> None:
        """Release the Lucene searcher."""
        self.searcher.close()
