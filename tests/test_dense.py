"""Dense retrieval on real SciFact slices with the real all-MiniLM-L6-v2, real faiss and Pyserini's FaissSearcher."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from rerankinject.errors import DataError
from rerankinject.io.formats import document_text
from tests._slices import first_docs, scifact_slice, write_corpus

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module", autouse=True)
def _threads():
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def slice_data(data_root, tmp_path_factory):
    docs, topics, qrels = scifact_slice(data_root, n_docs=100, n_queries=20)
    corpus = write_corpus(docs, tmp_path_factory.mktemp("corpus") / "corpus.jsonl")
    return docs, topics, qrels, corpus


@pytest.fixture(scope="module")
def encoder():
    from rerankinject.encode.encoder import TextEncoder

    # 128 tokens keeps CPU encoding short; the default (256, from the model folder) is checked separately
    return TextEncoder(pooling="mean", normalize=True, max_length=128, batch_size=32)


@pytest.fixture(scope="module")
def short_encoder():
    from rerankinject.encode.encoder import TextEncoder

    return TextEncoder(pooling="mean", normalize=True, max_length=32, batch_size=32)


def test_default_settings(encoder):
    from pathlib import Path

    from rerankinject.encode.encoder import EncoderSettings, _default_max_length, default_model_path

    assert _default_max_length(Path(default_model_path())) == 256  # from sentence_bert_config.json
    assert encoder.settings.model_path == str(Path(default_model_path()).resolve()) and encoder.dim == 384
    with pytest.raises(ValueError, match="pooling must be one of"):
        EncoderSettings(model_path="x", pooling="max").validate()


@pytest.fixture(scope="module")
def dense_index(slice_data, encoder, tmp_path_factory):
    from rerankinject.index.faiss import build_dense_index

    _, _, _, corpus = slice_data
    out = tmp_path_factory.mktemp("dense") / "scifact-slice"
    meta = build_dense_index(corpus, out, encoder=encoder, shard_size=64, progress=False)
    assert meta is not None and meta["documents"] == len(slice_data[0])
    return out


def test_encoder_matches_sentence_transformers(encoder, data_root):
    from sentence_transformers import SentenceTransformer

    texts = [document_text(d) for d in first_docs(data_root, 6)] + ["a short query about cancer"]
    ours = encoder.encode(texts)
    model = SentenceTransformer(encoder.settings.model_path, device="cpu")
    model.max_seq_length = encoder.settings.max_length
    st = model.encode(texts, normalize_embeddings=True)
    assert ours.shape == (7, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, st, atol=1e-5)
    # length-sorted batching returns rows in input order
    np.testing.assert_allclose(encoder.encode(texts[::-1])[::-1], ours, atol=1e-5)


def test_index_layout_and_faiss_searcher(dense_index, slice_data):
    from rerankinject.encode.encoder import DenseQueryEncoder
    from rerankinject.jvm import start_jvm
    from rerankinject.search.faiss import DenseSearcher

    start_jvm()
    from pyserini.encode import QueryEncoder
    from pyserini.search.faiss import FaissSearcher

    assert {p.name for p in dense_index.iterdir()} == {"index", "docid", "encoder.json"}
    meta = json.loads((dense_index / "encoder.json").read_text())
    assert meta["encoder"]["pooling"] == "mean" and meta["encoder"]["normalize"] is True
    assert meta["encoder"]["dim"] == 384 and meta["encoder"]["max_length"] == 128
    assert not (dense_index.parent / f".{dense_index.name}.partial").exists()

    qenc = DenseQueryEncoder.from_index(dense_index)
    assert isinstance(qenc, QueryEncoder)
    fs = FaissSearcher(str(dense_index), qenc)  # Pyserini's own searcher on our index
    docs, topics, qrels, _ = slice_data
    assert fs.num_docs == len(docs)
    ours = DenseSearcher(dense_index, query_encoder=qenc)
    assert ours.num_docs == len(docs)
    qid, query = next(iter(topics.items()))
    hits = fs.search(query, k=10)
    assert [h.docid for h in hits] == [h.docid for h in ours.search(query, k=10)]
    # the judged document of this query is retrieved near the top of a 100+ doc slice
    assert set(qrels[qid]) & {h.docid for h in hits}
    batch = fs.batch_search(list(topics.values()), list(topics), k=5)
    assert set(batch) == set(topics) and all(len(v) == 5 for v in batch.values())
    # exact score from the stored vector equals the faiss search score
    for h in hits:
        assert ours.score(query, h.docid) == pytest.approx(float(h.score), abs=1e-5)
    # and equals a direct recomputation from the document text
    by_id = {d.doc_id: d for d in docs}
    enc = qenc.encoder
    direct = float(enc.encode([document_text(by_id[hits[-1].docid])])[0] @ enc.encode([query])[0])
    assert ours.score(query, hits[-1].docid) == pytest.approx(direct, abs=1e-5)
    run = ours.search_run(topics, k=20, progress=False)
    assert set(run) == set(topics) and all(len(v) == 20 for v in run.values())
    assert all(a.score >= b.score for v in run.values() for a, b in zip(v, v[1:], strict=False))


def test_resume_after_interrupted_encode(data_root, short_encoder, tmp_path):
    from rerankinject.index.faiss import build_dense_index, work_dir_for

    docs = first_docs(data_root, 50)
    corpus = write_corpus(docs, tmp_path / "c.jsonl")
    full = tmp_path / "full"
    build_dense_index(corpus, full, encoder=short_encoder, shard_size=20, progress=False)

    part = tmp_path / "resumed"
    assert build_dense_index(corpus, part, encoder=short_encoder, shard_size=20, max_shards=1, progress=False) is None
    work = work_dir_for(part)
    assert not part.exists() and sorted(p.name for p in work.glob("shard-*.npy")) == ["shard-00000.npy"]
    first = work / "shard-00000.npy"
    mtime = first.stat().st_mtime_ns
    # a different setting must not silently reuse the checkpoint
    with pytest.raises(DataError, match="different collection or encoder"):
        build_dense_index(corpus, part, encoder=short_encoder, shard_size=25, progress=False)
    assert first.stat().st_mtime_ns == mtime
    meta = build_dense_index(corpus, part, encoder=short_encoder, shard_size=20, progress=False)
    assert meta is not None and meta["encoded_this_run"] == 30  # shard 0 was not encoded again
    assert not work.exists()

    import faiss

    a, b = faiss.read_index(str(full / "index")), faiss.read_index(str(part / "index"))
    np.testing.assert_array_equal(a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal))
    assert (full / "docid").read_text() == (part / "docid").read_text()
    with pytest.raises(DataError, match="already exists"):
        build_dense_index(corpus, part, encoder=short_encoder, progress=False)


def test_hnsw_index_and_cli(data_root, tmp_path):
    from rerankinject.index.__main__ import main
    from rerankinject.search.faiss import DenseSearcher

    corpus = write_corpus(first_docs(data_root, 30), tmp_path / "c.jsonl")
    out = tmp_path / "hnsw"
    assert main(["dense", "--collection", str(corpus), "--index", str(out), "--normalize", "--hnsw",
                 "--pooling", "cls", "--max-length", "32", "--threads", "2"]) == 0
    meta = json.loads((out / "encoder.json").read_text())
    assert meta["index_type"] == "IndexHNSWFlat" and meta["encoder"]["pooling"] == "cls"
    assert meta["encoder"]["max_length"] == 32
    s = DenseSearcher(out)
    hits = s.search("cancer", k=5)
    assert len(hits) == 5 and s.score("cancer", hits[0].docid) == pytest.approx(float(hits[0].score), abs=1e-5)
    with pytest.raises(SystemExit):
        main(["dense", "--collection", str(corpus), "--index", str(out), "--batch-size", "0"])


def test_missing_or_non_encoder_model_folder(tmp_path):
    from rerankinject.encode.encoder import TextEncoder

    with pytest.raises(DataError, match="encoder model folder not found"):
        TextEncoder(tmp_path / "nope")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("not a model")
    with pytest.raises(DataError, match="no config.json"):
        TextEncoder(tmp_path / "notes")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(DataError, match="not a loadable Hugging Face encoder"):
        TextEncoder(tmp_path / "broken")


def test_docid_list_length_differs_from_index(dense_index, tmp_path):
    from rerankinject.search.faiss import DenseSearcher

    bad = tmp_path / "bad"
    shutil.copytree(dense_index, bad)
    lines = (bad / "docid").read_text().splitlines(keepends=True)
    (bad / "docid").write_text("".join(lines[:-1]))
    with pytest.raises(DataError, match=rf"has {len(lines) - 1} ids but the faiss index holds {len(lines)}"):
        DenseSearcher(bad)


def test_query_encoder_dimension_differs_from_index(dense_index, encoder, tmp_path):
    from transformers import BertConfig, BertModel

    from rerankinject.search.faiss import DenseSearcher

    tiny = tmp_path / "tiny-bert"
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512)
    BertModel(cfg).save_pretrained(tiny)
    encoder.tokenizer.save_pretrained(tiny)
    with pytest.raises(DataError, match="query encoder dimension 32 differs from the index dimension 384"):
        DenseSearcher(dense_index, model_path=tiny)


def test_rescore_run_cli_and_dense_index_policy(dense_index, slice_data, tmp_path, capsys):
    """--rescore gives every candidate of another run its exact dense score; training's 'index' policy opens a dense
    index for a missing DPR score."""
    from rerankinject.io.runs import RunRecord, read_run, write_run
    from rerankinject.search import __main__ as search
    from rerankinject.search.faiss import DenseSearcher
    from rerankinject.train.data import ScoreTable

    docs, topics, _, _ = slice_data
    qids = list(topics)[:3]
    ids = [d.doc_id for d in docs]
    # a "BM25" run: 7 arbitrary candidates per query, scores unrelated to the dense ones
    given = {q: [RunRecord(q, d, float(100 - j)) for j, d in enumerate(ids[i:i + 7])] for i, q in enumerate(qids)}
    run_file, topics_file = tmp_path / "bm25.trec", tmp_path / "topics.tsv"
    write_run(given, run_file)
    topics_file.write_text("".join(f"{q}\t{topics[q]}\n" for q in topics))
    out = tmp_path / "rescored.trec.gz"
    assert search.main(["--retriever", "dense", "--dense-index", str(dense_index), "--topics", str(topics_file),
                        "--rescore", str(run_file), "--output", str(out)]) == 0
    got = read_run(out)
    ours = DenseSearcher(dense_index)
    assert set(got) == set(qids)  # only the run's queries, not every topic
    for q in qids:
        assert {r.doc_id for r in got[q]} == {r.doc_id for r in given[q]}
        for r in got[q]:
            assert r.score == pytest.approx(ours.score(topics[q], r.doc_id), abs=1e-5)
        assert [r.score for r in got[q]] == sorted((r.score for r in got[q]), reverse=True)
    # a query of the run without a topic: a clear error and no output
    write_run({**given, "no-such-query": [RunRecord("no-such-query", ids[0], 1.0)]}, run_file)
    bad_out = tmp_path / "bad.trec"
    assert search.main(["--retriever", "dense", "--dense-index", str(dense_index), "--topics", str(topics_file),
                        "--rescore", str(run_file), "--output", str(bad_out)]) != 0
    assert "no-such-query" in capsys.readouterr().err and not bad_out.exists()
    with pytest.raises(SystemExit) as e:
        search.main(["--retriever", "hybrid", "--index", "x", "--dense-index", str(dense_index), "--topics",
                     str(topics_file), "--rescore", str(run_file), "--output", str(bad_out)])
    assert e.value.code == 2
    # training: a positive outside the DPR run gets its exact dense score from the dense index
    q = qids[0]
    table = ScoreTable({"dpr": {q: {ids[0]: 0.5}}}, {"dpr": "index"}, {"dpr": dense_index}, topics)
    assert table.score("dpr", q, ids[50]) == pytest.approx(ours.score(topics[q], ids[50]), abs=1e-5)
    assert table.score("dpr", q, ids[0]) == 0.5 and table.filled["dpr"] == 1
