import shutil

import pytest

from rerankinject.datasets import __main__ as datasets
from rerankinject.datasets.registry import download, load_dataset, resolve_topics
from rerankinject.errors import DataError


def test_named_datasets(data_root):
    dl19 = load_dataset("dl19")
    assert len(dl19.topics()) == 43 and dl19.rel_level == 2
    assert sum(len(v) for v in dl19.qrels().values()) == 9260
    dl20 = load_dataset("dl20")
    assert len(dl20.topics()) == 200 and len(dl20.qrels()) == 54
    test = load_dataset("scifact-test")
    assert len(test.topics()) == 300 and test.rel_level == 1
    assert len(load_dataset("scifact-train").topics()) == 809
    assert dl19.run_path("tasb").name == "run.tasb_dl19.trec"


def test_unknown_dataset_name():
    with pytest.raises(DataError, match=r"unknown data set 'dl21' \(known: dl19, dl20"):
        load_dataset("dl21")
    with pytest.raises(DataError, match="unknown data set 'scifact'"):
        resolve_topics("scifact")
    with pytest.raises(SystemExit):
        datasets.main(["download", "nope"])


def test_download_from_file_mirror_verifies_checksums(tmp_path, data_root):
    dest = tmp_path / "data"
    paths = download("scifact-test", data_root=dest, mirror=data_root.as_uri())
    assert len(paths) == 3 and all(p.is_file() for p in paths)
    ds = load_dataset("scifact-test", dest)
    assert len(ds.topics()) == 300
    # a corrupted mirror file is refused and leaves nothing behind
    bad = tmp_path / "badmirror"
    shutil.copytree(data_root / "scifact", bad / "scifact")
    qrels = bad / "scifact/beir/qrels/test.tsv"
    qrels.write_text(qrels.read_text() + "999\t1\t1\n")
    with pytest.raises(DataError, match="checksum mismatch"):
        download("scifact-test", data_root=tmp_path / "d2", mirror=bad.as_uri())
    assert not (tmp_path / "d2/scifact/beir/qrels/test.tsv").exists()


def test_checksum_mismatch_on_load(tmp_path, data_root):
    root = tmp_path / "root"
    shutil.copytree(data_root / "scifact", root / "scifact")
    (root / "scifact/beir/queries.jsonl").write_text('{"_id": "1", "text": "tampered"}\n')
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("scifact-test", root).topics()


def test_missing_data_root(tmp_path):
    with pytest.raises(DataError, match="data root .* is not a folder"):
        load_dataset("dl19", tmp_path / "absent")
