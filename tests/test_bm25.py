import time
from pathlib import Path

import pytest

from rerankinject.datasets.registry import load_dataset
from rerankinject.errors import DataError
from rerankinject.evaluate.measures import evaluate_run
from rerankinject.index.lucene import build_lucene_index
from rerankinject.io.runs import read_run
from rerankinject.search import __main__ as search
from rerankinject.search.lucene import BM25Searcher


def test_scifact_bm25_matches_anserini_beir_flat(scifact_lucene, tmp_path):
    """BM25 (k1=0.9, b=0.4) over our own index of the full SciFact corpus: nDCG@10 within 0.01 of 0.679."""
    out = tmp_path / "bm25.trec"
    t0 = time.perf_counter()
    rc = search.main(["--index", str(scifact_lucene), "--topics", "scifact-test", "--output", str(out),
                      "--k", "1000", "--threads", "2", "--remove-query"])
    assert rc == 0
    print(f"searched 300 queries at k=1000 in {time.perf_counter() - t0:.1f}s")
    run = read_run(out)
    assert len(run) == 300 and all(len(v) <= 1000 for v in run.values())
    assert sum(len(v) == 1000 for v in run.values()) > 250
    m = evaluate_run(run, load_dataset("scifact-test").qrels(), rel_level=1)
    assert abs(m["nDCG@10"] - 0.679) <= 0.01
    assert m["R@100"] > 0.9 and m["R@1000"] > m["R@100"]


def test_searcher_shape_and_exact_score(scifact_lucene):
    s = BM25Searcher(scifact_lucene)
    assert s.num_docs == 5183
    q = "0-dimensional biomaterials show inductive properties"
    hits = s.search(q, k=10)
    assert len(hits) == 10 and hits[0].score >= hits[-1].score
    batch = s.batch_search([q], ["1"], k=10, threads=1)
    assert [h.docid for h in batch["1"]] == [h.docid for h in hits]
    for h in hits:  # per-document scoring reproduces Lucene's search score
        assert s.score(q, h.docid) == h.score
    assert s.searcher is not None  # the wrapped LuceneSearcher stays reachable
    with pytest.raises(DataError, match="not in the Lucene index"):
        s.score(q, "no-such-doc")


def test_missing_index(tmp_path, capsys):
    with pytest.raises(DataError, match="Lucene index not found"):
        BM25Searcher(tmp_path / "absent")
    topics = str(Path(__file__).parent / "fixtures" / "topics.tsv")  # runs without ../shared/data
    rc = search.main(["--index", str(tmp_path / "absent"), "--topics", topics,
                      "--output", str(tmp_path / "o.trec")])
    assert rc == 1 and "Lucene index not found" in capsys.readouterr().err
    assert not (tmp_path / "o.trec").exists()


def test_bad_flags():
    with pytest.raises(SystemExit):
        search.main(["--index", "x", "--topics", "dl19", "--output", "o", "--bm25-b", "2"])


def test_index_refuses_existing_and_bad_collection(tmp_path, scifact_lucene):
    with pytest.raises(DataError, match="already exists"):
        build_lucene_index(tmp_path / "c.tsv", scifact_lucene)
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"_id": "1", "text": "a"}\n{"text": "no id"}\n')
    from rerankinject.errors import FormatError

    with pytest.raises(FormatError, match=r"c.jsonl:2: corpus record has no id"):
        build_lucene_index(bad, tmp_path / "idx")
    assert not (tmp_path / "idx").exists()
