"""Readers for the standard IR data formats: collections, queries/topics and qrels.

Supported:

* collections: TSV (``id<TAB>text`` or ``id<TAB>title<TAB>text``), JSONL as Pyserini's JsonCollection
  (``{"id", "contents"}``) or as a BEIR corpus (``{"_id", "title", "text"}``), a folder of such JSONL files;
* queries/topics: TSV (``qid<TAB>text``, MS MARCO and Anserini topics) and BEIR ``queries.jsonl``;
* qrels: TREC (``qid iter docid grade``) and BEIR TSV (``query-id<TAB>corpus-id<TAB>score`` with header).

Every reader raises :class:`~rerankinject.errors.FormatError` naming the file and line of a bad record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ..errors import DataError, FormatError
from .files import open_text

__all__ = ["Document", "iter_collection", "read_collection", "read_queries", "read_qrels", "document_text"]


class Document(NamedTuple):
    """A corpus record: id (str), title (may be empty) and body text."""

    doc_id: str
    title: str
    text: str


def document_text(doc: Document) -> str:
    """The text that is indexed and shown to re-rankers: ``title + " " + text`` (BEIR convention)."""
    return f"{doc.title} {doc.text}".strip() if doc.title else doc.text


def _is_jsonl(path: Path) -> bool:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.endswith((".jsonl", ".json"))


def _doc_from_json(obj: object, path: str, lineno: int) -> Document:
    if not isinstance(obj, dict):
        raise FormatError(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
    doc_id = obj.get("_id", obj.get("id", obj.get("docid")))
    if doc_id is None or str(doc_id).strip() == "":
        raise FormatError(path, lineno, "corpus record has no id (expected key '_id', 'id' or 'docid')")
    if "contents" in obj:
        title, text = "", obj["contents"]
    elif "text" in obj:
        title, text = obj.get("title") or "", obj["text"]
    else:
        raise FormatError(path, lineno, f"corpus record {doc_id!r} has no text (expected 'contents' or 'text')")
    if not isinstance(text, str) or not isinstance(title, str):
        raise FormatError(path, lineno, f"corpus record {doc_id!r}: title/text must be strings")
    return Document(str(doc_id), title, text)


def _iter_file(path: Path) -> Iterator[Document]:
    spath = os.fspath(path)
    with open_text(path, "collection") as fh:
        if _is_jsonl(path):
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise FormatError(spath, lineno, f"invalid JSON: {e.msg}") from None
                yield _doc_from_json(obj, spath, lineno)
        else:
            for lineno, line in enumerate(fh, 1):
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) == 2:
                    doc_id, title, text = parts[0], "", parts[1]
                elif len(parts) == 3:
                    doc_id, title, text = parts
                else:
                    raise FormatError(spath, lineno, f"expected 'id<TAB>text' or 'id<TAB>title<TAB>text', "
                                                     f"got {len(parts)} tab-separated fields")
                if not doc_id.strip():
                    raise FormatError(spath, lineno, "corpus record has no id (first column is empty)")
                yield Document(doc_id.strip(), title, text)


def iter_collection(path: str | os.PathLike) -> Iterator[Document]:
    """Stream the documents of a collection file (TSV, JSONL, .gz) or a folder of JSONL/TSV files."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and (_is_jsonl(f) or ".tsv" in f.name))
        if not files:
            raise DataError(f"collection folder has no .jsonl or .tsv files: {p}")
        for f in files:
            yield from _iter_file(f)
    else:
        yield from _iter_file(p)


def read_collection(path: str | os.PathLike) -> dict[str, Document]:
    """Read a whole collection into ``{doc id: Document}``; a repeated doc id is an error."""
    docs: dict[str, Document] = {}
    for doc in iter_collection(path):
        if doc.doc_id in docs:
            raise DataError(f"{os.fspath(path)}: doc id {doc.doc_id!r} appears twice")
        docs[doc.doc_id] = doc
    if not docs:
        raise DataError(f"collection is empty: {os.fspath(path)}")
    return docs


def read_queries(path: str | os.PathLike) -> dict[str, str]:
    """Read queries/topics into ``{query id: text}`` from TSV (``qid<TAB>text``) or BEIR queries.jsonl."""
    p = Path(path)
    spath = os.fspath(p)
    queries: dict[str, str] = {}
    with open_text(p, "topics file") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if _is_jsonl(p):
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise FormatError(spath, lineno, f"invalid JSON: {e.msg}") from None
                if not isinstance(obj, dict):
                    raise FormatError(spath, lineno, "expected a JSON object")
                qid, text = obj.get("_id", obj.get("id", obj.get("qid"))), obj.get("text", obj.get("query"))
                if qid is None or text is None:
                    raise FormatError(spath, lineno, "query record needs '_id' (or 'id'/'qid') and 'text'")
                qid, text = str(qid), str(text)
            else:
                parts = line.rstrip("\n").rstrip("\r").split("\t")
                if len(parts) != 2:
                    raise FormatError(spath, lineno, f"expected 'qid<TAB>query text', got {len(parts)} fields")
                qid, text = parts[0].strip(), parts[1].strip()
            if not qid:
                raise FormatError(spath, lineno, "query id is empty")
            if qid in queries:
                raise FormatError(spath, lineno, f"query id {qid!r} appears twice")
            queries[qid] = text
    if not queries:
        raise DataError(f"topics file is empty: {spath}")
    return queries


def read_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Read relevance judgments into ``{query id: {doc id: grade}}``.

    TREC qrels (``qid iter docid grade``, whitespace-separated) and BEIR qrels TSV (``query-id corpus-id score``,
    an optional header line) are both accepted. Grades must be integers.
    """
    p = Path(path)
    spath = os.fspath(p)
    qrels: dict[str, dict[str, int]] = {}
    with open_text(p, "qrels file") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if lineno == 1 and parts[0].lower() in ("query-id", "query_id", "qid"):
                continue  # BEIR header
            if len(parts) == 4:
                qid, _, docid, grade = parts
            elif len(parts) == 3:
                qid, docid, grade = parts
            else:
                raise FormatError(spath, lineno, f"expected 'qid iter docid grade' (TREC) or "
                                                 f"'query-id corpus-id score' (BEIR), got {len(parts)} columns")
            try:
                g = int(grade)
            except ValueError:
                raise FormatError(spath, lineno, f"relevance grade {grade!r} is not an integer") from None
            docs = qrels.setdefault(qid, {})
            if docid in docs and docs[docid] != g:
                raise FormatError(spath, lineno, f"query {qid!r} doc {docid!r} judged twice with different "
                                                 f"grades ({docs[docid]} and {g})")
            docs[docid] = g
    if not qrels:
        raise DataError(f"qrels file is empty: {spath}")
    return qrels
