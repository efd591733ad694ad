"""Indexing: Lucene (Anserini) and dense faiss indexes. CLI: ``python -m rerankinject.index {lucene,dense}``."""

from .faiss import build_dense_index
from .lucene import build_lucene_index

__all__ = [
    "build_lucene_index",
    "build_dense_index",
]
