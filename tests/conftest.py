"""Shared fixtures: the real data root (../shared/data) and a Lucene index of SciFact built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from rerankinject.datasets.registry import find_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    try:
        return find_data_root()
    except Exception as e:  # pragma: no cover - environment problem, not a test failure
        pytest.skip(f"real data not available: {e}")


@pytest.fixture(scope="session")
def scifact_lucene(tmp_path_factory, data_root) -> Path:
    """A real Lucene index over the full SciFact corpus (5,183 docs; ~5 s to build)."""
    from rerankinject.index.lucene import build_lucene_index

    out = tmp_path_factory.mktemp("idx") / "scifact"
    build_lucene_index(data_root / "scifact/beir/corpus.jsonl", out, threads=2)
    return out
