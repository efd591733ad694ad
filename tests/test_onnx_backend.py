"""The ONNX Runtime backends score the same token ids as torch: fp32 equal within 1e-4, int8 close in ranking.

Real data: 3 DL19 queries x their BM25 top-30 through a MiniLM-initialised CAT cross-encoder (the classifier head is
untrained, so scores are close together: a hard case for int8). Measured: fp32 max |diff| ~6e-8; int8 per-query
Spearman vs torch .89-.98 on this untrained head (.98+ on a briefly fine-tuned one, see docs/performance.md).
~30 s on the 2-core CPU (export + quantisation once per module).
"""

from __future__ import annotations

import numpy as np
import pytest

from rerankinject.datasets.registry import load_dataset
from rerankinject.io.formats import document_text, read_collection
from rerankinject.io.runs import read_run
from rerankinject.rerank.__main__ import build_parser
from rerankinject.rerank.reranker import ScoreInjectReranker
from rerankinject.scoring.batching import pad_batch
from rerankinject.scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel

N_QUERIES, DEPTH = 3, 30


@pytest.fixture(scope="module")
def minilm_ce(tmp_path_factory):
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ce") / "minilm-cat"
    CrossEncoderModel(DEFAULT_INIT_MODEL(), device="cpu").save(folder)
    return folder


@pytest.fixture(scope="module")
def dl19_slice(data_root):
    dl = load_dataset("dl19")
    bm25 = read_run(dl.run_path("bm25"))
    run = {q: bm25[q][:DEPTH] for q in sorted(bm25)[:N_QUERIES]}
    need = {r.doc_id for recs in run.values() for r in recs}
    corpus = {d: document_text(doc) for d, doc in read_collection(dl.corpus_path).items() if d in need}
    return run, dl.topics(), corpus


def test_pad_batch_matches_row_by_row_padding():
    items = [([101, 5, 6, 102], [0, 0, 0, 1]), ([101, 7, 102], [0, 0, 1]), ([101, 102], [0, 0])]
    t = pad_batch(items, pad_id=9)
    assert t["input_ids"].tolist() == [[101, 5, 6, 102], [101, 7, 102, 9], [101, 102, 9, 9]]
    assert t["token_type_ids"].tolist() == [[0, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert t["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]]
    assert str(t["input_ids"].dtype) == "torch.int64"


def test_onnx_backends_match_torch_on_dl19(minilm_ce, dl19_slice):
    from scipy.stats import spearmanr

    run, topics, corpus = dl19_slice
    models = {b: CrossEncoderModel(minilm_ce, device="cpu", backend=b) for b in ("torch", "onnx", "onnx-int8")}
    assert models["onnx"].model is None  # no torch weights loaded for the ONNX paths
    rhos = []
    for q, recs in run.items():
        texts = [corpus[r.doc_id] for r in recs]
        inputs = models["torch"].builder.encode(topics[q], texts, [{}] * len(texts))
        s = {b: np.array(m.predict(inputs, batch_size=8)) for b, m in models.items()}
        assert np.abs(s["onnx"] - s["torch"]).max() <= 1e-4
        assert np.abs(s["onnx-int8"] - s["torch"]).max() <= 0.05
        rhos.append(spearmanr(s["onnx-int8"], s["torch"])[0])
    assert np.mean(rhos) > 0.9 and min(rhos) > 0.85, rhos  # untrained head: score std ~0.01, int8 noise ~0.005

    # the same through the re-ranker: identical rankings for fp32
    a = ScoreInjectReranker(minilm_ce, device="cpu", backend="torch").rerank_run(run, topics, corpus)
    b = ScoreInjectReranker(minilm_ce, device="cpu", backend="onnx").rerank_run(run, topics, corpus)
    for q in run:
        assert [r.doc_id for r in a[q]] == [r.doc_id for r in b[q]]
        assert max(abs(x.score - y.score) for x, y in zip(a[q], b[q], strict=True)) <= 1e-4


def test_backend_arguments(minilm_ce):
    assert build_parser().parse_args(["--run", "r", "--topics", "t", "--corpus", "c", "--model", "m", "--output",
                                      "o", "--backend", "onnx-int8"]).backend == "onnx-int8"
    with pytest.raises(ValueError, match="backend must be one of"):
        CrossEncoderModel(minilm_ce, device="cpu", backend="tensorrt")
    with pytest.raises(ValueError, match="CPU only"):
        CrossEncoderModel(minilm_ce, device="cuda", backend="onnx")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_concurrent_batches_give_the_same_scores(minilm_ce, dl19_slice, backend):
    """Two batches in flight (one intra-op thread each, the CPU default) == one batch on two threads."""
    import torch

    run, topics, corpus = dl19_slice
    q = next(iter(run))
    texts = [corpus[r.doc_id] for r in run[q]]
    one = CrossEncoderModel(minilm_ce, device="cpu", backend=backend, threads=2, workers=1)
    two = CrossEncoderModel(minilm_ce, device="cpu", backend=backend, threads=2, workers=2)
    assert two.workers == 2 and CrossEncoderModel(minilm_ce, device="cpu", threads=2).workers == 2
    inputs = one.builder.encode(topics[q], texts, [{}] * len(texts))
    before = torch.get_num_threads()
    a, b = np.array(one.predict(inputs, batch_size=4)), np.array(two.predict(inputs, batch_size=4))
    assert np.abs(a - b).max() <= 1e-5
    assert torch.get_num_threads() == before  # the torch thread setting is restored after scoring
    with pytest.raises(ValueError, match="workers must be >= 1"):
        CrossEncoderModel(minilm_ce, device="cpu", backend=backend, workers=0)


def test_exact_head_rescores_the_int8_top_in_fp32(minilm_ce, dl19_slice):
    """--exact-head K: the int8 top K get fp32 scores and order; the tail keeps int8 order and score gaps, below."""
    from rerankinject.rerank.__main__ import main as rerank_main

    run, topics, corpus = dl19_slice
    k = 10
    fp32 = ScoreInjectReranker(minilm_ce, device="cpu", backend="onnx").rerank_run(run, topics, corpus)
    int8 = ScoreInjectReranker(minilm_ce, device="cpu", backend="onnx-int8-full").rerank_run(run, topics, corpus)
    cas = ScoreInjectReranker(minilm_ce, device="cpu", backend="onnx-int8-full",
                              exact_head=k).rerank_run(run, topics, corpus)
    for q in run:
        exact = {r.doc_id: r.score for r in fp32[q]}
        head, tail = cas[q][:k], cas[q][k:]
        assert {r.doc_id for r in head} == {r.doc_id for r in int8[q][:k]}
        assert max(abs(r.score - exact[r.doc_id]) for r in head) <= 1e-4
        assert [r.doc_id for r in tail] == [r.doc_id for r in int8[q][k:]]
        assert min(r.score for r in head) > max(r.score for r in tail)
        assert np.allclose(np.diff([r.score for r in tail]), np.diff([r.score for r in int8[q][k:]]), atol=1e-6)
        assert len(cas[q]) == len(run[q])
    with pytest.raises(ValueError, match="already scores in full precision"):
        ScoreInjectReranker(minilm_ce, device="cpu", backend="onnx", exact_head=5)
    with pytest.raises(SystemExit):
        rerank_main(["--run", "r", "--topics", "t", "--corpus", "c", "--model", str(minilm_ce), "--output", "o",
                     "--exact-head", "5"])  # torch backend: parser.error
