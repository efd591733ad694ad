"""Long documents as passages: word windows, aggregation, every passage carrying the document's injected score, the
CLI (--passages/--passage-length/--stride) with resume and shards, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rerankinject import merge
from rerankinject.injection.recipe import recipe_for_variant
from rerankinject.io.formats import Document, read_collection
from rerankinject.io.runs import RunRecord, read_run
from rerankinject.rerank.__main__ import _job_config, build_parser, main, parse_sources
from rerankinject.rerank.passages import PassageSpec, aggregate, document_passages, split_passages
from rerankinject.rerank.reranker import ScoreInjectReranker
from tests._ce_util import make_tiny_bert, with_recipe

QUERY = "do fleas carry disease"
WORDS = ("fleas carry plague bacteria between rats and humans while cats mostly suffer itching and allergies "
         "during warm summer months when flea populations grow quickly in homes and gardens").split()
DOCS = {
    "long": Document("long", "Flea borne disease", " ".join(WORDS * 3)),
    "short": Document("short", "", "The stock market closed higher on Friday."),
    "empty": Document("empty", "", ""),
    "titled": Document("titled", "Banana bread", "A recipe with walnuts and " + " ".join(WORDS)),
}
BM25 = {"long": 12.5, "short": 3.0, "empty": 0.0, "titled": 7.25}


def test_split_passages_windows():
    text = "w1 w2 w3 w4 w5 w6 w7"
    assert split_passages(text, 3, 2) == ["w1 w2 w3", "w3 w4 w5", "w5 w6 w7"]
    assert split_passages(text, 3, 3) == ["w1 w2 w3", "w4 w5 w6", "w7"]
    assert split_passages(text, 10, 5) == [text]
    assert split_passages("  a\n b\tc ", 2, 1) == ["a b", "b c"]
    assert split_passages("", 3, 1) == [] and split_passages(" \n ", 3, 1) == []


@pytest.mark.parametrize("length,stride,msg", [(0, 1, "length"), (-3, 1, "length"), (3, 0, "stride"),
                                               (3, 4, "stride 4 > length 3")])
def test_bad_length_or_stride(length, stride, msg):
    with pytest.raises(ValueError, match=msg):
        split_passages("a b c", length, stride)
    with pytest.raises(ValueError, match=msg):
        PassageSpec("maxp", length, stride)


def test_document_passages_and_aggregate():
    spec = PassageSpec("maxp", 4, 4)
    assert document_passages(Document("x", "T t", "a b c d e"), spec) == ["T t a b c d", "T t e"]
    assert document_passages(Document("x", "T", ""), spec) == ["T"]
    assert document_passages(Document("x", "", ""), spec) == []
    assert document_passages("a b c d e", PassageSpec("firstp", 4, 2)) == ["a b c d"]
    assert aggregate([1.0, 3.0, -2.0], "firstp") == 1.0
    assert aggregate([1.0, 3.0, -2.0], "maxp") == 3.0
    assert aggregate([1.0, 3.0, -2.0], "sump") == 2.0
    with pytest.raises(ValueError):
        aggregate([], "maxp")
    with pytest.raises(ValueError, match="passage mode"):
        PassageSpec("avgp", 4, 2)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def rr(tiny_base, tmp_path):
    return ScoreInjectReranker(with_recipe(tiny_base, tmp_path / "m", recipe_for_variant("BM25CAT")), device="cpu",
                               batch_size=3)


def _rerank(rr: ScoreInjectReranker) -> dict[str, float]:
    run = {"q1": [RunRecord("q1", d, s) for d, s in BM25.items()]}
    return {r.doc_id: r.score for r in rr.rerank_run(run, {"q1": QUERY}, DOCS, {"bm25": run})["q1"]}


@pytest.mark.parametrize("mode", ["firstp", "maxp", "sump"])
def test_every_passage_carries_the_document_score(rr, mode):
    """A document's score aggregates the logits of its passages, each scored WITH the document's BM25 score."""
    spec = PassageSpec(mode, 12, 6)
    got = _rerank(rr.set_passages(mode, 12, 6))
    for d, doc in DOCS.items():
        parts = document_passages(doc, spec) or [""]
        logits = rr.predict([(QUERY, p, {"bm25": BM25[d]}) for p in parts])
        assert got[d] == pytest.approx(aggregate(logits, mode), abs=1e-5), d
    assert len(document_passages(DOCS["long"], spec)) == (1 if mode == "firstp" else 13)


def test_one_passage_per_document_equals_truncation(rr):
    """Passages longer than every document (and the empty document) give today's truncating scores."""
    today = _rerank(rr.set_passages(None))
    for mode in ("firstp", "maxp", "sump"):
        assert _rerank(rr.set_passages(mode, 1000, 1000)) == pytest.approx(today, abs=1e-5)
    short = _rerank(rr.set_passages("maxp", 12, 6))
    assert short["empty"] == pytest.approx(today["empty"], abs=1e-5)


