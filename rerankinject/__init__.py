"""rerankinject: inject first-stage retrieval scores as text into cross-encoder re-rankers, on Pyserini.

Data flow: data sets and run I/O (:mod:`~rerankinject.datasets`, :mod:`~rerankinject.formats`,
:mod:`~rerankinject.runs`) -> first stage (:mod:`~rerankinject.bm25`, :mod:`~rerankinject.dense`,
:mod:`~rerankinject.hybrid`) -> injection (:mod:`~rerankinject.injection`) -> re-ranking
(:mod:`~rerankinject.reranker`, :mod:`~rerankinject.interpolate`) -> evaluation
(:mod:`~rerankinject.evaluate`). Names are imported lazily so that ``import rerankinject`` neither starts the JVM
nor loads torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunRecord": "runs",
    "read_run": "runs",
    "write_run": "runs",
    "Document": "formats",
    "read_collection": "formats",
    "read_queries": "formats",
    "read_qrels": "formats",
    "load_dataset": "datasets",
    "BM25Searcher": "bm25",
    "build_lucene_index": "bm25",
    "TextEncoder": "dense",
    "DenseQueryEncoder": "dense",
    "DenseSearcher": "dense",
    "build_dense_index": "dense",
    "HybridRetriever": "hybrid",
    "HybridResult": "hybrid",
    "fuse_runs": "hybrid",
    "normalize_scores": "injection",
    "Normalizer": "injection",
    "InjectionRecipe": "injection",
    "recipe_for_variant": "injection",
    "evaluate_run": "evaluate",
    "start_jvm": "jvm",
    "ScoreInjectReranker": "reranker",
    "Candidate": "reranker",
    "Scorer": "reranker",
    "interpolate_runs": "interpolate",
    "tune_alpha": "interpolate",
    "DataError": "errors",
    "FormatError": "errors",
    "TrainConfig": "training.config",
    "load_config": "training.config",
    "train_from_config": "training.pipeline",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'rerankinject' has no attribute {name!r}")
