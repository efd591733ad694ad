"""scripts/results_table.py on the committed run files (docs/results) and on a results folder with runs missing."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from rerankinject.datasets.registry import load_dataset
from rerankinject.evaluate.measures import evaluate_run
from rerankinject.io.runs import read_run

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"


@pytest.fixture(scope="module")
def rt():
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pooled_tables_wait_for_every_run(rt, data_root, tmp_path):
    """Until every run of a pooled table exists it is left out - no KeyError, no partial table."""
    (tmp_path / "dl19").mkdir()
    (tmp_path / "dl20").mkdir()
    assert rt.seed_table(tmp_path) == ""
    assert rt.teacher_table(tmp_path) == ""
    assert rt.pooled_table(tmp_path, rt.TUNED_ROWS) == ""
    (tmp_path / "scifact").mkdir()
    assert rt.scifact_family_table(tmp_path) == ""


def test_seed_table_means_are_the_seeds_means(rt, data_root):
    text = rt.seed_table(RESULTS)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert {"CAT", "BM25CAT", "DPRCAT", "BM25DPRCAT", "BM25 + DPRCAT"} <= set(rows)
    for year in ("dl19", "dl20"):
        ds = load_dataset(year)
        seeds = [evaluate_run(read_run(RESULTS / year / f), ds.qrels(), ds.rel_level, ("nDCG@10",))["nDCG@10"]
                 for f in ("msmarco-dprcat-tuned.trec.gz", "msmarco-dprcat-tuned-seed43.trec.gz")]
        cell = rows["DPRCAT"].split("|")[2 if year == "dl19" else 3]
        shown = [float(x) for x in re.findall(r"\d\.\d{4}", cell)]
        assert shown == pytest.approx([*seeds, sum(seeds) / 2], abs=6e-5)
    for line in rows.values():
        for p in re.findall(r"\| (\d\.\d{3}) ", line):  # the p-value cells (3 decimals; nDCG@10 has 4)
            assert 0.0 <= float(p) <= 1.0


def test_scifact_family_table_reads_the_family_runs(rt, data_root):
    """Each variant's cell is its run's nDCG@10; the shipped model is a reference row; p-values are p-values."""
    text = rt.scifact_family_table(RESULTS)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert {"CAT", "BM25CAT", "DPRCAT", "BM25DPRCAT", "hybrid + CAT", "hybrid (reference)"} <= set(rows)
    ds = load_dataset("scifact-test")
    for label, name in (("CAT", "hybrid-cat"), ("hybrid + DPRCAT", "hybrid-dprcat-interp")):
        got = evaluate_run(read_run(RESULTS / "scifact" / f"{name}.top20.trec.gz"), ds.qrels(), ds.rel_level,
                           ("nDCG@10",))["nDCG@10"]
        assert float(rows[label].split("|")[2]) == pytest.approx(got, abs=6e-5)
    for line in rows.values():
        for p in re.findall(r"\| (\d\.\d{3}) ", line):
            assert 0.0 <= float(p) <= 1.0