def test_rank_with_passages(rr):
    texts = [DOCS["long"].text, DOCS["short"].text]
    rr.set_passages("maxp", 12, 6)
    ranked = rr.rank(QUERY, texts, scores={"bm25": [12.5, 3.0]})
    by_index = {r.index: r.score for r in ranked}
    parts = split_passages(texts[0], 12, 6)
    assert by_index[0] == pytest.approx(max(rr.predict([(QUERY, p, {"bm25": 12.5}) for p in parts])), abs=1e-5)


# --- CLI --------------------------------------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n"
                              for d in DOCS.values()))
    topics = tmp_path / "topics.tsv"
    topics.write_text("q1\tdo fleas carry disease\nq2\tbanana recipes\nq3\tstock market\n")
    run = tmp_path / "run.bm25.trec"
    run.write_text("".join(f"q1 Q0 {d} {i} {s} bm25\n" for i, (d, s) in enumerate(BM25.items(), 1))
                   + "q2 Q0 titled 1 10.0 bm25\nq2 Q0 long 2 1.5 bm25\nq3 Q0 short 1 8.0 bm25\n"
                   "q3 Q0 empty 2 0.5 bm25\nq3 Q0 long 3 0.25 bm25\n")
    return tmp_path, corpus, topics, run


def _args(tmp: Path, corpus: Path, topics: Path, run: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return ["--run", str(run), "--topics", str(topics), "--corpus", str(corpus), "--model", str(model),
            "--source", f"bm25={run}", "--device", "cpu", "--batch-size", "4", "--output", str(out),
            "--passages", "maxp", "--passage-length", "12", "--stride", "6", *extra]


def test_cli_passages_resume_and_shards(files, tiny_base):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "bm25cat", recipe_for_variant("BM25CAT"))
    ref = tmp / "ref.trec"
    assert main(_args(tmp, corpus, topics, run, model, ref, "--group-pairs", "1")) == 0
    rr = ScoreInjectReranker(model, device="cpu").set_passages("maxp", 12, 6)
    want = {r.doc_id: r.score for r in rr.rerank_run({"q1": read_run(run)["q1"]}, {"q1": QUERY}, DOCS,
                                                     {"bm25": read_run(run)})["q1"]}
    assert {r.doc_id: r.score for r in read_run(ref)["q1"]} == pytest.approx(want, abs=1e-4)

    # resume: a killed job had done q1; the rest is scored and the file is byte-identical
    out = tmp / "out.trec"
    args = build_parser().parse_args(_args(tmp, corpus, topics, run, model, out, "--group-pairs", "1"))
    config = json.loads(json.dumps(_job_config(args, parse_sources(args.source)), sort_keys=True))
    assert config["passages"] == {"mode": "maxp", "length": 12, "stride": 6}
    done = read_run(ref)["q1"]
    Path(str(out) + ".partial").write_text(json.dumps({"config": config}) + "\n" + json.dumps(
        {"qid": "q1", "hits": [[r.doc_id, r.score] for r in done]}) + "\n")
    assert main(_args(tmp, corpus, topics, run, model, out, "--group-pairs", "1", "--resume")) == 0
    assert out.read_bytes() == ref.read_bytes()

    # shards merge to the single run
    shards = [tmp / f"s{i}.trec" for i in (1, 2)]
    for i, path in enumerate(shards, 1):
        assert main(_args(tmp, corpus, topics, run, model, path, "--group-pairs", "1", "--shard", f"{i}/2")) == 0
    merged = tmp / "merged.trec"
    assert merge.main(["--output", str(merged), "--tag", "bm25cat", *map(str, shards)]) == 0
    assert merged.read_bytes() == ref.read_bytes()


def test_cli_resume_refuses_other_passage_settings(files, tiny_base, capsys):
    tmp, corpus, topics, run = files
    model = with_recipe(tiny_base, tmp / "bm25cat", recipe_for_variant("BM25CAT"))
    out = tmp / "out.trec"
    args = build_parser().parse_args(_args(tmp, corpus, topics, run, model, out))
    config = json.loads(json.dumps(_job_config(args, parse_sources(args.source)), sort_keys=True))
    Path(str(out) + ".partial").write_text(json.dumps({"config": config}) + "\n")
    other = ["firstp" if a == "maxp" else a for a in _args(tmp, corpus, topics, run, model, out, "--resume")]
    assert main(other) == 1
    assert "different job configuration" in capsys.readouterr().err


