"""The MS MARCO-style training set built from the shared dev-small text (slow: indexes 43k passages, ~1 min)."""

from __future__ import annotations

import pytest

from rerankinject.datasets.registry import load_dataset
from rerankinject.io.formats import read_collection
from rerankinject.io.runs import read_run
from rerankinject.train.msmarco import build_msmarco_training_set


@pytest.mark.slow
def test_build_msmarco_training_set(tmp_path, data_root):
    out = build_msmarco_training_set(tmp_path / "ms", threads=2)
    ds = load_dataset(str(out))
    topics, qrels = ds.topics(), ds.qrels()
    corpus = read_collection(ds.corpus_path)
    assert len(topics) == 6980 and set(qrels) == set(topics)
    assert all(d in corpus for by_doc in qrels.values() for d in by_doc)
    dl = read_collection(load_dataset("dl19").corpus_path)
    assert set(dl) <= set(corpus)  # every DL passage is in the index: DL candidates can be scored exactly
    run = read_run(ds.run_path("bm25"))
    assert set(run) == set(topics) and max(len(v) for v in run.values()) == 100
    for year in ("dl19", "dl20"):
        official = read_run(load_dataset(year).run_path("bm25"))
        rescored = read_run(out / f"run.bm25-{year}.trec")
        assert {q: {r.doc_id for r in v} for q, v in rescored.items()} == \
            {q: {r.doc_id for r in v} for q, v in official.items()}
    # steps whose output exists are skipped: a second call changes nothing
    before = (out / "run.bm25.trec").stat().st_mtime_ns
    build_msmarco_training_set(out)
    assert (out / "run.bm25.trec").stat().st_mtime_ns == before
