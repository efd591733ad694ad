"""Named data sets (TREC DL, SciFact, NFCorpus, the MS MARCO-style training text) and local data set folders.

CLI: ``python -m rerankinject.datasets {list,verify,download}``.
"""

from .registry import (
    DATASETS,
    Dataset,
    DatasetSpec,
    download,
    find_data_root,
    is_dataset,
    load_dataset,
    load_local_dataset,
    rel_level_for,
    resolve_qrels,
    resolve_topics,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSpec",
    "load_dataset",
    "load_local_dataset",
    "is_dataset",
    "find_data_root",
    "resolve_topics",
    "resolve_qrels",
    "rel_level_for",
    "download",
]
