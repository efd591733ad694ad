"""Hybrid BM25 + dense on a real SciFact slice: real Lucene, real faiss, real all-MiniLM-L6-v2, real Pyserini."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rerankinject.injection.normalize import minmax_scores, normalize_query_scores, pyserini_normalize, zscore_scores
from rerankinject.io.formats import document_text
from rerankinject.io.runs import read_run
from rerankinject.search.hybrid import (
    fuse_query,
    fuse_runs,
    interpolate_scores,
    pyserini_fuse,
    retriever_run_paths,
    rrf,
)
from tests._slices import scifact_slice, write_corpus

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# ---------------------------------------------------------------- pure functions (no models)


def test_normalizers():
    s = {"a": 1.0, "b": 3.0, "c": 2.0}
    assert minmax_scores(s) == {"a": 0.0, "b": 1.0, "c": 0.5}
    z = zscore_scores(s)
    assert z["c"] == 0.0 and z["b"] == pytest.approx(1.224744871391589) and z["a"] == pytest.approx(-z["b"])
    assert minmax_scores({"a": 2.0, "b": 2.0}) == {"a": 0.0, "b": 0.0}
    assert zscore_scores({"a": 2.0}) == {"a": 0.0}
    assert normalize_query_scores(s, "raw") == s
    with pytest.raises(ValueError, match="unknown normaliser 'l2'"):
        normalize_query_scores(s, "l2")
    assert pyserini_normalize(3.0, 1.0, 3.0) == 0.5 and pyserini_normalize(1.0, 1.0, 3.0) == -0.5


def test_fusions():
    b = {"x": 10.0, "y": 5.0, "z": 0.0}
    d = {"x": 0.2, "y": 0.8, "z": 0.5}
    f = interpolate_scores(b, d, alpha=0.25, normalization="minmax-query")
    assert f == pytest.approx({"x": 0.25, "y": 0.125 + 0.75, "z": 0.75 * 0.5})
    with pytest.raises(ValueError, match="both scores for every candidate"):
        interpolate_scores(b, {"x": 1.0}, 0.5)
    r = rrf([b, d], k=60)
    assert r["x"] == pytest.approx(1 / 61 + 1 / 63) and r["y"] == pytest.approx(1 / 62 + 1 / 61)
    # min-fill RRF: a document absent from a list contributes nothing from it
    assert fuse_query({"x": 3.0}, {"y": 1.0}, fusion="rrf", rrf_k=60) == pytest.approx({"x": 1 / 61, "y": 1 / 61})
    # pyserini formula with min-fill vs exact fill
    hyb = pyserini_fuse({"x": 0.9, "y": 0.5}, {"x": 12.0, "z": 8.0}, alpha=0.1)
    assert hyb == pytest.approx({"x": 0.1 * 12 + 0.9, "y": 0.1 * 8 + 0.5, "z": 0.1 * 8 + 0.5})
    exact = pyserini_fuse({"x": 0.9, "y": 0.5}, {"x": 12.0, "z": 8.0}, alpha=0.1, dense_fill={"z": 0.3},
                          sparse_fill={"y": 2.0})
    assert exact == pytest.approx({"x": 0.1 * 12 + 0.9, "y": 0.1 * 2 + 0.5, "z": 0.1 * 8 + 0.3})


def test_retriever_run_paths():
    assert [str(p) for p in retriever_run_paths("runs/scifact.hybrid.trec")] == [
        "runs/scifact.hybrid.bm25.trec", "runs/scifact.hybrid.dense.trec"]
    assert [p.name for p in retriever_run_paths("x.trec.gz")] == ["x.bm25.trec.gz", "x.dense.trec.gz"]
    assert [p.name for p in retriever_run_paths("out")] == ["out.bm25", "out.dense"]


# ---------------------------------------------------------------- real retrieval on a SciFact slice


@pytest.fixture(scope="module")
def indexes(data_root, tmp_path_factory):
    import torch

    from rerankinject.index.faiss import build_dense_index
    from rerankinject.index.lucene import build_lucene_index

    torch.set_num_threads(2)
    docs, topics, qrels = scifact_slice(data_root, n_docs=60, n_queries=10)
    root = tmp_path_factory.mktemp("hybrid")
    corpus = write_corpus(docs, root / "corpus.jsonl")
    build_lucene_index(corpus, root / "lucene", threads=1)
    build_dense_index(corpus, root / "dense", normalize=True, max_length=128, shard_size=1000, progress=False)
    return root, docs, topics


@pytest.fixture(scope="module")
def searchers(indexes):
    from rerankinject.search.faiss import DenseSearcher
    from rerankinject.search.lucene import BM25Searcher

    root, _, _ = indexes
    return BM25Searcher(root / "lucene"), DenseSearcher(root / "dense")


def test_pyserini_mode_equals_hybrid_searcher(indexes, searchers):
    from rerankinject.encode.encoder import DenseQueryEncoder
    from rerankinject.jvm import start_jvm
    from rerankinject.search.hybrid import HybridRetriever

    start_jvm()
    from pyserini.search.faiss import FaissSearcher
    from pyserini.search.hybrid import HybridSearcher
    from pyserini.search.lucene import LuceneSearcher

    root, _, topics = indexes
    bm25, dense = searchers
    qenc = DenseQueryEncoder(dense.query_encoder.encoder)
    pyserini = HybridSearcher(FaissSearcher(str(root / "dense"), qenc), LuceneSearcher(str(root / "lucene")))
    ours = HybridRetriever(bm25, dense)
    for normalization, alpha, weight_on_dense in [(False, 0.1, False), (True, 0.5, False), (True, 2.0, True)]:
        result = ours.search_runs(topics, k=10, depth=10, fusion="pyserini", alpha=alpha,
                                  normalization="minmax-query" if normalization else "raw", min_fill=True,
                                  weight_on_dense=weight_on_dense, progress=False)
        for qid, query in topics.items():
            expected = pyserini.search(query, k0=10, k=10, alpha=alpha, normalization=normalization,
                                       weight_on_dense=weight_on_dense)
            got = result.fused[qid]
            assert [h.docid for h in expected] == [r.doc_id for r in got], (qid, normalization)
            assert [float(h.score) for h in expected] == pytest.approx([r.score for r in got], abs=1e-5)
            # the pure function on the very same hit lists gives Pyserini's numbers bit for bit
            d_hits = {h.docid: h.score for h in pyserini.dense_searcher.search(query, 10)}
            s_hits = {h.docid: h.score for h in pyserini.sparse_searcher.search(query, 10)}
            fused = pyserini_fuse(d_hits, s_hits, alpha, normalization, weight_on_dense)
            assert sorted(fused.values(), reverse=True)[:10] == [h.score for h in expected]


def test_exact_fill_differs_from_min_fill_and_equals_recomputation(indexes, searchers):
    from rerankinject.jvm import start_jvm
    from rerankinject.search.hybrid import HybridRetriever

    start_jvm()
    from pyserini.search.lucene import LuceneSearcher

    root, docs, topics = indexes
    bm25, dense = searchers
    hyb = HybridRetriever(bm25, dense)
    # k covers the whole union of two depth-10 lists, so the fused run holds every candidate
    kw = dict(k=1000, depth=10, fusion="interpolate", alpha=0.3, normalization="minmax-query", progress=False)
    exact = hyb.search_runs(topics, **kw)
    mfill = hyb.search_runs(topics, min_fill=True, **kw)
    assert exact.fused != mfill.fused
    # per-retriever runs: the same candidates as the fused run, both raw scores each, identical in both modes
    for qid in topics:
        cands = {r.doc_id for r in exact.fused[qid]}
        assert cands == {r.doc_id for r in exact.bm25[qid]} == {r.doc_id for r in exact.dense[qid]}
    assert {q: [r.doc_id for r in v] for q, v in exact.bm25.items()} != {}
    # a real case: a dense-only candidate, scored exactly by BM25 rather than given the list minimum
    lucene = LuceneSearcher(str(root / "lucene"))
    lucene.set_bm25(0.9, 0.4)
    by_id = {d.doc_id: d for d in docs}
    enc = dense.query_encoder.encoder
    n_checked = 0
    for qid, query in topics.items():
        b_top = {h.docid: h.score for h in lucene.search(query, 10)}
        d_top = {h.docid: float(h.score) for h in dense.search(query, 10)}
        b_all = {h.docid: h.score for h in lucene.search(query, lucene.num_docs)}
        bm25_scores = {r.doc_id: r.score for r in exact.bm25[qid]}
        dense_scores = {r.doc_id: r.score for r in exact.dense[qid]}
        q_vec = enc.encode([query])[0]
        dense_missing = [d for d in dense_scores if d not in d_top]
        fresh = dict(zip(dense_missing, enc.encode([document_text(by_id[d]) for d in dense_missing]) @ q_vec,
                         strict=True))
        for doc in bm25_scores:
            if doc not in b_top:  # filled exactly: Lucene's full-depth search score (0 if no term matches), up to
                # Anserini's tie-breaking decrement (1e-6 per tied doc) on its 4-decimal scores
                assert bm25_scores[doc] == pytest.approx(b_all.get(doc, 0.0), abs=2e-5)
                assert bm25_scores[doc] == pytest.approx(bm25.score(query, doc), abs=1e-4)
                assert bm25_scores[doc] <= min(b_top.values())
                n_checked += 1
            if doc not in d_top:  # filled exactly: the inner product with a freshly encoded document
                assert dense_scores[doc] == pytest.approx(float(fresh[doc]), abs=1e-5)
                n_checked += 1
        # the exact fused scores are a direct recomputation from the two raw runs
        b = {d: bm25_scores[d] for d in bm25_scores}
        mm_b, mm_d = minmax_scores(b), minmax_scores(dense_scores)
        for r in exact.fused[qid]:
            assert r.score == pytest.approx(0.3 * mm_b[r.doc_id] + 0.7 * mm_d[r.doc_id], abs=1e-9)
    assert n_checked > 0
    # fuse_runs on the per-retriever runs reproduces the fused run (what tune_hybrid.py relies on)
    full = exact
    again = fuse_runs(full.bm25, full.dense, fusion="interpolate", alpha=0.3, normalization="minmax-query")
    assert {q: [(r.doc_id, pytest.approx(r.score)) for r in v] for q, v in again.items()} == \
        {q: [(r.doc_id, r.score) for r in v] for q, v in full.fused.items()}
    assert all(np.isfinite(r.score) for v in full.fused.values() for r in v)


def test_search_cli_writes_three_runs(indexes, tmp_path):
    from rerankinject.search.__main__ import main

    root, _, topics = indexes
    tfile = tmp_path / "topics.tsv"
    tfile.write_text("".join(f"{q}\t{t}\n" for q, t in topics.items()))
    out = tmp_path / "runs" / "slice.hybrid.trec"
    assert main(["--retriever", "hybrid", "--index", str(root / "lucene"), "--dense-index", str(root / "dense"),
                 "--topics", str(tfile), "--output", str(out), "--k", "15", "--depth", "10", "--alpha", "0.4",
                 "--fusion", "rrf", "--threads", "1"]) == 0
    fused, b, d = read_run(out), read_run(tmp_path / "runs" / "slice.hybrid.bm25.trec"), \
        read_run(tmp_path / "runs" / "slice.hybrid.dense.trec")
    assert set(fused) == set(topics)
    for q in fused:
        assert {r.doc_id for r in fused[q]} == {r.doc_id for r in b[q]} == {r.doc_id for r in d[q]}
    dout = tmp_path / "runs" / "slice.dense.trec"
    assert main(["--retriever", "dense", "--dense-index", str(root / "dense"), "--topics", str(tfile),
                 "--output", str(dout), "--k", "5"]) == 0
    assert all(len(v) == 5 for v in read_run(dout).values())
    with pytest.raises(SystemExit):
        main(["--retriever", "hybrid", "--index", str(root / "lucene"), "--topics", str(tfile), "--output",
              str(out)])
