import json

import pytest

from rerankinject.errors import FormatError
from rerankinject.io.formats import document_text, iter_collection, read_collection, read_qrels, read_queries


def test_collection_formats(tmp_path):
    (tmp_path / "a.tsv").write_text("d1\thello world\nd2\tTitle\tbody text\n")
    docs = read_collection(tmp_path / "a.tsv")
    assert docs["d1"].text == "hello world" and docs["d2"].title == "Title"
    assert document_text(docs["d2"]) == "Title body text"
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "7", "contents": "pyserini style"}) + "\n"
                                      + json.dumps({"_id": 8, "title": "T", "text": "beir"}) + "\n")
    docs = read_collection(tmp_path / "b.jsonl")
    assert docs["7"].text == "pyserini style" and docs["8"] == ("8", "T", "beir")


def test_corpus_record_without_id(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps({"_id": "1", "text": "ok"}) + "\n" + json.dumps({"title": "x", "text": "no id"}) + "\n")
    with pytest.raises(FormatError, match=r"c.jsonl:2: corpus record has no id"):
        list(iter_collection(p))
    t = tmp_path / "c.tsv"
    t.write_text("d1\tok\n\tmissing id\n")
    with pytest.raises(FormatError, match=r"c.tsv:2: corpus record has no id"):
        list(iter_collection(t))


def test_qrels_non_integer_grade(tmp_path):
    p = tmp_path / "q.txt"
    p.write_text("1 0 d1 1\n1 0 d2 high\n")
    with pytest.raises(FormatError, match=r"q.txt:2: relevance grade 'high' is not an integer"):
        read_qrels(p)


def test_qrels_beir_and_trec(tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n")
    assert read_qrels(p) == {"1": {"d1": 1, "d2": 0}}
    t = tmp_path / "q.trec"
    t.write_text("5 0 a 3\n5 0 b 0\n")
    assert read_qrels(t) == {"5": {"a": 3, "b": 0}}


def test_queries_tsv_and_jsonl(tmp_path, data_root):
    q = read_queries(data_root / "msmarco-dl/official/topics.dl19-passage.txt")
    assert len(q) == 43 and q["264014"] == "how long is life cycle of flea"
    q = read_queries(data_root / "scifact/beir/queries.jsonl")
    assert len(q) == 1109
    bad = tmp_path / "t.tsv"
    bad.write_text("1\tok\n2 no tab here\n")
    with pytest.raises(FormatError, match=r"t.tsv:2: expected 'qid<TAB>query text'"):
        read_queries(bad)
