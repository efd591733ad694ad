"""First stage (Pyserini's ``search``): BM25 over Lucene, dense over faiss, hybrid fusion; runs with raw scores.

CLI: ``python -m rerankinject.search``.
"""

from .faiss import DenseSearcher
from .hybrid import HybridResult, HybridRetriever, fuse_runs
from .lucene import BM25Searcher

__all__ = [
    "BM25Searcher",
    "DenseSearcher",
    "HybridRetriever",
    "HybridResult",
    "fuse_runs",
]
