"""Crash safety, resume and sharding of the real CLIs: a real process is killed with SIGKILL mid-run and resumed,
shards are merged; every final run must equal the uninterrupted single-process run byte for byte."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rerankinject import merge
from rerankinject.datasets.registry import load_dataset
from rerankinject.injection.recipe import recipe_for_variant
from rerankinject.io.checkpoint import shard_of
from rerankinject.io.runs import read_run, write_run
from rerankinject.rerank import __main__ as rerank
from rerankinject.search import __main__ as search
from tests._ce_util import make_tiny_bert, with_recipe

ROOT = Path(__file__).resolve().parents[1]


def _partial_queries(path: Path) -> int:
    """Finished queries in a .partial file (lines after the config line that parse)."""
    if not path.is_file():
        return 0
    n = 0
    for line in path.read_text(encoding="utf-8").split("\n")[1:]:
        try:
            json.loads(line)
            n += 1
        except json.JSONDecodeError:
            pass
    return n


def _kill_when_partial(argv: list[str], partial: Path, min_queries: int, timeout: float = 60.0) -> int:
    """Start ``python -m <argv>``, SIGKILL it once ``partial`` holds ``min_queries`` queries; return that count."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"process ended (rc {proc.returncode}) before it could be killed: "
                            f"{proc.stderr.read().decode()[-2000:]}")
            if _partial_queries(partial) >= min_queries:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        else:
            pytest.fail("no progress in the partial file before the timeout")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return _partial_queries(partial)


# --- search (BM25 on the full SciFact corpus) ----------------------------------------------------------------------
def _search_args(index: Path, out: Path, *extra: str) -> list[str]:
    return ["--index", str(index), "--topics", "scifact-test", "--output", str(out), "--k", "100",
            "--threads", "2", "--bm25-k1", "0.9", "--bm25-b", "0.4", "--remove-query", *extra]


@pytest.fixture(scope="module")
def search_reference(tmp_path_factory, scifact_lucene) -> Path:
    out = tmp_path_factory.mktemp("ref") / "scifact.bm25.trec"
    assert search.main(_search_args(scifact_lucene, out)) == 0
    assert not Path(str(out) + ".partial").exists()
    return out


def test_search_kill9_resume_is_byte_identical(scifact_lucene, search_reference, tmp_path, caplog):
    out = tmp_path / "run.trec"
    partial = Path(str(out) + ".partial")
    done = _kill_when_partial(["rerankinject.search", *_search_args(scifact_lucene, out, "--checkpoint-every", "4")],
                              partial, min_queries=8)
    assert 8 <= done < 300 and not out.exists()
    with caplog.at_level(logging.INFO):
        assert search.main(_search_args(scifact_lucene, out, "--checkpoint-every", "4", "--resume")) == 0
    computed = next(r.args[2] for r in caplog.records if "computed now" in r.getMessage())
    assert computed <= 300 - done + 4  # at most one chunk redone: the work already done is not redone
    assert out.read_bytes() == search_reference.read_bytes()
    assert not partial.exists()


def test_search_resume_refuses_other_config(scifact_lucene, tmp_path, capsys):
    out = tmp_path / "run.trec"
    partial = Path(str(out) + ".partial")
    partial.write_text(json.dumps({"config": {"tool": "search", "k": 5}}) + "\n")
    assert search.main(_search_args(scifact_lucene, out, "--resume")) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(partial) in err and "different job configuration" in err
    assert not out.exists()


def test_search_shards_merge_to_single_run(scifact_lucene, search_reference, tmp_path):
    n = 3
    shards = [tmp_path / f"run.shard{i}.trec" for i in range(1, n + 1)]
    for i, path in enumerate(shards, 1):
        assert search.main(_search_args(scifact_lucene, path, "--shard", f"{i}/{n}")) == 0
    parts = [set(read_run(p)) for p in shards]
    assert all(parts) and sum(len(p) for p in parts) == len(set().union(*parts)) == 300
    assert all(shard_of(q, n) == i for i, p in enumerate(parts) for q in p)
    merged = tmp_path / "merged.trec"
    assert merge.main(["--output", str(merged), "--tag", "bm25", "--expect-shards", "3", *map(str, shards)]) == 0
    assert merged.read_bytes() == search_reference.read_bytes()


