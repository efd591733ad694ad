import pytest

from rerankinject import merge
from rerankinject.errors import DataError
from rerankinject.io.checkpoint import QueryCheckpoint, merge_runs, parse_shard, select_shard, shard_of
from rerankinject.io.runs import RunRecord, read_run, write_run


def _recs(q, n=3):
    return [RunRecord(q, f"d{i}", 1.0 / (i + 1) + 0.1 * len(q)) for i in range(n)]


def test_resume_skips_done_queries_and_output_is_identical(tmp_path):
    qids = [str(i) for i in range(10)]
    full = tmp_path / "full.trec"
    write_run({q: _recs(q) for q in qids}, full, tag="t")

    out = tmp_path / "run.trec"
    ck = QueryCheckpoint(out, {"job": 1})
    for q in qids[:4]:
        ck.add(q, _recs(q))
    ck.close()
    # simulate a kill in the middle of writing the next entry: a torn last line
    with open(ck.path, "a") as fh:
        fh.write('{"qid": "4", "hits": [["d0", 0.')
    assert not out.exists()

    ck = QueryCheckpoint(out, {"job": 1}, resume=True)
    assert ck.pending(qids) == qids[4:]
    for q in ck.pending(qids):
        ck.add(q, _recs(q))
    ck.finish("t")
    assert out.read_bytes() == full.read_bytes()
    assert not ck.path.exists()


def test_resume_refuses_other_config(tmp_path):
    ck = QueryCheckpoint(tmp_path / "r.trec", {"model": "a"})
    ck.add("1", _recs("1"))
    ck.close()
    with pytest.raises(DataError, match="different job configuration"):
        QueryCheckpoint(tmp_path / "r.trec", {"model": "b"}, resume=True)


def test_shards_partition_and_merge_byte_identical(tmp_path):
    qids = [str(i) for i in range(1, 60)]
    assert sorted(q for i in range(4) for q in select_shard(qids, (i, 4))) == sorted(qids)
    assert all(shard_of(q, 4) == shard_of(q, 4) for q in qids)
    assert parse_shard("2/8") == (1, 8)
    for bad in ("0/3", "4/3", "x", "1-3"):
        with pytest.raises(ValueError, match="I/N"):
            parse_shard(bad)
    run = {q: _recs(q) for q in qids}
    full = tmp_path / "full.trec"
    write_run(run, full, tag="t")
    shards = []
    for i in range(3):
        p = tmp_path / f"s{i}.trec"
        write_run({q: run[q] for q in select_shard(qids, (i, 3))}, p, tag="t")
        shards.append(str(p))
    out = tmp_path / "merged.trec"
    assert merge.main(["--output", str(out), "--tag", "t", *shards]) == 0
    assert out.read_bytes() == full.read_bytes()
    with pytest.raises(DataError, match="shards must be disjoint"):
        merge_runs([shards[0], shards[0]], tmp_path / "x.trec", "t")
    assert read_run(out) == read_run(full)
