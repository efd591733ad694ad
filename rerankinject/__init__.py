"""rerankinject: inject first-stage retrieval scores as text into cross-encoder re-rankers, on Pyserini.

Data flow, one subpackage a step (docs/architecture.md): data sets and run I/O (:mod:`~rerankinject.datasets`,
:mod:`~rerankinject.io`) -> indexing and first stage (:mod:`~rerankinject.encode`, :mod:`~rerankinject.index`,
:mod:`~rerankinject.search`: lucene, faiss, hybrid) -> injection (:mod:`~rerankinject.injection`) -> scoring
backends (:mod:`~rerankinject.scoring`) -> re-ranking (:mod:`~rerankinject.rerank`, the
:mod:`~rerankinject.interpolate` baseline) -> evaluation (:mod:`~rerankinject.evaluate`); training apart
(:mod:`~rerankinject.train`). Names are imported lazily so that ``import rerankinject`` neither starts the JVM
nor loads torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunRecord": "io.runs",
    "read_run": "io.runs",
    "write_run": "io.runs",
    "Document": "io.formats",
    "read_collection": "io.formats",
    "read_queries": "io.formats",
    "read_qrels": "io.formats",
    "load_dataset": "datasets.registry",
    "BM25Searcher": "search.lucene",
    "build_lucene_index": "index.lucene",
    "TextEncoder": "encode.encoder",
    "DenseQueryEncoder": "encode.encoder",
    "DenseSearcher": "search.faiss",
    "build_dense_index": "index.faiss",
    "HybridRetriever": "search.hybrid",
    "HybridResult": "search.hybrid",
    "fuse_runs": "search.hybrid",
    "normalize_scores": "injection.normalize",
    "Normalizer": "injection.normalize",
    "InjectionRecipe": "injection.recipe",
    "recipe_for_variant": "injection.recipe",
    "evaluate_run": "evaluate.measures",
    "start_jvm": "jvm",
    "ScoreInjectReranker": "rerank.reranker",
    "Candidate": "rerank.reranker",
    "RankedPassage": "rerank.reranker",
    "PassageSpec": "rerank.passages",
    "Scorer": "rerank.reranker",
    "interpolate_runs": "interpolate.baseline",
    "tune_alpha": "interpolate.baseline",
    "DataError": "errors",
    "FormatError": "errors",
    "TrainConfig": "train.config",
    "load_config": "train.config",
    "train_from_config": "train.pipeline",
    "InputBuilder": "injection.inputs",
    "text_pairs": "injection.interop",
    "CrossEncoderModel": "scoring.model",
    "PairScorer": "scoring.protocol",
    "make_scorer": "scoring.factory",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'rerankinject' has no attribute {name!r}")