def test_search_bad_shard_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        search.main(["--index", "x", "--topics", "scifact-test", "--output", str(tmp_path / "o"), "--shard", "4/3"])
    assert e.value.code == 2 and "--shard" in capsys.readouterr().err


# --- rerank (tiny random BERT, BM25CAT, real DL19 passages) --------------------------------------------------------
@pytest.fixture(scope="module")
def rerank_setup(tmp_path_factory, data_root):
    tmp = tmp_path_factory.mktemp("rr")
    model = with_recipe(make_tiny_bert(tmp / "base"), tmp / "bm25cat", recipe_for_variant("BM25CAT"))
    ds = load_dataset("dl19", data_root)
    full = read_run(ds.run_path("bm25"))
    run = tmp / "dl19.bm25.top20.trec"
    write_run({q: recs[:20] for q, recs in full.items()}, run, tag="bm25")
    return model, run


def _rerank_args(model: Path, run: Path, out: Path, *extra: str) -> list[str]:
    return ["--run", str(run), "--topics", "dl19", "--corpus", "dl19", "--model", str(model),
            "--source", f"bm25={run}", "--depth", "20", "--batch-size", "20", "--device", "cpu",
            "--output", str(out), *extra]


@pytest.fixture(scope="module")
def rerank_reference(rerank_setup, tmp_path_factory):
    model, run = rerank_setup
    out = tmp_path_factory.mktemp("rrref") / "ref.trec"
    assert rerank.main(_rerank_args(model, run, out)) == 0
    return out


def test_rerank_shards_merge_to_single_run(rerank_setup, rerank_reference, tmp_path):
    """Query by query (--group-pairs 1) shard merges are byte-identical; grouped shards equal within 1e-5."""
    model, run = rerank_setup
    single = tmp_path / "single.trec"
    assert rerank.main(_rerank_args(model, run, single, "--group-pairs", "1")) == 0
    for group in ("1", "2048"):
        shards = [tmp_path / f"s{i}.{group}.trec" for i in (1, 2)]
        for i, path in enumerate(shards, 1):
            assert rerank.main(_rerank_args(model, run, path, "--shard", f"{i}/2", "--group-pairs", group)) == 0
        merged = tmp_path / f"merged.{group}.trec"
        assert merge.main(["--output", str(merged), "--tag", "bm25cat", *map(str, shards)]) == 0
        if group == "1":
            assert merged.read_bytes() == single.read_bytes()
        else:
            a, b = read_run(merged), read_run(rerank_reference)
            assert a.keys() == b.keys()
            for q in a:
                assert [r.doc_id for r in a[q]] == [r.doc_id for r in b[q]] or \
                    max(abs(x.score - y.score) for x, y in zip(a[q], b[q], strict=True)) <= 1e-5
                assert max(abs(x.score - y.score) for x, y in zip(sorted(a[q], key=lambda r: r.doc_id),
                                                                   sorted(b[q], key=lambda r: r.doc_id),
                                                                   strict=True)) <= 1e-5


def test_rerank_resume_skips_done_queries(rerank_setup, rerank_reference, tmp_path, caplog):
    """A partial file left by a killed job (incl. a torn last line) is resumed; the result is byte-identical.

    (The SIGKILL of a real process is exercised on search above; a subprocess re-ranker costs ~30 s here.)"""
    model, run = rerank_setup
    out = tmp_path / "out.trec"
    partial = Path(str(out) + ".partial")
    from rerankinject.rerank.__main__ import _job_config, build_parser, parse_sources

    args = build_parser().parse_args(_rerank_args(model, run, out))
    config = json.loads(json.dumps(_job_config(args, parse_sources(args.source)), sort_keys=True))
    reference = read_run(rerank_reference)  # the queries a killed job had done: every other one, from its groups
    done = {q: recs for i, (q, recs) in enumerate(reference.items()) if i % 2 == 0}
    lines = [json.dumps({"config": config})]
    lines += [json.dumps({"qid": q, "hits": [[r.doc_id, r.score] for r in recs]}) for q, recs in done.items()]
    partial.write_text("\n".join(lines) + '\n{"qid": "torn', encoding="utf-8")
    with caplog.at_level(logging.INFO):
        assert rerank.main(_rerank_args(model, run, out, "--resume")) == 0
    assert any(f"{len(done)} of 43 queries already re-ranked" in r.getMessage() for r in caplog.records)
    assert out.read_bytes() == rerank_reference.read_bytes()
    assert not partial.exists()
