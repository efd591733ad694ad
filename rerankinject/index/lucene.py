"""Lucene indexing on Anserini: :func:`build_lucene_index` from any supported collection (atomic, with metadata)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..errors import DataError
from ..io.files import atomic_write, read_json, replace_dir
from ..io.formats import document_text, iter_collection
from ..jvm import start_jvm

__all__ = ["INDEX_META", "build_lucene_index", "read_index_meta"]

logger = logging.getLogger(__name__)

INDEX_META = "rerankinject.json"



def read_index_meta(index_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``rerankinject.json`` metadata of an index built here ({} for an index built elsewhere)."""
    path = Path(index_dir) / INDEX_META
    if not path.is_file():
        return {}
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise DataError(f"{path}:1: expected a JSON object")
    return meta


def _check_index_dir(index_dir: str | os.PathLike) -> Path:
    p = Path(index_dir)
    if not p.is_dir():
        raise DataError(f"Lucene index not found: {p} (build it with `python -m rerankinject.index lucene`)")
    if not any(f.name.startswith("segments_") for f in p.iterdir()):
        raise DataError(f"not a Lucene index (no segments_* file): {p}")
    return p


def build_lucene_index(collection: str | os.PathLike, index_dir: str | os.PathLike, threads: int = 1,
                       store_positions: bool = True, store_docvectors: bool = True,
                       store_raw: bool = True, overwrite: bool = False,
                       collection_format: str = "auto") -> dict[str, Any]:
    """Index a collection with Anserini's IndexCollection (DefaultLuceneDocumentGenerator).

    The collection (TREC SGML, JsonCollection, BEIR corpus, TSV, a folder of those; ``collection_format`` names one
    of :data:`~rerankinject.io.formats.COLLECTION_FORMATS`, default detected) is converted to
    Pyserini's JsonCollection (``contents`` = title + " " + text, as BEIR "flat" indexes do) in a temporary folder,
    indexed into a temporary sibling of ``index_dir`` and renamed into place when complete.

    Anserini skips a document with no text (nothing to index); its id is recorded as ``empty_documents`` in the
    metadata, so that :class:`~rerankinject.search.lucene.BM25Searcher` gives it the score such a document has for
    every query, 0.0, instead of refusing it as unknown (a dense index does embed it, so hybrid search and
    re-scoring meet it).

    Returns:
        Index metadata (documents, empty documents, seconds, collection path) also written to
        ``index_dir/rerankinject.json``.

    """
    index_dir = Path(index_dir)
    if index_dir.exists():
        if not overwrite:
            raise DataError(f"index folder already exists: {index_dir} (pass --overwrite to rebuild)")
    t0 = time.perf_counter()
    start_jvm()
    from jnius import autoclass

    index_dir.parent.mkdir(parents=True, exist_ok=True)
    n_docs = 0
    empty: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rerankinject-json-") as json_dir:
        with atomic_write(Path(json_dir) / "docs.jsonl") as fh:
            for doc in tqdm(iter_collection(collection, collection_format), desc="convert", unit="doc", mininterval=2):
                if not document_text(doc).strip():
                    empty.append(doc.doc_id)
                fh.write(json.dumps({"id": doc.doc_id, "contents": document_text(doc)}, ensure_ascii=False) + "\n")
                n_docs += 1
        if n_docs == 0:
            raise DataError(f"collection is empty: {collection}")
        tmp_index = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.", dir=index_dir.parent))
        args = ["-collection", "JsonCollection", "-input", json_dir, "-index", str(tmp_index),
                "-generator", "DefaultLuceneDocumentGenerator", "-threads", str(threads)]
        if store_positions:
            args.append("-storePositions")
        if store_docvectors:
            args.append("-storeDocvectors")
        if store_raw:
            args.append("-storeRaw")
        logger.info("IndexCollection %s", " ".join(args))
        try:
            autoclass("io.anserini.index.IndexCollection").main(args)
        except Exception as e:
            import shutil

            shutil.rmtree(tmp_index, ignore_errors=True)
            raise RuntimeError(f"Anserini IndexCollection failed on {collection}: {e}") from None
    seconds = time.perf_counter() - t0
    meta = {"collection": os.fspath(Path(collection).resolve()), "documents": n_docs,
            "seconds": round(seconds, 3), "contents": "title + ' ' + text", "tool": "anserini IndexCollection",
            "empty_documents": empty}
    if empty:
        logger.warning("%d document(s) have no text and are not indexed (as Anserini does); BM25 scores them 0.0 "
                       "(e.g. %r)", len(empty), empty[0])
    with atomic_write(tmp_index / INDEX_META) as fh:
        fh.write(json.dumps(meta, indent=2) + "\n")
    replace_dir(tmp_index, index_dir)
    logger.info("indexed %d documents into %s in %.1fs", n_docs, index_dir, seconds)
    return meta


