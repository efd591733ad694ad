"""The bad-input catalogue (docs/reliability.md): every case runs a real CLI ``main(argv)`` and must end with ONE
line naming the file and line (or the flag), a non-zero exit, and no output file (nor a ``.partial``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rerankinject import merge
from rerankinject.evaluate import __main__ as evaluate
from rerankinject.injection.recipe import recipe_for_variant
from rerankinject.interpolate import __main__ as interpolate
from rerankinject.rerank import __main__ as rerank
from rerankinject.search import __main__ as search
from rerankinject.train import __main__ as train
from tests._ce_util import make_tiny_bert, with_recipe

RUN = ("q1 Q0 d1 1 12.5 bm25\nq1 Q0 d3 2 9.0 bm25\nq1 Q0 d2 3 2.0 bm25\n"
       "q2 Q0 d4 1 10.0 bm25\nq2 Q0 d2 2 1.5 bm25\n")
CORPUS = "d1\tfleas carry plague\nd2\tstock prices rose\nd3\tcats get fleas\nd4\tbanana bread\n"
TOPICS = "q1\tdo fleas carry disease\nq2\tbanana recipes\n"
QRELS = "q1 0 d1 2\nq1 0 d2 0\nq2 0 d4 1\n"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    base = make_tiny_bert(tmp / "base")
    return {"cat": with_recipe(base, tmp / "cat", None),
            "bm25cat": with_recipe(base, tmp / "bm25cat", recipe_for_variant("BM25CAT"))}


@pytest.fixture
def ws(tmp_path):
    """A workspace with good files; each case spoils one."""
    for name, text in {"run.trec": RUN, "corpus.tsv": CORPUS, "topics.tsv": TOPICS, "qrels.txt": QRELS}.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def _check(capsys, code, out: Path | None, needles, exit_code=1):
    err = capsys.readouterr().err.strip()
    assert code == exit_code, err
    lines = err.splitlines()
    last = lines[-1]
    if exit_code == 1:  # a data error: exactly one line (after any log lines), "error: ..."
        assert last.startswith("error: "), err
        assert "Traceback" not in err, err
    else:  # argparse: usage + one "prog: error: ..." line
        assert ": error: " in last, err
    for n in needles:
        assert n in last, (n, last)
    if out is not None:
        assert not out.exists(), f"{out} was written"
        assert not Path(str(out) + ".partial").exists(), f"{out}.partial was left behind"


def _rerank(ws, model, *extra, run=None, corpus=None, topics=None):
    return ["--run", str(run or ws / "run.trec"), "--topics", str(topics or ws / "topics.tsv"),
            "--corpus", str(corpus or ws / "corpus.tsv"), "--model", str(model), "--device", "cpu",
            "--output", str(ws / "out.trec"), *extra]


def _main_exit(main, argv):
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def _spoil(path: Path, lineno: int, text: str) -> Path:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


# --- runs ------------------------------------------------------------------------------------------------------------
RUN_CASES = {
    "five columns": (2, "q1 Q0 d3 2 9.0", "run.trec:2", "expected 6 columns"),
    "NaN score": (3, "q1 Q0 d2 3 nan bm25", "run.trec:3", "not finite"),
    "text score": (1, "q1 Q0 d1 1 high bm25", "run.trec:1", "not a number"),
    "rank not an integer": (4, "q2 Q0 d4 first 10.0 bm25", "run.trec:4", "rank"),
    "duplicate pair": (2, "q1 Q0 d1 2 9.0 bm25", "run.trec:2", "duplicate pair"),
    "doc not in corpus": (5, "q2 Q0 d9 2 1.5 bm25", "run.trec:5", "not in the corpus"),
    "query not in topics": (4, "q7 Q0 d4 1 10.0 bm25", "run.trec:4", "not in the topics"),
}


@pytest.mark.parametrize("case", RUN_CASES)
def test_bad_run_rerank(case, ws, models, capsys):
    lineno, text, *needles = RUN_CASES[case]
    _spoil(ws / "run.trec", lineno, text)
    code = rerank.main(_rerank(ws, models["cat"]))
    _check(capsys, code, ws / "out.trec", [str(ws / needles[0]), *needles[1:]])


def test_bad_source_run(ws, models, capsys):
    src = _spoil(ws / "src.trec", 1, "q1 Q0 d1 1 inf bm25") if (ws / "src.trec").write_text(RUN) else None
    code = rerank.main(_rerank(ws, models["bm25cat"], "--source", f"bm25={src}"))
    _check(capsys, code, ws / "out.trec", [f"{src}:1", "not finite"])


def test_bad_run_evaluate_per_query(ws, capsys):
    _spoil(ws / "run.trec", 2, "q1 Q0 d3 2 NaN bm25")
    per_query = ws / "per_query.tsv"
    code = evaluate.main([str(ws / "run.trec"), "--qrels", str(ws / "qrels.txt"), "--per-query", str(per_query)])
    _check(capsys, code, per_query, [f"{ws / 'run.trec'}:2"])


def test_empty_run_interpolate(ws, capsys):
    (ws / "ce.trec").write_text("")
    code = interpolate.main(["--first", str(ws / "run.trec"), "--ce", str(ws / "ce.trec"), "--alpha", "0.5",
                             "--output", str(ws / "out.trec")])
    _check(capsys, code, ws / "out.trec", [str(ws / "ce.trec"), "empty"])


def test_overlapping_shards_merge(ws, capsys):
    shutil.copy(ws / "run.trec", ws / "s2.trec")
    code = merge.main(["--output", str(ws / "out.trec"), "--tag", "x", str(ws / "run.trec"), str(ws / "s2.trec")])
    _check(capsys, code, ws / "out.trec", [str(ws / "s2.trec"), "disjoint"])


# --- qrels ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lineno,text,needle", [(2, "q1 0 d2 relevant", "not an integer"),
                                                (3, "q2 0 d4 1 extra", "expected")])
def test_bad_qrels(lineno, text, needle, ws, capsys):
    _spoil(ws / "qrels.txt", lineno, text)
    per_query = ws / "pq.tsv"
    code = evaluate.main([str(ws / "run.trec"), "--qrels", str(ws / "qrels.txt"), "--per-query", str(per_query)])
    _check(capsys, code, per_query, [f"{ws / 'qrels.txt'}:{lineno}", needle])


# --- topics --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lineno,text,needle", [(2, "q2 banana recipes", "expected 'qid<TAB>query text'"),
                                                (2, "q1\tagain", "appears twice")])
def test_bad_topics_rerank(lineno, text, needle, ws, models, capsys):
    _spoil(ws / "topics.tsv", lineno, text)
    code = rerank.main(_rerank(ws, models["cat"]))
    _check(capsys, code, ws / "out.trec", [f"{ws / 'topics.tsv'}:{lineno}", needle])


def test_missing_topics_search(ws, capsys):
    code = search.main(["--index", str(ws / "no-index"), "--topics", str(ws / "nope.tsv"),
                        "--output", str(ws / "out.trec")])
    _check(capsys, code, ws / "out.trec", ["nope.tsv"])


# --- flags below their minimum: a usage error naming the flag (cli.require_min), before any work -------------------
@pytest.mark.parametrize("cli,argv,needle", [
    ("search", ["--retriever", "bm25", "--index", "i", "--topics", "t", "--output", "o", "--rrf-k", "-1"],
     "--rrf-k must be >= 0, got -1"),
    ("search", ["--retriever", "bm25", "--index", "i", "--topics", "t", "--output", "o", "--checkpoint-every", "0"],
     "--checkpoint-every must be >= 1, got 0"),
    ("rerank", ["--run", "r", "--topics", "t", "--corpus", "c", "--model", "m", "--output", "o", "--group-pairs", "0"],
     "--group-pairs must be >= 1, got 0"),
    ("rerank", ["--run", "r", "--topics", "t", "--corpus", "c", "--model", "m", "--output", "o", "--max-length", "8"],
     "--max-length must be >= 16, got 8"),
    ("evaluate", ["--qrels", "dl19", "--rel-level", "0", "run"], "--rel-level must be >= 1, got 0"),
    ("preprocess", ["--collection", "c", "--queries", "q", "--triples", "t", "--output", "o", "--chunk-lines", "0"],
     "--chunk-lines must be >= 1, got 0"),
])
def test_flag_below_minimum(cli, argv, needle, tmp_path, capsys):
    from rerankinject.train import preprocess

    main = {"search": search.main, "rerank": rerank.main, "evaluate": evaluate.main, "preprocess": preprocess.main}[cli]
    assert _main_exit(main, [str(tmp_path / "o") if a == "o" else a for a in argv]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --- corpora -------------------------------------------------------------------------------------------------------
def test_bad_corpus_jsonl(ws, models, capsys):
    corpus = ws / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "text": "fleas"}\n{"_id": "d2", "text": "stock\n')
    code = rerank.main(_rerank(ws, models["cat"], corpus=corpus))
    _check(capsys, code, ws / "out.trec", [f"{corpus}:2", "invalid JSON"])


def test_corpus_record_without_text(ws, models, capsys):
    corpus = ws / "corpus.jsonl"
    corpus.write_text('{"_id": "d1", "text": "fleas"}\n{"_id": "d2", "title": "stock"}\n')
    code = rerank.main(_rerank(ws, models["cat"], corpus=corpus))
    _check(capsys, code, ws / "out.trec", [f"{corpus}:2", "no text"])


def test_corpus_tsv_without_text(ws, models, capsys):
    _spoil(ws / "corpus.tsv", 3, "d3")
    code = rerank.main(_rerank(ws, models["cat"]))
    _check(capsys, code, ws / "out.trec", [f"{ws / 'corpus.tsv'}:3"])


# --- training configs ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,where,needle", [
    ("dataset: scifact\nsources: [bm25\nlr: 1e-5\n", ":3", "invalid YAML"),
    ("dataset: scifact\nlearning_rat: 1e-5\n", ":2", "unknown config key 'learning_rat'"),
    ("- dataset\n- scifact\n", "", "expected a mapping"),
])
def test_bad_training_config(text, where, needle, tmp_path, capsys):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(text)
    code = train.main(["--config", str(cfg), "--output-dir", str(tmp_path / "out")])
    _check(capsys, code, tmp_path / "out", [f"{cfg}{where}", needle])


def test_resume_of_another_configs_checkpoint(tmp_path, capsys):
    """output_dir holds a checkpoint that a BM25CAT config wrote: a CAT config may not train it further."""
    from rerankinject.train.config import load_config

    cfg, out = tmp_path / "train.yaml", tmp_path / "out"
    cfg.write_text("dataset: scifact\nsources: {bm25: run.trec}\nvariant: CAT\n")
    (out / "checkpoint-10").mkdir(parents=True)
    theirs = load_config(cfg, {"output_dir": str(out), "variant": "BM25CAT"}).to_dict()
    (out / "training_args.json").write_text(json.dumps(theirs))
    code = train.main(["--config", str(cfg), "--output-dir", str(out)])
    _check(capsys, code, None, [f"{out / 'training_args.json'}", "another training config",
                                "variant: 'BM25CAT' there, 'CAT' here"])


# --- checkpoints (model folders) -------------------------------------------------------------------------------------
def test_model_without_config_json(ws, models, capsys):
    model = shutil.copytree(models["cat"], ws / "m")
    (model / "config.json").unlink()
    code = rerank.main(_rerank(ws, model))
    _check(capsys, code, ws / "out.trec", [str(model), "no config.json"])


def test_model_broken_config_json(ws, models, capsys):
    model = shutil.copytree(models["cat"], ws / "m")
    (model / "config.json").write_text('{\n  "model_type": "bert",\n  oops\n}\n')
    code = rerank.main(_rerank(ws, model))
    _check(capsys, code, ws / "out.trec", [f"{model / 'config.json'}:3", "invalid JSON"])


def test_model_broken_injection_json(ws, models, capsys):
    model = shutil.copytree(models["bm25cat"], ws / "m")
    (model / "injection.json").write_text('{\n  "variant": "BM25CAT",\n  "sources": [bm25]\n}\n')
    code = rerank.main(_rerank(ws, model))
    _check(capsys, code, ws / "out.trec", [f"{model / 'injection.json'}:3"])


def test_model_injection_json_bad_field(ws, models, capsys):
    model = shutil.copytree(models["bm25cat"], ws / "m")
    recipe = json.loads((model / "injection.json").read_text())
    recipe["no_such_field"] = 1
    (model / "injection.json").write_text(json.dumps(recipe, indent=2))
    code = rerank.main(_rerank(ws, model))
    _check(capsys, code, ws / "out.trec", [str(model / "injection.json")])


def test_recipe_needs_source_not_given(ws, models, capsys):
    code = rerank.main(_rerank(ws, models["bm25cat"]))
    _check(capsys, code, ws / "out.trec", ["--source bm25=RUN"])


def test_missing_model_folder(ws, capsys):
    code = rerank.main(_rerank(ws, ws / "no-model"))
    _check(capsys, code, ws / "out.trec", [str(ws / "no-model")])


# --- resume checkpoints (.partial) ---------------------------------------------------------------------------------
def test_resume_corrupt_partial(ws, models, capsys):
    from rerankinject.rerank.__main__ import _job_config, build_parser

    argv = _rerank(ws, models["cat"], "--resume")
    config = json.dumps({"config": _job_config(build_parser().parse_args(argv), {})}, sort_keys=True, default=str)
    partial = ws / "out.trec.partial"
    partial.write_text(config + '\n{"qid": "q1", oops\n{"qid": "q2", "hits": []}\n')
    code = rerank.main(argv)
    _check(capsys, code, None, [f"{partial}:2", "corrupt checkpoint line"])
    assert not (ws / "out.trec").exists()


def test_resume_other_config(ws, models, capsys):
    partial = ws / "out.trec.partial"
    partial.write_text('{"config": {"tool": "rerank", "depth": 7}}\n')
    code = rerank.main(_rerank(ws, models["cat"], "--resume"))
    _check(capsys, code, None, [str(partial), "different job configuration"])
    assert not (ws / "out.trec").exists()


# --- CLI flags -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags,needle", [(["--depth", "0"], "--depth"), (["--shard", "3/2"], "--shard"),
                                          (["--shard", "half"], "--shard"), (["--source", "bm25"], "--source"),
                                          (["--batch-size", "0"], "--batch-size"), (["--tag", "a b"], "--tag")])
def test_bad_rerank_flags(flags, needle, ws, models, capsys):
    code = _main_exit(rerank.main, _rerank(ws, models["cat"], *flags))
    _check(capsys, code, ws / "out.trec", [needle], exit_code=2)


@pytest.mark.parametrize("flags,needle", [(["--k", "0"], "--k"), (["--shard", "0/4"], "--shard"),
                                          (["--retriever", "dense"], "--dense-index"),
                                          (["--checkpoint-every", "0"], "--checkpoint-every")])
def test_bad_search_flags(flags, needle, ws, capsys):
    code = _main_exit(search.main, ["--index", str(ws), "--topics", str(ws / "topics.tsv"),
                                    "--output", str(ws / "out.trec"), *flags])
    _check(capsys, code, ws / "out.trec", [needle], exit_code=2)


def test_bad_merge_and_interpolate_flags(ws, capsys):
    code = _main_exit(merge.main, ["--output", str(ws / "out.trec"), "--tag", "x", "--expect-shards", "2",
                                   str(ws / "run.trec")])
    _check(capsys, code, ws / "out.trec", ["--expect-shards"], exit_code=2)
    code = _main_exit(interpolate.main, ["--first", str(ws / "run.trec"), "--ce", str(ws / "run.trec"),
                                         "--alpha", "2", "--output", str(ws / "out.trec")])
    _check(capsys, code, ws / "out.trec", ["--alpha"], exit_code=2)
