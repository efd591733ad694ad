"""A collection with an empty document (Anserini does not index it) through hybrid search and exact re-scoring."""

from __future__ import annotations

import json
import os

import pytest

from rerankinject.errors import DataError
from rerankinject.io.runs import RunRecord
from tests._slices import first_docs

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def empty_doc_indexes(tmp_path_factory, data_root):
    from rerankinject.index.faiss import build_dense_index
    from rerankinject.index.lucene import build_lucene_index

    root = tmp_path_factory.mktemp("empty")
    docs = first_docs(data_root, 24)
    corpus = root / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for d in docs[:12]:
            fh.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
        fh.write(json.dumps({"_id": "empty-1", "title": "", "text": ""}) + "\n")
        for d in docs[12:]:
            fh.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    meta = build_lucene_index(corpus, root / "lucene")
    build_dense_index(corpus, root / "dense", normalize=True, progress=False)
    return root, meta, docs


def test_empty_document_is_recorded_and_scores_zero(empty_doc_indexes):
    from rerankinject.search.lucene import BM25Searcher

    root, meta, docs = empty_doc_indexes
    assert meta["empty_documents"] == ["empty-1"] and meta["documents"] == 25
    bm25 = BM25Searcher(root / "lucene")
    assert bm25.num_docs == 24  # Anserini skipped it
    assert not bm25.has_doc("empty-1")
    query = docs[0].title
    assert bm25.score(query, "empty-1") == 0.0
    scores = bm25.score_many(query, ["empty-1", docs[0].doc_id])
    assert scores["empty-1"] == 0.0 and scores[docs[0].doc_id] > 0
    with pytest.raises(DataError, match="'no-such-doc' is not in the Lucene index"):
        bm25.score_many(query, ["no-such-doc"])


def test_hybrid_search_and_rescoring_with_an_empty_document(empty_doc_indexes):
    from rerankinject.search.faiss import DenseSearcher
    from rerankinject.search.hybrid import HybridRetriever
    from rerankinject.search.lucene import BM25Searcher

    root, _, docs = empty_doc_indexes
    bm25, dense = BM25Searcher(root / "lucene"), DenseSearcher(root / "dense")
    topics = {"q1": docs[3].title, "q2": docs[15].title}
    # depth 25: the dense list holds every document, the empty one included, so the fusion must score it in BM25
    res = HybridRetriever(bm25, dense).search_runs(topics, k=25, depth=25, progress=False)
    dense_of = {}
    for qid in topics:
        b = {r.doc_id: r.score for r in res.bm25[qid]}
        d = dense_of[qid] = {r.doc_id: r.score for r in res.dense[qid]}
        assert b["empty-1"] == 0.0 and "empty-1" in d and set(b) == set(d) == {r.doc_id for r in res.fused[qid]}
    # exact re-scoring of a run that holds the empty document, by both retrievers
    run = {"q1": [RunRecord("q1", "empty-1", 1.0), RunRecord("q1", docs[3].doc_id, 0.5)]}
    assert {r.doc_id: r.score for r in bm25.rescore_run(run, topics, progress=False)["q1"]}["empty-1"] == 0.0
    dense_scores = {r.doc_id: r.score for r in dense.rescore_run(run, topics, progress=False)["q1"]}
    assert dense_scores["empty-1"] == pytest.approx(dense_of["q1"]["empty-1"], abs=1e-5)
