"""Linear interpolation baseline: alpha 1 / 0 reproduce the inputs, tuning picks the best alpha on other queries."""

from __future__ import annotations

import math

import pytest

from rerankinject.errors import DataError
from rerankinject.interpolate.__main__ import main
from rerankinject.interpolate.baseline import alpha_grid, interpolate_runs, tune_alpha
from rerankinject.io.runs import RunRecord, read_run, records_from_dict, write_run

FIRST = records_from_dict({"q1": {"a": 10.0, "b": 8.0, "c": 6.0, "d": 1.0}, "q2": {"x": 3.0, "y": 2.0}})
CE = records_from_dict({"q1": {"a": -2.0, "b": 1.0, "c": 3.0}, "q2": {"x": 0.0, "y": 5.0}})


def _order(run, q):
    return [r.doc_id for r in run[q]]


def test_alpha_extremes_and_tail():
    assert _order(interpolate_runs(FIRST, CE, 1.0), "q1") == ["a", "b", "c", "d"]
    assert _order(interpolate_runs(FIRST, CE, 0.0), "q1") == ["c", "b", "a", "d"]  # d: not re-ranked, kept last
    mid = interpolate_runs(FIRST, CE, 0.5)
    # minmax-query: first a=1 b=.5 c=0, ce a=0 b=.6 c=1 -> a .5, b .55, c .5
    assert mid["q1"][0] == RunRecord("q1", "b", pytest.approx(0.55))
    assert {r.doc_id: r.score for r in mid["q1"]}["a"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="alpha must be in"):
        interpolate_runs(FIRST, CE, 1.5)
    with pytest.raises(DataError, match="not in the first-stage run"):
        interpolate_runs(FIRST, records_from_dict({"q1": {"zz": 1.0}}), 0.5)
    assert alpha_grid(0.25) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_tune_alpha():
    qrels = {"q1": {"c": 1}, "q2": {"x": 1}}
    best, values = tune_alpha(FIRST, CE, qrels, grid=[0.0, 0.5, 1.0])
    # alpha 0 (CE): q1 c at 1, q2 x at 2; alpha 1 (first stage): q1 c at 3, q2 x at 1
    assert values[0.0] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    assert values[1.0] == pytest.approx((1 / math.log2(4) + 1) / 2)
    assert best == 0.0
    best, values = tune_alpha(FIRST, CE, {"q2": {"x": 1}}, grid=[0.0, 0.6, 0.8, 1.0])
    assert values[0.6] == values[1.0] == 1.0 and best == 0.6  # ties go to the smallest alpha


def test_cli(tmp_path, capsys):
    f, c, out = tmp_path / "f.trec", tmp_path / "c.trec", tmp_path / "o.trec"
    write_run(FIRST, f)
    write_run(CE, c)
    assert main(["--first", str(f), "--ce", str(c), "--alpha", "1", "--output", str(out)]) == 0
    assert _order(read_run(out), "q1") == ["a", "b", "c", "d"]
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 c 1\nq2 0 x 1\n")
    out.unlink()
    # tuning queries must differ from the test queries
    assert main(["--first", str(f), "--ce", str(c), "--tune-first", str(f), "--tune-ce", str(c),
                 "--tune-qrels", str(qrels), "--output", str(out)]) == 1
    assert "overlap" in capsys.readouterr().err and not out.exists()
    tf, tc = tmp_path / "tf.trec", tmp_path / "tc.trec"
    write_run({"t1": [RunRecord("t1", d, s) for d, s in [("a", 2.0), ("b", 1.0)]]}, tf)
    write_run({"t1": [RunRecord("t1", d, s) for d, s in [("a", 0.0), ("b", 1.0)]]}, tc)
    qrels.write_text("t1 0 b 1\n")
    assert main(["--first", str(f), "--ce", str(c), "--tune-first", str(tf), "--tune-ce", str(tc),
                 "--tune-qrels", str(qrels), "--alpha-step", "0.5", "--output", str(out)]) == 0
    assert capsys.readouterr().out == "alpha\t0.0\n"
    with pytest.raises(SystemExit):
        main(["--first", str(f), "--ce", str(c), "--output", str(out)])


def test_cli_depth_interpolates_only_the_reranked_part(tmp_path):
    """`rerank --depth 3` writes the re-ranked 3 and the rest below them: --depth 3 interpolates the 3 alone."""
    f, c = tmp_path / "f.trec", tmp_path / "c.trec"
    write_run(FIRST, f)
    with_tail = {q: list(recs) for q, recs in CE.items()}
    with_tail["q1"].append(RunRecord("q1", "d", -10.0))  # the tail, below the re-ranked documents
    write_run(with_tail, c)
    expected = interpolate_runs(FIRST, CE, 0.5)
    out = tmp_path / "o.trec"
    assert main(["--first", str(f), "--ce", str(c), "--alpha", "0.5", "--depth", "3", "--output", str(out)]) == 0
    got = read_run(out)
    assert _order(got, "q1") == _order(expected, "q1") and got["q1"][0].score == pytest.approx(0.55)
    full = tmp_path / "full.trec"
    assert main(["--first", str(f), "--ce", str(c), "--alpha", "0.5", "--output", str(full)]) == 0
    assert read_run(full)["q1"][0].score != pytest.approx(0.55)  # d in the min-max: other scores
    with pytest.raises(SystemExit):
        main(["--first", str(f), "--ce", str(c), "--alpha", "0.5", "--depth", "0", "--output", str(out)])
