"""A Pyserini user's first contact, on the committed fixtures only (tests/fixtures; no ../shared data).

Their formats (TREC SGML, JsonCollection, BEIR, TSV; TREC/TSV/BEIR topics; TREC/BEIR qrels) read alike and as
Anserini reads them; bad input fails on one line naming file, line and format, writing nothing; outputs get the
user's umask; ``--remove-query`` says what it dropped; the CLIs are quiet; a plain Hugging Face cross-encoder scores
as sentence-transformers' ``CrossEncoder``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rerankinject.errors import FormatError
from rerankinject.io.files import atomic_write, replace_dir
from rerankinject.io.formats import (
    detect_collection_format,
    document_text,
    read_collection,
    read_qrels,
    read_queries,
)

FX = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "models" / "minilm-l6-msmarco-bm25cat"
COLLECTIONS = {"trec": FX / "trec", "trec-file": FX / "collection.trec", "json": FX / "collection.jsonl",
               "json-folder": FX / "json", "beir": FX / "corpus.jsonl", "tsv": FX / "collection.tsv"}


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


def test_every_collection_format_reads_the_same_documents():
    texts = {name: {d: document_text(doc) for d, doc in read_collection(p).items()} for name, p in COLLECTIONS.items()}
    assert len(texts["trec"]) == 36
    for name, t in texts.items():
        assert t == texts["trec"], name
    assert {n: detect_collection_format(p) for n, p in COLLECTIONS.items()} == {
        "trec": "trec", "trec-file": "trec", "json": "json", "json-folder": "json", "beir": "beir", "tsv": "tsv"}
    assert read_collection(FX / "collection.tsv", "tsv") == read_collection(FX / "collection.tsv")


def test_trec_readers_agree_with_anserini():
    """Our strict parsers give what Anserini's TrecCollection and TrecTopicReader give (through Pyserini)."""
    from rerankinject.jvm import start_jvm

    start_jvm()
    from jnius import autoclass
    from pyserini.search import get_topics_with_reader

    coll = autoclass("io.anserini.collection.TrecCollection")(autoclass("java.nio.file.Paths").get(str(FX / "trec")))
    anserini = {}
    segments = coll.iterator()
    while segments.hasNext():
        docs = segments.next().iterator()
        while docs.hasNext():
            d = docs.next()
            anserini[d.id()] = d.contents()
    ours = read_collection(FX / "trec")
    assert anserini == {d: document_text(doc) for d, doc in ours.items()}
    topics = get_topics_with_reader("io.anserini.search.topicreader.TrecTopicReader", str(FX / "topics.trec"))
    for field in ("title", "description", "narrative"):
        assert read_queries(FX / "topics.trec", field=field) == {str(q): t[field] for q, t in topics.items()}


def test_topic_and_qrels_formats_agree():
    trec = read_queries(FX / "topics.trec")
    assert trec == read_queries(FX / "topics.tsv") == read_queries(FX / "queries.jsonl") == read_queries(
        FX / "topics.trec", "trec", "title")
    both = read_queries(FX / "topics.trec", field="title+description")["301"]
    assert both.startswith("solar panel efficiency How efficient")
    assert read_qrels(FX / "qrels.trec") == read_qrels(FX / "qrels.beir.tsv", "beir") == read_qrels(
        FX / "qrels.trec", "trec")


@pytest.mark.parametrize("content, fmt, match", [
    ("<DOC>\n<DOCNO> a </DOCNO>\ntext\n</DOC>\n<DOC>\n<DOCNO> b </DOCNO>\n<TEXT>\ncut", "auto",
     r"c\.sgml:5: <DOC> has no </DOC> \(truncated document\?\) \(read as TREC SGML collection, format 'trec'\)"),
    ("<DOC>\n<DOCNO> a </DOCNO>\n</DOC>\n\n<DOC>\n<TEXT> no id </TEXT>\n</DOC>\n", "trec",
     r"c\.sgml:5: <DOC> without a <DOCNO>id</DOCNO> \(read as TREC SGML collection"),
    ("<DOC>\n<DOCNO> a </DOCNO>\n<DOC>\n<DOCNO> b </DOCNO>\n</DOC>\n", "auto",
     r"c\.sgml:1: <DOC> has no </DOC> before the next <DOC> at line 3"),
    ("a\tb\n", "json", r"c\.sgml:1: invalid JSON.*JsonCollection"),
    ("a\tb\n", "sgml", r"c\.sgml: unknown collection format 'sgml' \(expected one of auto, trec, json, beir, tsv\)"),
])
def test_bad_collections_fail_on_one_line(tmp_path, content, fmt, match):
    path = tmp_path / "c.sgml"
    path.write_text(content)
    with pytest.raises(FormatError, match=match) as e:
        read_collection(path, fmt)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content, kw, match", [
    ("<top>\n<num> Number: 1\n<title> one\n</top>\n\n<top>\n<num> Number: 2\n<desc> Description:\nno title\n</top>\n",
     {}, r"t\.txt:6: topic 2 has no <title> .*\(read as TREC topics, format 'trec'\)"),
    ("<top>\n<num> Number: 1\n<title> one\n</top>\n", {"field": "narrative"}, r"t\.txt:1: topic 1 has no <narr>"),
    ("<top>\n<num> Number: 1\n<title> one\n", {}, r"t\.txt:1: <top> has no </top> \(truncated topic\?\)"),
    ("1\tq\n", {"fmt": "trec-xml"}, r"t\.txt: unknown topics format 'trec-xml'"),
    ("1\tq\n1\tagain\n", {}, r"t\.txt:2: query id '1' appears twice \(read as TSV topics"),
])
def test_bad_topics_fail_on_one_line(tmp_path, content, kw, match):
    path = tmp_path / "t.txt"
    path.write_text(content)
    with pytest.raises(FormatError, match=match):
        read_queries(path, **kw)


