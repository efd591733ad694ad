"""``python -m rerankinject.rerank`` end to end on small files: success, and every refused input leaves no output."""

from __future__ import annotations

import pytest

from rerankinject.injection.recipe import recipe_for_variant
from rerankinject.io.runs import read_run, write_run
from rerankinject.rerank.__main__ import main, parse_sources
from tests._ce_util import make_tiny_bert, with_recipe

DOCS = {"d1": "fleas carry plague", "d2": "stock prices rose", "d3": "cats get fleas", "d4": "banana bread"}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def files(tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{d}\t{t}\n" for d, t in DOCS.items()))
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tdo fleas carry disease\nq2\tbanana recipes\n")
    run = tmp_path / "run.bm25.trec"
    run.write_text("q1 Q0 d1 1 12.5 bm25\nq1 Q0 d3 2 9.0 bm25\nq1 Q0 d2 3 2.0 bm25\nq1 Q0 d4 4 1.0 bm25\n"
                   "q2 Q0 d4 1 10.0 bm25\nq2 Q0 d2 2 1.5 bm25\n")
    return tmp_path, corpus, topics, run


def _args(tmp_path, corpus, topics, run, model, *extra):
    return ["--run", str(run), "--topics", str(topics), "--corpus", str(corpus), "--model", str(model),
            "--output", str(tmp_path / "out.trec"), *extra]


def test_rerank_cli_bm25cat(files, tiny_base, tmp_path):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "bm25cat", recipe_for_variant("BM25CAT"))
    assert main(_args(tmp, corpus, topics, run, model, "--source", f"bm25={run}", "--depth", "3",
                      "--batch-size", "2", "--device", "cpu")) == 0
    out = read_run(tmp / "out.trec")
    assert {q: len(v) for q, v in out.items()} == {"q1": 4, "q2": 2}
    assert out["q1"][-1].doc_id == "d4"  # below depth 3: kept last
    assert (tmp / "out.trec").read_text().split("\n")[0].endswith(" bm25cat")


def test_rerank_cli_cat_plain_folder(files, tiny_base, tmp_path):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "plain", None)
    assert main(_args(tmp, corpus, topics, run, model, "--device", "cpu")) == 0
    assert sum(len(v) for v in read_run(tmp / "out.trec").values()) == 6


def _fails(capsys, argv, out, *needles):
    assert main(argv) == 1
    err = capsys.readouterr().err
    for n in needles:
        assert n in err, err
    assert not out.exists()
    assert not list(out.parent.glob(".out.trec*"))  # no temporary left behind either


def test_missing_source_no_silent_guess(files, tiny_base, capsys):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "bm25cat", recipe_for_variant("BM25CAT"))
    # the run is itself a BM25 run, but it is not used as the bm25 source unless said so
    _fails(capsys, _args(tmp, corpus, topics, run, model), tmp / "out.trec",
           "injects score source 'bm25'", "--source bm25=RUN", "--source bm25=<that run>")


def test_doc_not_in_corpus_names_file_and_line(files, tiny_base, capsys):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "plain", None)
    bad = tmp / "bad.trec"
    bad.write_text(run.read_text() + "q2 Q0 d9 3 1.0 bm25\n")
    _fails(capsys, _args(tmp, corpus, topics, bad, model), tmp / "out.trec", f"{bad}:7:", "doc id 'd9'", "corpus")


def test_query_not_in_topics(files, tiny_base, capsys):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "plain", None)
    bad = tmp / "bad.trec"
    bad.write_text("q9 Q0 d1 1 3.0 bm25\n" + run.read_text())
    _fails(capsys, _args(tmp, corpus, topics, bad, model), tmp / "out.trec", f"{bad}:1:", "query id 'q9'", "topics")


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_non_finite_source_score(files, tiny_base, capsys, value):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "bm25cat", recipe_for_variant("BM25CAT"))
    src = tmp / "src.trec"
    src.write_text(run.read_text().replace("q1 Q0 d3 2 9.0", f"q1 Q0 d3 2 {value}"))
    _fails(capsys, _args(tmp, corpus, topics, run, model, "--source", f"bm25={src}"), tmp / "out.trec",
           f"{src}:2:", "not finite")


def test_missing_scores_error_then_min(files, tiny_base, capsys):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "bm25cat", recipe_for_variant("BM25CAT"))
    src = tmp / "src.trec"
    write_run({"q1": read_run(run)["q1"][:2], "q2": read_run(run)["q2"]}, src)  # d2, d4 of q1 lack scores
    argv = _args(tmp, corpus, topics, run, model, "--source", f"bm25={src}")
    _fails(capsys, argv, tmp / "out.trec", "query 'q1'", "no 'bm25' score", "--missing min")
    assert main(argv + ["--missing", "min"]) == 0
    assert len(read_run(tmp / "out.trec")["q1"]) == 4


def test_bad_flags(files, tiny_base, capsys):
    tmp, corpus, topics, run = files
    with pytest.raises(SystemExit):
        main(_args(tmp, corpus, topics, run, tmp, "--depth", "0"))
    assert "--depth must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(_args(tmp, corpus, topics, run, tmp, "--source", "bm25"))
    assert "NAME=RUN" in capsys.readouterr().err
    with pytest.raises(ValueError, match="given twice"):
        parse_sources(["bm25=a", "bm25=b"])
