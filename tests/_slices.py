"""Small real slices of SciFact shared by the dense and hybrid tests (never the full corpus: CPU encoding is slow)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from rerankinject.datasets.registry import load_dataset
from rerankinject.io.formats import iter_collection


def scifact_slice(data_root: Path, n_docs: int = 120, n_queries: int = 20) -> tuple[list, dict, dict]:
    """The first ``n_docs`` SciFact docs plus every doc judged for the first ``n_queries`` test queries.

    Returns (documents, topics, qrels) restricted to the slice.
    """
    ds = load_dataset("scifact-test", data_root)
    qrels = ds.qrels()
    topics = ds.topics()
    qids = list(topics)[:n_queries]
    judged = {d for q in qids for d in qrels[q]}
    docs = [d for i, d in enumerate(iter_collection(ds.corpus_path)) if i < n_docs or d.doc_id in judged]
    return docs, {q: topics[q] for q in qids}, {q: qrels[q] for q in qids}


def write_corpus(docs: list, path: Path) -> Path:
    """Write documents as a BEIR corpus.jsonl."""
    with open(path, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
    return path


def first_docs(data_root: Path, n: int) -> list:
    ds = load_dataset("scifact-test", data_root)
    return list(itertools.islice(iter_collection(ds.corpus_path), n))
