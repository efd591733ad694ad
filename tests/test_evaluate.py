import subprocess
import sys
from pathlib import Path

import pytest

from rerankinject.datasets.registry import load_dataset
from rerankinject.evaluate import __main__ as evaluate
from rerankinject.evaluate.measures import evaluate_run, per_query
from rerankinject.io.runs import read_run
from rerankinject.jvm import java_env


def test_published_dl19_figures(data_root):
    ds = load_dataset("dl19")
    bm25 = evaluate_run(read_run(ds.run_path("bm25")), ds.qrels(), rel_level=2)
    tasb = evaluate_run(read_run(ds.run_path("tasb")), ds.qrels(), rel_level=2)
    assert round(bm25["nDCG@10"], 4) == 0.5058
    assert round(tasb["nDCG@10"], 4) == 0.7210


def test_cross_check_against_pyserini_trec_eval(data_root):
    """Our ir_measures/pytrec_eval numbers equal Anserini's trec_eval (run through pyserini) on a real run."""
    ds = load_dataset("dl20")
    ours = evaluate_run(read_run(ds.run_path("bm25")), ds.qrels(), rel_level=2)
    cmd = [sys.executable, "-m", "pyserini.eval.trec_eval", "-c", "-l", "2", "-m", "ndcg_cut.10", "-m", "map",
           "-m", "recall.100", str(ds.qrels_path), str(ds.run_path("bm25"))]
    out = subprocess.run(cmd, capture_output=True, text=True, env=java_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    theirs = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "all":
            theirs[parts[0]] = float(parts[2])
    assert ours["nDCG@10"] == pytest.approx(theirs["ndcg_cut_10"], abs=5e-5)
    assert ours["MAP"] == pytest.approx(theirs["map"], abs=5e-5)
    assert ours["R@100"] == pytest.approx(theirs["recall_100"], abs=5e-5)


def test_missing_query_scores_zero_like_trec_eval_c():
    qrels = {"1": {"a": 1}, "2": {"b": 1}}
    run = {"1": {"a": 1.0}}
    pq = per_query(run, qrels, 1, ["nDCG@10"])
    assert pq["nDCG@10"] == {"1": 1.0, "2": 0.0}


def test_cli_table_baseline_and_per_query(tmp_path, capsys, data_root):
    ds = load_dataset("dl19")
    pq = tmp_path / "pq.tsv"
    rc = evaluate.main(["--qrels", "dl19", str(ds.run_path("tasb")), "--baseline", str(ds.run_path("bm25")),
                        "--per-query", str(pq)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "run.bm25_dl19" in out and "0.5058" in out and "0.7210†" in out
    lines = pq.read_text().splitlines()
    assert lines[0] == "run\tmeasure\tqid\tvalue" and len(lines) == 1 + 2 * 5 * 43


def test_cli_errors(tmp_path, capsys):
    bad = tmp_path / "bad.trec"
    bad.write_text("1 Q0 d 1 0.5\n")
    qrels = str(Path(__file__).parent / "fixtures" / "qrels.trec")  # runs without ../shared/data
    assert evaluate.main(["--qrels", qrels, str(bad)]) == 1
    assert f"{bad}:1: expected 6 columns" in capsys.readouterr().err
    assert evaluate.main(["--qrels", "dl99", str(bad)]) == 1
    assert "unknown data set 'dl99'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        evaluate.main(["--qrels", "dl19", "--measures", "nDCG@7", str(bad)])


def test_cli_queries_of_a_shard(tmp_path, capsys):
    """--queries-of RUN: only RUN's queries are judged (a shard), instead of scoring the missing ones 0."""
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("1 0 a 1\n2 0 b 1\n")
    shard = tmp_path / "shard.trec"
    shard.write_text("1 Q0 a 1 2.0 t\n")
    assert evaluate.main(["--qrels", str(qrels), "--measures", "nDCG@10", str(shard)]) == 0
    assert "0.5000" in capsys.readouterr().out  # query 2 counts 0
    assert evaluate.main(["--qrels", str(qrels), "--measures", "nDCG@10", "--queries-of", str(shard), str(shard)]) == 0
    out = capsys.readouterr().out
    assert "1.0000" in out and "(1 judged queries, only those of" in out
    other = tmp_path / "other.trec"
    other.write_text("9 Q0 a 1 2.0 t\n")
    assert evaluate.main(["--qrels", str(qrels), "--queries-of", str(other), str(shard)]) == 1
    assert f"{other}: none of its queries is judged" in capsys.readouterr().err


def test_ties_are_evaluated_in_file_order(tmp_path):
    """Tied scores rank by doc id ascending, as write_run writes them (trec_eval alone would put 'b' first)."""
    from rerankinject.io.runs import RunRecord, write_run

    qrels = {"q": {"b": 1}}
    p = tmp_path / "tied.trec"
    write_run([RunRecord("q", "a", 1.0), RunRecord("q", "b", 1.0)], p, tag="t")
    assert p.read_text().splitlines()[0].split()[2] == "a"
    assert evaluate_run(read_run(p), qrels, 1, ["MRR@10"])["MRR@10"] == 0.5
    assert evaluate_run({"q": {"a": 1.0, "b": 1.0}}, qrels, 1, ["MRR@10"])["MRR@10"] == 0.5