def test_bad_qrels_name_the_format(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("1 0 d1 1\n1 d2\n")
    with pytest.raises(FormatError, match=r"q\.txt:2: expected 'query-id corpus-id score', got 2 columns \(read as "
                                          r"BEIR qrels"):
        read_qrels(path)
    with pytest.raises(FormatError, match="unknown qrels format 'xml'"):
        read_qrels(path, "xml")


def test_cli_bad_input_one_line_and_nothing_written(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(FX / "trec" / "fx01", bad / "fx01")
    (bad / "fx03").write_text("<DOC>\n<DOCNO> X-1 </DOCNO>\n<TEXT>\ntruncated")
    r = _cli("rerankinject.index", "lucene", "--collection", bad, "--index", tmp_path / "idx", "--threads", "1")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        f"error: {bad / 'fx03'}:1: <DOC> has no </DOC> (truncated document?) (read as TREC SGML collection, "
        "format 'trec')")
    assert not (tmp_path / "idx").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad"]
    r = _cli("rerankinject.index", "lucene", "--collection", bad, "--index", tmp_path / "idx",
             "--collection-format", "sgml")
    assert r.returncode == 2 and "invalid choice: 'sgml'" in r.stderr


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_outputs_get_the_users_umask_and_stay_atomic(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        with atomic_write(tmp_path / "run.trec") as fh:
            fh.write("1 Q0 d 1 1.0 x\n")
        with atomic_write(tmp_path / "run.trec.gz") as fh:
            fh.write("1 Q0 d 1 1.0 x\n")
        with pytest.raises(RuntimeError), atomic_write(tmp_path / "killed.trec") as fh:
            fh.write("half")
            raise RuntimeError("killed")
        import tempfile

        tmp = Path(tempfile.mkdtemp(dir=tmp_path))
        (tmp / "sub").mkdir()
        with atomic_write(tmp / "sub" / "meta.json") as fh:
            fh.write("{}")
        replace_dir(tmp, tmp_path / "index")
    finally:
        os.umask(old)
    assert not (tmp_path / "killed.trec").exists() and not list(tmp_path.glob(".*.tmp"))
    for f in ("run.trec", "run.trec.gz", "index/sub/meta.json"):
        assert (tmp_path / f).stat().st_mode & 0o777 == file_mode, f
    for d in ("index", "index/sub"):
        assert (tmp_path / d).stat().st_mode & 0o777 == dir_mode, d


def test_remove_query_logs_what_it_dropped(tmp_path, caplog):
    """Small integer ids on both sides: --remove-query drops real documents, and says so."""
    from rerankinject.index.lucene import build_lucene_index
    from rerankinject.search.__main__ import main as search

    docs = list(read_collection(FX / "trec").values())
    (tmp_path / "c.tsv").write_text("".join(f"{i}\t{document_text(d)}\n" for i, d in enumerate(docs, 1)))
    (tmp_path / "t.tsv").write_text("1\tsolar panel efficiency\n2\tcoral reef bleaching\n")
    build_lucene_index(tmp_path / "c.tsv", tmp_path / "idx")
    with caplog.at_level(logging.INFO):
        assert search(["--index", str(tmp_path / "idx"), "--topics", str(tmp_path / "t.tsv"), "--k", "10",
                       "--threads", "1", "--output", str(tmp_path / "r.trec"), "--remove-query"]) == 0
    assert "--remove-query dropped 1 hit(s) whose doc id equals their query id (2 queries" in caplog.text
    assert not any(line.split()[2] == "1" for line in (tmp_path / "r.trec").read_text().splitlines()
                   if line.startswith("1 "))


def test_trec_sgml_fixture_end_to_end_quiet(tmp_path, capsys):
    """index -> BM25 / dense / hybrid -> re-rank -> evaluate on the SGML folder and TREC topics, through the CLIs."""
    from rerankinject.evaluate.__main__ import main as evaluate
    from rerankinject.index.__main__ import main as index
    from rerankinject.rerank.__main__ import main as rerank
    from rerankinject.search.__main__ import main as search

    topics = ["--topics", str(FX / "topics.trec"), "--topics-format", "trec", "--topic-field", "title"]
    r = _cli("rerankinject.index", "lucene", "--collection", FX / "trec", "--index", tmp_path / "idx", "--threads", "1")
    assert r.returncode == 0, r.stderr
    r2 = _cli("rerankinject.search", "--index", tmp_path / "idx", *topics, "--output", tmp_path / "bm25.trec",
              "--k", "20", "--threads", "1")
    assert r2.returncode == 0, r2.stderr
    for out in (r.stderr, r2.stderr):  # quiet: no faiss import errors, no JVM or Lucene warnings, no Anserini INFO
        assert "ModuleNotFoundError" not in out and "WARNING:" not in out and "WARN " not in out, out
        assert "SLF4J" not in out and "INFO  [main]" not in out, out
    assert (tmp_path / "bm25.trec").stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert (tmp_path / "idx").stat().st_mode & 0o777 == 0o777 & ~_umask()
    assert index(["dense", "--collection", str(FX / "trec"), "--index", str(tmp_path / "dense"), "--normalize",
                  "--threads", "1", "--batch-size", "64"]) == 0
    assert search(["--retriever", "dense", "--dense-index", str(tmp_path / "dense"), *topics, "--k", "20",
                   "--threads", "1", "--output", str(tmp_path / "dense.trec")]) == 0
    assert search(["--retriever", "hybrid", "--index", str(tmp_path / "idx"), "--dense-index",
                   str(tmp_path / "dense"), *topics, "--k", "20", "--threads", "1",
                   "--output", str(tmp_path / "hybrid.trec")]) == 0
    assert rerank(["--run", str(tmp_path / "hybrid.trec"), *topics, "--corpus", str(FX / "trec"),
                   "--collection-format", "trec", "--model", str(SHIPPED), "--source",
                   f"bm25={tmp_path / 'hybrid.bm25.trec'}", "--depth", "20", "--threads", "1",
                   "--output", str(tmp_path / "bm25cat.trec")]) == 0
    capsys.readouterr()
    assert evaluate(["--qrels", str(FX / "qrels.trec"), "--measures", "nDCG@10",
                     *(str(tmp_path / f"{n}.trec") for n in ("bm25", "dense", "hybrid", "bm25cat"))]) == 0
    table = capsys.readouterr().out
    ndcg = {line.split()[0]: float(line.split()[1].rstrip("†")) for line in table.splitlines()
            if line.split() and line.split()[0] in ("bm25", "dense", "hybrid", "bm25cat")}
    assert len(ndcg) == 4 and ndcg["bm25cat"] > ndcg["bm25"] > 0.3, table


def _umask() -> int:
    from rerankinject.io.files import current_umask

    return current_umask()


@pytest.fixture(scope="module")
def plain_folder(tmp_path_factory) -> Path:
    """The shipped checkpoint without its injection.json: a plain Hugging Face cross-encoder folder."""
    folder = tmp_path_factory.mktemp("plain") / "ce"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(SHIPPED / name, folder / name)
    return folder


def test_plain_folder_scores_as_sentence_transformers(plain_folder, caplog):
    """Own max length, no query cap, recipe logged once, same logits as CrossEncoder.predict (long inputs too)."""
    import torch
    from sentence_transformers import CrossEncoder

    from rerankinject.scoring.model import CrossEncoderModel

    with caplog.at_level(logging.INFO):
        ce = CrossEncoderModel(plain_folder, device="cpu", threads=1)
    recipe_lines = [r.getMessage() for r in caplog.records if "recipe CAT" in r.getMessage()]
    assert len(recipe_lines) == 1 and "plain Hugging Face folder" in recipe_lines[0], caplog.text
    st = CrossEncoder(str(plain_folder), device="cpu", activation_fn=torch.nn.Identity())
    assert ce.recipe.max_length == st.max_seq_length == 512 and ce.recipe.query_max_tokens is None
    docs = read_collection(FX / "trec")
    passages = [document_text(d) for d in docs.values()][:6]  # FX01-006 is long (> 512 tokens)
    assert max(len(ce.tokenizer(p)["input_ids"]) for p in passages) > 512
    long_query = " ".join(["how efficient are photovoltaic solar panels in cold climates"] * 12)  # > 30 tokens
    pairs = [(q, p) for q in ("solar panel efficiency", long_query) for p in passages]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ours = ce.predict([x for q in ("solar panel efficiency", long_query)
                           for x in ce.builder.encode(q, passages, [{}] * len(passages))])
    assert "longer than the specified maximum" not in caplog.text
    theirs = st.predict(pairs, batch_size=4)
    assert max(abs(a - float(b)) for a, b in zip(ours, theirs, strict=True)) < 1e-4


def test_folder_with_injection_json_keeps_its_recipe(caplog):
    from rerankinject.injection.recipe import InjectionRecipe
    from rerankinject.scoring.model import CrossEncoderModel

    with caplog.at_level(logging.INFO):
        ce = CrossEncoderModel(SHIPPED, device="cpu", threads=1)
    assert ce.recipe.to_dict() == InjectionRecipe.load(SHIPPED).to_dict()
    assert "(injection.json)" in caplog.text
