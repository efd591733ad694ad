import gzip

import pytest

from rerankinject.errors import DataError, FormatError
from rerankinject.io.runs import RunRecord, read_run, records_from_dict, write_run


def test_roundtrip_full_precision_ranks_and_ties(tmp_path):
    recs = [
        RunRecord("q2", "d1", 0.1 + 0.2),  # 0.30000000000000004 must survive
        RunRecord("q2", "b", 1.5),
        RunRecord("q2", "a", 1.5),  # tie with b: doc id decides
        RunRecord("q10", "x", -3.25e-9),
        RunRecord("q1", "y", 12345.678901234567),
    ]
    out = tmp_path / "run.trec"
    write_run(recs, out, tag="t")
    lines = out.read_text().splitlines()
    assert lines[0] == "q1 Q0 y 1 12345.678901234567 t"
    assert lines[1:4] == ["q2 Q0 a 1 1.5 t", "q2 Q0 b 2 1.5 t", "q2 Q0 d1 3 0.30000000000000004 t"]
    assert lines[4] == "q10 Q0 x 1 -3.25e-09 t"
    run = read_run(out)
    assert [r.doc_id for r in run["q2"]] == ["a", "b", "d1"]
    assert run["q2"][2].score == 0.1 + 0.2
    assert all(isinstance(r.query_id, str) and isinstance(r.doc_id, str) for rs in run.values() for r in rs)


def test_numeric_query_order_and_gz(tmp_path):
    run = records_from_dict({"10": {"a": 1.0}, "9": {"b": 2.0}, "100": {"c": 0.5}})
    out = tmp_path / "run.trec.gz"
    write_run(run, out)
    with gzip.open(out, "rt") as fh:
        assert [line.split()[0] for line in fh] == ["9", "10", "100"]
    assert read_run(out) == run
    # byte-identical output between writes (gzip mtime fixed)
    out2 = tmp_path / "again.trec.gz"
    write_run(run, out2)
    assert out.read_bytes() == out2.read_bytes()


@pytest.mark.parametrize(
    "line, message",
    [
        ("q1 Q0 d1 1 0.5", "expected 6 columns"),
        ("q1 Q0 d1 one 0.5 t", "rank 'one' is not an integer"),
        ("q1 Q0 d1 1 high t", "score 'high' is not a number"),
        ("q1 Q0 d1 1 nan t", "not finite"),
        ("q1 Q0 d1 1 inf t", "not finite"),
    ],
)
def test_malformed_run_line_names_file_and_line(tmp_path, line, message):
    p = tmp_path / "bad.trec"
    p.write_text("q1 Q0 d0 1 0.9 t\n" + line + "\n")
    with pytest.raises(FormatError) as e:
        read_run(p)
    assert str(e.value).startswith(f"{p}:2: ")
    assert message in str(e.value)


def test_duplicate_pair_is_an_error(tmp_path):
    p = tmp_path / "dup.trec"
    p.write_text("q1 Q0 d0 1 0.9 t\nq1 Q0 d1 2 0.8 t\nq1 Q0 d0 3 0.1 t\n")
    with pytest.raises(FormatError, match=r"dup.trec:3: duplicate pair .* \(first at line 1\)"):
        read_run(p)


def test_missing_and_empty_run(tmp_path):
    with pytest.raises(DataError, match="run file not found"):
        read_run(tmp_path / "nope.trec")
    (tmp_path / "empty.trec").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_run(tmp_path / "empty.trec")


def test_failed_write_leaves_no_file(tmp_path):
    out = tmp_path / "run.trec"
    with pytest.raises(ValueError, match="non-finite"):
        write_run([RunRecord("q", "a", 1.0), RunRecord("q", "b", float("nan"))], out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
