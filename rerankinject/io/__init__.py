"""Data and run I/O: files (gzip, atomic writes), collections/topics/qrels formats, TREC runs, per-query checkpoints."""

from .files import atomic_write, open_text, read_json
from .formats import Document, document_text, iter_collection, read_collection, read_qrels, read_queries
from .runs import Run, RunRecord, iter_run, read_run, sort_hits, write_run

__all__ = [
    "RunRecord",
    "Run",
    "read_run",
    "write_run",
    "iter_run",
    "sort_hits",
    "Document",
    "document_text",
    "read_collection",
    "iter_collection",
    "read_queries",
    "read_qrels",
    "atomic_write",
    "open_text",
    "read_json",
]