@pytest.mark.parametrize("extra,msg", [(["--passages", "maxp", "--passage-length", "0"], "positive number"),
                                       (["--passages", "maxp", "--passage-length", "5", "--stride", "6"],
                                        "stride 6 > length 5"),
                                       (["--passages", "sump", "--stride", "-1"], "stride"),
                                       (["--stride", "3"], "need --passages"),
                                       (["--passages", "avgp"], "invalid choice")])
def test_cli_bad_passage_flags(files, extra, msg, capsys):
    tmp, corpus, topics, run = files
    argv = ["--run", str(run), "--topics", str(topics), "--corpus", str(corpus), "--model", str(tmp),
            "--output", str(tmp / "x.trec"), *extra]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert msg in capsys.readouterr().err
    assert not (tmp / "x.trec").exists()


# --- training ---------------------------------------------------------------------------------------------------
def _groups(rr: ScoreInjectReranker, spec: PassageSpec | None, seed: int = 0, qids=("q1",)):
    """GroupDatasets of one group per query (the four documents), rendered as the re-ranker renders them."""
    from rerankinject.train.examples import Example, GroupDataset, TokenCache

    ce = rr.model
    docs = list(DOCS)
    rendered = ce.recipe.render_query({"bm25": BM25}, docs)
    examples = [Example(q, docs, [dict(r) for r in rendered], teacher=[1.0, 0.5, 0.0, 0.2]) for q in qids]
    queries = {q: QUERY for q in qids}
    return GroupDataset(examples, queries, DOCS, ce.builder, TokenCache(ce.tokenizer, 512), spec, seed), rendered


def _rerank_passage_inputs(rr: ScoreInjectReranker, spec: PassageSpec) -> dict[str, list]:
    """The re-ranker's own inputs of every passage of every document (``rerank --passages``), by document."""
    from rerankinject.rerank.reranker import Candidate

    rr.set_passages(spec.mode, spec.length, spec.stride)
    cands = [Candidate(d, "", {"bm25": BM25[d]}) for d in DOCS]
    inputs, counts = rr._passage_inputs(QUERY, cands, list(DOCS.values()), "q1")
    out, at = {}, 0
    for d, n in zip(DOCS, counts, strict=True):
        out[d], at = inputs[at:at + n], at + n
    return out


@pytest.mark.parametrize("mode", ["firstp", "maxp", "sump"])
def test_training_shows_each_document_as_one_of_its_passages(rr, mode):
    """Training inputs are inputs the re-ranker builds for a passage of the document (its text, the DOCUMENT's
    score); firstp shows the first; maxp/sump draw per (query, document) from the seed, deterministically."""
    spec = PassageSpec(mode, 12, 6)
    qids = [f"q{i}" for i in range(8)]
    ds, _ = _groups(rr, spec, qids=qids)
    at_rerank = _rerank_passage_inputs(rr, spec)
    chosen = set()
    for i in range(len(ds)):
        for d, got in zip(DOCS, ds[i]["inputs"], strict=True):
            options = [tuple(map(list, x)) for x in at_rerank[d]]
            assert tuple(map(list, got)) in options, d
            if d == "long":
                chosen.add(options.index(tuple(map(list, got))))
        assert ds[i]["teacher"] == [1.0, 0.5, 0.0, 0.2]
    if mode == "firstp":
        assert chosen == {0} and len(at_rerank["long"]) == 1
    else:
        assert len(chosen) > 1 and len(at_rerank["long"]) == 13  # drawn per (query, doc) among 13 passages
        other, _ = _groups(rr, spec, seed=1, qids=qids)
        assert [other[i]["inputs"] for i in range(len(other))] != [ds[i]["inputs"] for i in range(len(ds))]
    again, _ = _groups(rr, spec, qids=qids)
    assert [again[i]["inputs"] for i in range(len(again))] == [ds[i]["inputs"] for i in range(len(ds))]
    whole, _ = _groups(rr, None)
    assert whole[0]["inputs"][1] == ds[0]["inputs"][1]  # a short document is its own single passage


def test_validation_scores_passages_as_rerank_does(rr):
    """The training validation (RerankSet) with passages gives exactly the re-ranker's --passages run."""
    from rerankinject.train.data import ScoreTable
    from rerankinject.train.validation import RerankSet

    table = ScoreTable({"bm25": {"q1": dict(BM25)}})
    spec = PassageSpec("maxp", 12, 6)
    rs = RerankSet(rr.model, ["q1"], {"q1": QUERY}, table, "bm25", 10, DOCS, {"q1": {"long": 1}}, 1, spec)
    got = {r.doc_id: r.score for r in rs.rerank(rr.model)["q1"]}
    assert got == pytest.approx(_rerank(rr.set_passages("maxp", 12, 6)), abs=1e-6)
    plain = RerankSet(rr.model, ["q1"], {"q1": QUERY}, table, "bm25", 10, DOCS, {"q1": {"long": 1}}, 1)
    assert {r.doc_id: r.score for r in plain.rerank(rr.model)["q1"]} != pytest.approx(got, abs=1e-6)


