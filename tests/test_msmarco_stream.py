"""MS MARCO-scale training, streamed: the official file formats, the prepare CLI (exact BM25 from a real Lucene
index, resumable, atomic), the file-backed dataset and a few training steps on it; bad input names file and line."""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path

import pytest

from rerankinject.errors import DataError, FormatError
from rerankinject.injection.normalize import Normalizer
from rerankinject.injection.recipe import InjectionRecipe, recipe_for_variant
from rerankinject.train import preprocess as prep_mod
from rerankinject.train.config import TrainConfig
from rerankinject.train.preprocess import main as prepare_main
from rerankinject.train.preprocess import parts_dir, prepare_examples
from tests._ce_util import make_tiny_bert

WORDS = ("apple banana cherry river mountain ocean desert forest city village music art science history "
         "engine rocket planet star").split()


def _write(path: Path, lines: list[str]) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path


@pytest.fixture(scope="module")
def marco(tmp_path_factory) -> dict:
    """A small MS MARCO in the official formats: 60 passages, 12 queries, 30 training lines in the 3 files."""
    from rerankinject.index.lucene import build_lucene_index

    root = tmp_path_factory.mktemp("marco")
    rng = random.Random(7)
    passages = {str(i): " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 30))) for i in range(60)}
    queries = {str(1000 + i): " ".join(rng.sample(WORDS, 3)) for i in range(12)}
    triples = []
    for _ in range(30):
        q = rng.choice(list(queries))
        pos, neg = rng.sample(list(passages), 2)
        triples.append((q, pos, neg, round(rng.uniform(-5, 10), 4), round(rng.uniform(-10, 5), 4)))
    f = {"root": root, "passages": passages, "queries": queries, "triples_list": triples}
    f["collection"] = _write(root / "collection.tsv", [f"{p}\t{t}" for p, t in passages.items()])
    f["queries_file"] = _write(root / "queries.train.tsv", [f"{q}\t{t}" for q, t in queries.items()])
    f["triples"] = _write(root / "triples.train.small.tsv",
                          [f"{queries[q]}\t{passages[p]}\t{passages[n]}" for q, p, n, _, _ in triples])
    f["qidpid"] = _write(root / "qidpidtriples.train.full.2.tsv.gz", [f"{q}\t{p}\t{n}" for q, p, n, _, _ in triples])
    f["teacher"] = _write(root / "bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv",
                          [f"{tp}\t{tn}\t{q}\t{p}\t{n}" for q, p, n, tp, tn in triples])
    f["index"] = root / "lucene"
    build_lucene_index(f["collection"], f["index"], threads=1)
    return f


def _read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _prepare(marco: dict, out: Path, flag: str = "--qidpidtriples", key: str = "qidpid", *extra: str) -> int:
    return prepare_main(["--collection", str(marco["collection"]), "--queries", str(marco["queries_file"]), flag,
                         str(marco[key]), "--bm25-index", str(marco["index"]), "--output", str(out), "--no-progress",
                         *extra])


def test_prepare_writes_exact_bm25_scores_of_every_pair(marco, tmp_path):
    from rerankinject.search.lucene import BM25Searcher

    out = tmp_path / "examples.jsonl.gz"
    assert _prepare(marco, out) == 0
    recs = _read_jsonl(out)
    assert [(r["qid"], *r["docs"]) for r in recs] == [t[:3] for t in marco["triples_list"]]
    assert all("teacher" not in r and set(r["scores"]) == {"bm25"} for r in recs)
    searcher = BM25Searcher(marco["index"])
    for r in recs:
        q = marco["queries"][r["qid"]]
        assert r["scores"]["bm25"] == [searcher.score(q, d) for d in r["docs"]]
    assert any(r["scores"]["bm25"][0] > 0 for r in recs)
    assert not parts_dir(out).exists()


def test_text_triples_and_teacher_file_give_the_same_pairs(marco, tmp_path):
    assert _prepare(marco, tmp_path / "ids.jsonl") == 0
    assert _prepare(marco, tmp_path / "text.jsonl", "--triples", "triples") == 0
    assert _prepare(marco, tmp_path / "teacher.jsonl", "--teacher", "teacher") == 0
    ids, text, teacher = (_read_jsonl(tmp_path / f"{n}.jsonl") for n in ("ids", "text", "teacher"))
    assert text == ids
    assert [{k: v for k, v in r.items() if k != "teacher"} for r in teacher] == ids
    assert [r["teacher"] for r in teacher] == [[t[3], t[4]] for t in marco["triples_list"]]


def test_resumed_output_is_identical_to_an_uninterrupted_one(marco, tmp_path, monkeypatch):
    whole = tmp_path / "whole.jsonl.gz"
    assert _prepare(marco, whole, "--teacher", "teacher", "--chunk-lines", "7") == 0
    out = tmp_path / "resumed.jsonl.gz"
    real = prep_mod._Scorers.score_chunk
    calls = []

    def interrupted(self, chunk, qtext, path):  # the third chunk is "killed" (the scorer is not under test)
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, chunk, qtext, path)

    monkeypatch.setattr(prep_mod._Scorers, "score_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _prepare(marco, out, "--teacher", "teacher", "--chunk-lines", "7")
    assert not out.exists() and len(list(parts_dir(out).glob("part-*.jsonl"))) == 2
    monkeypatch.setattr(prep_mod._Scorers, "score_chunk", real)
    with pytest.raises(DataError, match="chunk_lines"):  # other settings: refused, not mixed
        prepare_examples("teacher", marco["teacher"], marco["collection"], marco["queries_file"], out,
                         marco["index"], resume=True, chunk_lines=5, progress=False)
    summary = prepare_examples("teacher", marco["teacher"], marco["collection"], marco["queries_file"], out,
                               marco["index"], resume=True, chunk_lines=7, progress=False)
    assert summary["chunks_resumed"] == 2 and summary["lines"] == 30
    assert out.read_bytes() == whole.read_bytes()
    assert not parts_dir(out).exists()
    assert _prepare(marco, tmp_path / "five.jsonl", "--teacher", "teacher", "--limit", "5") == 0
    assert _read_jsonl(tmp_path / "five.jsonl") == _read_jsonl(whole)[:5]


BAD_LINES = [
    ("qidpid", lambda q, p, n, tp, tn: f"{q}\t{p}", "expected 3 tab-separated columns"),
    ("qidpid", lambda q, p, n, tp, tn: f"{q}\t{p}\t999999", "unknown negative passage id '999999'"),
    ("qidpid", lambda q, p, n, tp, tn: f"77\t{p}\t{n}", "unknown query id '77'"),
    ("teacher", lambda q, p, n, tp, tn: f"nan\t{tn}\t{q}\t{p}\t{n}", "positive teacher score 'nan' is not finite"),
    ("teacher", lambda q, p, n, tp, tn: f"{tp}\tinf\t{q}\t{p}\t{n}", "negative teacher score 'inf' is not finite"),
    ("teacher", lambda q, p, n, tp, tn: f"{tp}\t{tn}\t{q}\t{p}\tx1", "unknown negative passage id 'x1'"),
    ("teacher", lambda q, p, n, tp, tn: f"high\t{tn}\t{q}\t{p}\t{n}", "is not a number"),
    ("triples", lambda q, p, n, tp, tn: "no such query\tx\ty", "query text 'no such query' is not in the queries"),
]


@pytest.mark.parametrize(("key", "make", "message"), BAD_LINES)
def test_bad_training_line_names_file_and_line_and_writes_nothing(marco, tmp_path, key, make, message):
    src = marco[key]
    good = (gzip.open(src, "rt") if src.name.endswith(".gz") else open(src)).read().splitlines()
    q, p, n, tp, tn = marco["triples_list"][0]
    bad = _write(tmp_path / src.name, [*good[:20], make(q, p, n, tp, tn), *good[20:]])
    kind = {"qidpid": "qidpidtriples", "teacher": "teacher", "triples": "triples"}[key]
    out = tmp_path / "out.jsonl.gz"
    with pytest.raises(FormatError, match=message) as err:
        prepare_examples(kind, bad, marco["collection"], marco["queries_file"], out, marco["index"],
                         chunk_lines=5, progress=False)
    assert str(err.value).startswith(f"{bad}:21: ")
    assert not out.exists() and not parts_dir(out).exists() and list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize(("which", "lines", "message", "lineno"), [
    ("collection", ["0\tfirst", "1"], "expected 'id<TAB>text'", 2),
    ("queries_file", ["1000\tq one", "1001\tq two", "1000\tagain"], "id '1000' appears twice", 3),
])
def test_bad_collection_or_queries_line(marco, tmp_path, which, lines, message, lineno):
    bad = _write(tmp_path / f"{which}.tsv", lines)
    files = {"collection": marco["collection"], "queries_file": marco["queries_file"], which: bad}
    out = tmp_path / "out.jsonl"
    with pytest.raises(FormatError, match=message) as err:
        prepare_examples("qidpidtriples", marco["qidpid"], files["collection"], files["queries_file"], out,
                         progress=False)
    assert str(err.value).startswith(f"{bad}:{lineno}: ")
    assert sorted(tmp_path.iterdir()) == [bad]
    with pytest.raises(SystemExit):  # argparse: --no-scores excludes an index
        _prepare(marco, out, "--qidpidtriples", "qidpid", "--no-scores")


@pytest.fixture(scope="module")
def scored(marco, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scored") / "teacher.jsonl.gz"
    prepare_examples("teacher", marco["teacher"], marco["collection"], marco["queries_file"], out, marco["index"],
                     progress=False)
    return out


def test_streamed_dataset_matches_the_in_memory_groups(marco, scored, tmp_path):
    """Same token ids, rendered scores (global normaliser), teacher and lengths as GroupDataset; nothing in memory."""
    import numpy as np

    from rerankinject.io.formats import Document
    from rerankinject.scoring.model import CrossEncoderModel
    from rerankinject.train.examples import Example, GroupDataset, TokenCache
    from rerankinject.train.stream import StreamedGroupDataset

    recipe = recipe_for_variant("BM25CAT", bounds={"bm25": (0.0, 12.0)}, max_length=64)
    ce = CrossEncoderModel(make_tiny_bert(tmp_path / "tiny", recipe), device="cpu")
    ds = StreamedGroupDataset(scored, marco["queries_file"], marco["collection"], ce.builder, bm25_source="bm25",
                              cache_dir=tmp_path / "cache")
    recs = _read_jsonl(scored)
    assert len(ds) == 30 and ds.group_size == 2 and ds.has_teacher and ds.sources == ["bm25"]
    assert isinstance(ds.offsets, np.memmap) and isinstance(ds.lengths, np.memmap)
    examples = [Example(r["qid"], r["docs"], recipe.render_query({"bm25": dict(zip(r["docs"], r["scores"]["bm25"],
                                                                                 strict=True))}, r["docs"]),
                        r["teacher"], r["scores"]["bm25"]) for r in recs]
    corpus = {p: Document(p, "", t) for p, t in marco["passages"].items()}
    mem = GroupDataset(examples, marco["queries"], corpus, ce.builder, TokenCache(ce.tokenizer, 64))
    assert mem.has_teacher and list(ds.lengths) == mem.lengths
    for i in (0, 7, 29):
        assert ds[i] == mem[i]
    again = StreamedGroupDataset(scored, marco["queries_file"], marco["collection"], ce.builder,
                                 cache_dir=tmp_path / "cache")  # the cache is reused
    assert again.folder == ds.folder and again[3]["bm25"] is None and again[3]["inputs"] == ds[3]["inputs"]
    import pickle

    assert pickle.loads(pickle.dumps(ds))[5] == ds[5]  # DataLoader workers (spawn) get a reopened copy

    per_query = InjectionRecipe(sources=("bm25",), normalizers={"bm25": Normalizer("minmax-query")})
    with pytest.raises(DataError, match="per query"):
        StreamedGroupDataset(scored, marco["queries_file"], marco["collection"],
                             type(ce.builder)(per_query, ce.tokenizer), cache_dir=tmp_path / "cache")
    dpr = recipe_for_variant("DPRCAT")
    with pytest.raises(DataError, match="injects \\['dpr'\\]"):
        StreamedGroupDataset(scored, marco["queries_file"], marco["collection"], type(ce.builder)(dpr, ce.tokenizer),
                             cache_dir=tmp_path / "cache")


def test_bad_examples_line_names_file_and_line(marco, scored, tmp_path):
    from rerankinject.scoring.model import CrossEncoderModel
    from rerankinject.train.stream import StreamedGroupDataset

    ce = CrossEncoderModel(make_tiny_bert(tmp_path / "tiny"), device="cpu")
    lines = gzip.decompress(scored.read_bytes()).decode().splitlines()
    rec = json.loads(lines[3])
    rec["teacher"] = [1.0, math.inf]
    bad = _write(tmp_path / "bad.jsonl", [*lines[:3], json.dumps(rec), *lines[4:]])
    with pytest.raises(FormatError, match=f"^{bad}:4: 'teacher' must be two finite numbers"):
        StreamedGroupDataset(bad, marco["queries_file"], marco["collection"], ce.builder, cache_dir=tmp_path / "c")
    rec["teacher"], rec["docs"] = [1.0, 2.0], [rec["docs"][0], "404"]
    bad = _write(tmp_path / "bad2.jsonl", [*lines[:3], json.dumps(rec), *lines[4:]])
    with pytest.raises(DataError, match="not in the collection"):
        StreamedGroupDataset(bad, marco["queries_file"], marco["collection"], ce.builder, cache_dir=tmp_path / "c")
    assert [p.name for p in (tmp_path / "c").iterdir()] == []  # no half-built cache left


def test_config_keys_of_a_streamed_training_file():
    ok = TrainConfig(train_file="x.jsonl.gz", collection="c.tsv", queries="q.tsv", loss="margin-mse").validate()
    assert ok.dataset == "" and ok.teacher["kind"] == "none"
    with pytest.raises(DataError, match="queries: required with train_file"):
        TrainConfig(train_file="x", collection="c").validate()
    with pytest.raises(DataError, match="loss: listwise needs groups"):
        TrainConfig(train_file="x", collection="c", queries="q", loss="listwise").validate()
    with pytest.raises(DataError, match="collection: only used with train_file"):
        TrainConfig(dataset="dl20", sources={"bm25": "bm25"}, collection="c").validate()
    with pytest.raises(DataError, match="dataset: required"):
        TrainConfig().validate()


def test_train_from_config_on_a_streamed_file(marco, scored, tmp_path):
    """A few Trainer steps with margin-MSE on the teacher scores of the file, BM25 injected, no validation set."""
    from rerankinject.scoring.model import CrossEncoderModel
    from rerankinject.train.pipeline import train_from_config

    cfg = TrainConfig(train_file=str(scored), collection=str(marco["collection"]), queries=str(marco["queries_file"]),
                      variant="BM25CAT", bounds={"bm25": [0, 12]}, loss="margin-mse", max_length=64,
                      init_model=str(make_tiny_bert(tmp_path / "tiny")), output_dir=str(tmp_path / "out"),
                      max_steps=3, batch_size=4, warmup_steps=0, lr=1e-3, log_steps=1, eval_steps=2, device="cpu",
                      threads=1, cache_dir=str(tmp_path / "cache")).validate()
    curve = train_from_config(cfg)
    assert curve["total_steps"] == 3 and curve["pairs_seen"] == 3 * 4 * 2
    assert len(curve["train_loss"]) == 3 and all(math.isfinite(x["loss"]) for x in curve["train_loss"])
    best = CrossEncoderModel(tmp_path / "out" / "best", device="cpu")
    assert best.recipe.variant == "BM25CAT" and best.recipe.normalizers["bm25"].high == 12


def test_prepare_adds_exact_dense_scores_from_a_faiss_index(marco, tmp_path):
    from rerankinject.encode.encoder import TextEncoder
    from rerankinject.index.faiss import build_dense_index
    from rerankinject.search.faiss import DenseSearcher

    dense = tmp_path / "dense"
    build_dense_index(marco["collection"], dense, progress=False,
                      encoder=TextEncoder(pooling="mean", normalize=True, max_length=32, batch_size=32))
    out = tmp_path / "both.jsonl"
    summary = prepare_examples("qidpidtriples", marco["qidpid"], marco["collection"], marco["queries_file"], out,
                               marco["index"], dense, limit=10, chunk_lines=4, progress=False)
    assert summary["sources"] == ["bm25", "dpr"] and summary["lines"] == 10
    searcher = DenseSearcher(dense)
    for r in _read_jsonl(out):
        want = [searcher.score(marco["queries"][r["qid"]], d) for d in r["docs"]]
        assert r["scores"]["dpr"] == pytest.approx(want, abs=1e-5)
