"""Shared fixtures: the real data root (../shared/data) and a Lucene index of SciFact built once per session.

Without the data (no ``../shared/data``, or ``$RERANKINJECT_DATA`` naming a folder without it) the tests that need it
skip and the suite still runs on the committed fixtures (``tests/fixtures``, see ``scripts/make_fixtures.py``);
the summary line says how many were skipped for want of the data.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rerankinject.datasets.registry import find_data_root

NO_DATA = "real data not available"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def data_root() -> Path:
    try:
        root = find_data_root()
    except Exception as e:  # pragma: no cover - environment problem, not a test failure
        pytest.skip(f"{NO_DATA}: {e}")
    if not any((root / name).is_dir() for name in ("scifact", "msmarco-dl", "nfcorpus")):
        pytest.skip(f"{NO_DATA}: {root} holds no data set folder (scifact, msmarco-dl, nfcorpus)")
    return root


@pytest.fixture(scope="session")
def scifact_lucene(tmp_path_factory, data_root) -> Path:
    """A real Lucene index over the full SciFact corpus (5,183 docs; ~5 s to build)."""
    from rerankinject.index.lucene import build_lucene_index

    out = tmp_path_factory.mktemp("idx") / "scifact"
    build_lucene_index(data_root / "scifact/beir/corpus.jsonl", out, threads=2)
    return out


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how many tests skipped for want of ../shared/data (and that the rest ran on tests/fixtures)."""
    skipped = terminalreporter.stats.get("skipped", [])
    no_data = sum(1 for rep in skipped if NO_DATA in str(getattr(rep, "longrepr", "")))
    if no_data:
        ran = sum(len(terminalreporter.stats.get(k, [])) for k in ("passed", "failed", "error"))
        terminalreporter.write_line(f"{no_data} test(s) skipped for want of the data (../shared/data or "
                                    f"$RERANKINJECT_DATA); {ran} ran, on tests/fixtures among others")


def pytest_collection_modifyitems(config, items):
    """Run the Ray tests last: a Ray runtime started in this process, then the JVM used again by later tests, has
    crashed the process (SIGSEGV seen on 2026-12-03); Ray after every JVM test does not."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_ray.py"))