@pytest.mark.parametrize("kw,msg", [({"passages": "avgp"}, "passages: 'avgp'"),
                                    ({"passages": "maxp", "passage_length": 0}, "passage_length: passage length"),
                                    ({"passages": "maxp", "passage_length": 4, "passage_stride": 5},
                                     "passage_stride: passage stride 5 > length 4"),
                                    ({"passages": "firstp", "train_file": "x.tsv", "collection": "c", "queries": "q"},
                                     "passages: splits the documents")])
def test_training_passage_settings_are_checked(kw, msg):
    from rerankinject.errors import DataError
    from rerankinject.train.config import TrainConfig

    with pytest.raises(DataError, match=msg):
        TrainConfig(dataset="dl20", sources={"bm25": "bm25"}, **kw).validate()
    assert TrainConfig(dataset="dl20", sources={"bm25": "bm25"}, passages="sump").validate().passage_spec() == \
        PassageSpec("sump", 150, 75)
    with pytest.raises(DataError, match="passage_length: set without passages"):
        TrainConfig(dataset="dl20", sources={"bm25": "bm25"}, passage_length=100).validate()
    off = TrainConfig(dataset="dl20", sources={"bm25": "bm25"}, passages="none", passage_length=100).validate()
    assert off.passages is None and off.passage_spec() is None  # `--passages none` switches a config's off


def test_train_from_config_with_passages_end_to_end(tiny_base, tmp_path):
    """A config with passages trains on passage inputs, validates with them, and its test run equals the
    re-ranker's ``--passages`` run of the best model (the pipeline passes the passage settings everywhere)."""
    from rerankinject.train.config import TrainConfig
    from rerankinject.train.pipeline import evaluate_test, train_from_config

    folder = tmp_path / "data"
    folder.mkdir()
    qids = ["q1", "q2", "q3", "q4"]
    (folder / "queries.tsv").write_text("".join(f"{q}\t{QUERY} {i}\n" for i, q in enumerate(qids)))
    (folder / "collection.tsv").write_text("".join(f"{d}\t{doc.title} {doc.text}".strip() + "\n"
                                                   for d, doc in DOCS.items() if doc.text))
    docs = [d for d in DOCS if DOCS[d].text]
    (folder / "qrels.txt").write_text("".join(f"{q} 0 {docs[i % 3]} 1\n" for i, q in enumerate(qids)))
    (folder / "run.bm25.trec").write_text("".join(f"{q} Q0 {d} {r} {BM25[d] + i} bm25\n" for i, q in
                                                  enumerate(qids) for r, d in enumerate(docs, 1)))
    (folder / "dataset.json").write_text(json.dumps({"topics": "queries.tsv", "qrels": "qrels.txt",
                                                     "corpus": "collection.tsv", "rel_level": 1,
                                                     "runs": {"bm25": "run.bm25.trec"}}))
    base = with_recipe(tiny_base, tmp_path / "init", None)
    cfg = TrainConfig(dataset=str(folder), sources={"bm25": "bm25"}, variant="BM25CAT", init_model=str(base),
                      loss="bce", lr=1e-3, warmup_steps=0, max_steps=2, batch_size=2, eval_steps=1, log_steps=1,
                      negatives_per_positive=1, neg_depth=3, val_queries=1, val_depth=3, device="cpu",
                      threads=1, passages="maxp", passage_length=12, passage_stride=6, test_dataset=str(folder),
                      test_sources={"bm25": "bm25"}, test_depth=3, output_dir=str(tmp_path / "out")).validate()
    curve = train_from_config(cfg)
    assert [e["step"] for e in curve["evaluations"]] == [0, 1, 2]
    evaluate_test(cfg)
    test_run = next((tmp_path / "out").glob("test.*.trec"))
    got = {q: {r.doc_id: r.score for r in recs[:3]} for q, recs in read_run(test_run).items()}
    bm25_run = read_run(folder / "run.bm25.trec")
    corpus = read_collection(folder / "collection.tsv")  # titles are part of the text in a TSV collection
    topics = {q: f"{QUERY} {i}" for i, q in enumerate(qids)}
    best = ScoreInjectReranker(str(tmp_path / "out" / "best"), device="cpu", batch_size=4)
    for mode in ("maxp", None):
        best.set_passages(mode, 12, 6) if mode else best.set_passages(None)
        want = {q: {r.doc_id: r.score for r in recs[:3]}
                for q, recs in best.rerank_run(bm25_run, topics, corpus, {"bm25": bm25_run}, depth=3).items()}
        for q in qids:
            if mode:
                assert got[q] == pytest.approx(want[q], abs=1e-5), q
            else:
                assert got[q] != pytest.approx(want[q], abs=1e-5), q  # truncation scores differ
