"""Readers for the standard IR data formats: collections, queries/topics and qrels.

Accepted (the format is detected from the file, or named with ``--collection-format`` / ``--topics-format`` /
``--qrels-format``):

* collections (:data:`COLLECTION_FORMATS`):

  - ``trec``: Anserini's TrecCollection, SGML ``<DOC><DOCNO>id</DOCNO> ... </DOC>`` (the text of every other tag,
    e.g. ``<HEADLINE>`` and ``<TEXT>``, with the tags removed, as Anserini indexes it); a file, a ``.gz`` file or a
    folder of such files (searched recursively, hidden files skipped);
  - ``json``: Pyserini/Anserini JsonCollection, ``{"id": ..., "contents": ...}`` per line (``.jsonl``, ``.json``,
    ``.gz``, or a folder of them);
  - ``beir``: a BEIR ``corpus.jsonl``, ``{"_id", "title", "text"}`` per line;
  - ``tsv``: ``id<TAB>text`` or ``id<TAB>title<TAB>text`` (MS MARCO ``collection.tsv``);

* topics (:data:`TOPIC_FORMATS`): ``trec`` (TREC topic files ``<top><num> Number: 301 <title> ... <desc> ...
  <narr> ...</top>``; the query is the ``--topic-field``, ``title`` by default), ``tsv`` (``qid<TAB>text``, the
  Pyserini/Anserini and MS MARCO topics) and ``beir`` (``queries.jsonl``, ``{"_id", "text"}``);
* qrels (:data:`QRELS_FORMATS`): ``trec`` (``qid iter docid grade``) and ``beir`` (``query-id<TAB>corpus-id<TAB>
  score`` with its header line).

Every reader raises :class:`~rerankinject.errors.FormatError` on one line, naming the file, the line of the bad
record and the format it was read as. The parsers are strict re-implementations (Anserini's readers skip or
truncate bad records without saying where); the tests check that they give the same documents and topics as
Anserini's ``TrecCollection`` and ``TrecTopicReader`` on the fixtures.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ..errors import DataError, FormatError
from .files import open_text

__all__ = ["Document", "iter_collection", "read_collection", "read_queries", "read_qrels", "document_text",
           "COLLECTION_FORMATS", "TOPIC_FORMATS", "QRELS_FORMATS", "TOPIC_FIELDS", "detect_collection_format",
           "detect_topics_format"]

COLLECTION_FORMATS = ("auto", "trec", "json", "beir", "tsv")
TOPIC_FORMATS = ("auto", "trec", "tsv", "beir")
QRELS_FORMATS = ("auto", "trec", "beir")
TOPIC_FIELDS = ("title", "description", "narrative", "title+description")

_NAMES = {
    ("collection", "trec"): "TREC SGML collection", ("collection", "json"): "JsonCollection",
    ("collection", "beir"): "BEIR corpus", ("collection", "tsv"): "TSV collection",
    ("topics", "trec"): "TREC topics", ("topics", "tsv"): "TSV topics", ("topics", "beir"): "BEIR queries",
    ("qrels", "trec"): "TREC qrels", ("qrels", "beir"): "BEIR qrels",
}


def _err(path: str | os.PathLike, line: int | None, kind: str, fmt: str, msg: str) -> FormatError:
    return FormatError(path, line, f"{msg} (read as {_NAMES.get((kind, fmt), fmt)}, format {fmt!r})")


def _check_format(fmt: str, allowed: tuple[str, ...], kind: str, path: str | os.PathLike) -> None:
    if fmt not in allowed:
        raise FormatError(path, None, f"unknown {kind} format {fmt!r} (expected one of {', '.join(allowed)})")


class Document(NamedTuple):
    """A corpus record: id (str), title (may be empty) and body text."""

    doc_id: str
    title: str
    text: str


def document_text(doc: Document) -> str:
    """The text that is indexed and shown to re-rankers: ``title + " " + text`` (BEIR convention)."""
    return f"{doc.title} {doc.text}".strip() if doc.title else doc.text


def _plain_name(path: Path) -> str:
    return path.name[:-3] if path.name.endswith(".gz") else path.name


def _is_jsonl(path: Path) -> bool:
    return _plain_name(path).endswith((".jsonl", ".json"))


def _first_line(path: Path, what: str) -> str:
    """The first non-blank line of a (possibly gzipped) text file, stripped ('' for an empty file)."""
    with open_text(path, what) as fh:
        for line in fh:
            if line.strip():
                return line.strip()
    return ""


def detect_collection_format(path: str | os.PathLike) -> str:
    """The format of a collection file or folder: ``trec``, ``json``, ``beir`` or ``tsv``.

    A file starting with ``<DOC`` is TREC SGML; a ``.jsonl``/``.json`` file (or one whose first line is a JSON
    object) is ``beir`` when its first record has ``_id``, else ``json``; anything else is TSV. A folder takes the
    format of its first file.
    """
    p = Path(path)
    if p.is_dir():
        files = _collection_files(p)
        if not files:
            raise DataError(f"collection folder has no files: {p}")
        return detect_collection_format(files[0])
    first = _first_line(p, "collection")
    if first[:4].upper() == "<DOC":
        return "trec"
    if _is_jsonl(p) or first.startswith("{"):
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            return "json"
        return "beir" if isinstance(obj, dict) and "_id" in obj else "json"
    return "tsv"


def _collection_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*")
                  if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts))


def _doc_from_json(obj: object, path: str, lineno: int, fmt: str) -> Document:
    if not isinstance(obj, dict):
        raise _err(path, lineno, "collection", fmt, f"expected a JSON object, got {type(obj).__name__}")
    doc_id = obj.get("_id", obj.get("id", obj.get("docid")))
    if doc_id is None or str(doc_id).strip() == "":
        raise _err(path, lineno, "collection", fmt, "corpus record has no id (expected key '_id', 'id' or 'docid')")
    if "contents" in obj:
        title, text = "", obj["contents"]
    elif "text" in obj:
        title, text = obj.get("title") or "", obj["text"]
    else:
        raise _err(path, lineno, "collection", fmt,
                   f"corpus record {doc_id!r} has no text (expected 'contents' or 'text')")
    if not isinstance(text, str) or not isinstance(title, str):
        raise _err(path, lineno, "collection", fmt, f"corpus record {doc_id!r}: title/text must be strings")
    return Document(str(doc_id), title, text)


_SGML_DOC = re.compile(r"<(/?)DOC>", re.IGNORECASE)
_SGML_DOCNO = re.compile(r"<DOCNO>(.*?)</DOCNO>", re.IGNORECASE | re.DOTALL)
_SGML_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _iter_trec(path: Path) -> Iterator[Document]:
    """Documents of one TREC SGML file: id from ``<DOCNO>``, text = the rest with tags removed (as Anserini)."""
    spath = os.fspath(path)
    with open_text(path, "collection") as fh:
        data = fh.read()
    line, pos, start, start_line, n_docs = 1, 0, -1, 0, 0
    for m in _SGML_DOC.finditer(data):
        line += data.count("\n", pos, m.start())
        pos = m.start()
        if not m.group(1):  # <DOC>
            if start >= 0:
                raise _err(spath, start_line, "collection", "trec",
                           f"<DOC> has no </DOC> before the next <DOC> at line {line} (truncated document?)")
            start, start_line = m.end(), line
            continue
        if start < 0:
            raise _err(spath, line, "collection", "trec", "</DOC> without an opening <DOC>")
        body = data[start:m.start()]
        no = _SGML_DOCNO.search(body)
        if no is None or not no.group(1).strip():
            raise _err(spath, start_line, "collection", "trec", "<DOC> without a <DOCNO>id</DOCNO>")
        text = _SGML_TAG.sub(" ", body[:no.start()] + " " + body[no.end():])
        yield Document(no.group(1).strip(), "", _SPACE.sub(" ", html.unescape(text)).strip())
        start, n_docs = -1, n_docs + 1
    if start >= 0:
        raise _err(spath, start_line, "collection", "trec", "<DOC> has no </DOC> (truncated document?)")
    if n_docs == 0 and data.strip():
        raise _err(spath, 1, "collection", "trec", "no <DOC> element found")


def _iter_file(path: Path, fmt: str) -> Iterator[Document]:
    spath = os.fspath(path)
    if fmt == "auto":
        fmt = detect_collection_format(path)
    if fmt == "trec":
        yield from _iter_trec(path)
        return
    with open_text(path, "collection") as fh:
        if fmt in ("json", "beir"):
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise _err(spath, lineno, "collection", fmt, f"invalid JSON: {e.msg}") from None
                yield _doc_from_json(obj, spath, lineno, fmt)
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
                    raise _err(spath, lineno, "collection", fmt, f"expected 'id<TAB>text' or 'id<TAB>title<TAB>"
                                                                 f"text', got {len(parts)} tab-separated fields")
                if not doc_id.strip():
                    raise _err(spath, lineno, "collection", fmt, "corpus record has no id (first column is empty)")
                yield Document(doc_id.strip(), title, text)


def iter_collection(path: str | os.PathLike, fmt: str = "auto") -> Iterator[Document]:
    """Stream the documents of a collection file or folder.

    Args:
        path: a file (``.gz`` allowed) or a folder of files (searched recursively; hidden files skipped).
        fmt: one of :data:`COLLECTION_FORMATS`; ``auto`` detects it per file (:func:`detect_collection_format`).

    Raises:
        FormatError: a bad record (file, line, format) or an unknown format name.
        DataError: the path does not exist or the folder is empty.
    """
    p = Path(path)
    _check_format(fmt, COLLECTION_FORMATS, "collection", p)
    if p.is_dir():
        files = _collection_files(p)
        if not files:
            raise DataError(f"collection folder has no files: {p}")
        for f in files:
            yield from _iter_file(f, fmt)
    else:
        yield from _iter_file(p, fmt)


def read_collection(path: str | os.PathLike, fmt: str = "auto") -> dict[str, Document]:
    """Read a whole collection into ``{doc id: Document}``; a repeated doc id is an error (:func:`iter_collection`)."""
    docs: dict[str, Document] = {}
    for doc in iter_collection(path, fmt):
        if doc.doc_id in docs:
            raise DataError(f"{os.fspath(path)}: doc id {doc.doc_id!r} appears twice")
        docs[doc.doc_id] = doc
    if not docs:
        raise DataError(f"collection is empty: {os.fspath(path)}")
    return docs


def detect_topics_format(path: str | os.PathLike) -> str:
    """``trec`` when the file starts with ``<top>``, ``beir`` for JSON lines, else ``tsv``."""
    p = Path(path)
    first = _first_line(p, "topics file")
    if first[:4].lower() == "<top":
        return "trec"
    if _is_jsonl(p) or first.startswith("{"):
        return "beir"
    return "tsv"


_TREC_TAG = re.compile(r"<(/?)(top|num|title|desc|narr|[a-z]+)>", re.IGNORECASE)
_TREC_PREFIX = {"num": re.compile(r"^\s*Number:\s*", re.I), "title": re.compile(r"^\s*Topic:\s*", re.I),
                "desc": re.compile(r"^\s*Description:\s*", re.I), "narr": re.compile(r"^\s*Narrative:\s*", re.I)}
_TREC_FIELD = {"title": "title", "description": "desc", "narrative": "narr"}


def _iter_trec_topics(path: Path, field: str) -> Iterator[tuple[int, str, str]]:
    """``(line, qid, text)`` per ``<top>`` of a TREC topic file (fields run to the next tag, as Anserini reads)."""
    spath = os.fspath(path)
    wanted = field.split("+")
    for w in wanted:
        if w not in _TREC_FIELD:
            raise FormatError(spath, None, f"unknown topic field {field!r} (expected {', '.join(TOPIC_FIELDS)})")
    with open_text(path, "topics file") as fh:
        data = fh.read()
    top_line, fields, cur, cur_start = 0, {}, None, 0
    line, pos = 1, 0
    for m in _TREC_TAG.finditer(data):
        line += data.count("\n", pos, m.start())
        pos = m.start()
        closing, tag = m.group(1), m.group(2).lower()
        if cur is not None:
            fields[cur] = data[cur_start:m.start()]
            cur = None
        if tag == "top" and not closing:
            if top_line:
                raise _err(spath, top_line, "topics", "trec",
                           f"<top> has no </top> before the next <top> at line {line} (truncated topic?)")
            top_line, fields = line, {}
        elif tag == "top":
            if not top_line:
                raise _err(spath, line, "topics", "trec", "</top> without an opening <top>")
            clean = {k: _SPACE.sub(" ", _TREC_PREFIX[k].sub("", v) if k in _TREC_PREFIX else v).strip()
                     for k, v in fields.items()}
            if not clean.get("num"):
                raise _err(spath, top_line, "topics", "trec", "topic has no <num> Number: ...")
            qid = clean["num"].split()[0]
            parts = []
            for w in wanted:
                text = clean.get(_TREC_FIELD[w], "")
                if not text:
                    raise _err(spath, top_line, "topics", "trec", f"topic {qid} has no <{_TREC_FIELD[w]}> "
                                                                  f"(the --topic-field {field} is required)")
                parts.append(text)
            yield top_line, qid, " ".join(parts)
            top_line = 0
        elif not closing:
            if not top_line:
                raise _err(spath, line, "topics", "trec", f"<{tag}> outside a <top> element")
            cur, cur_start = tag, m.end()
    if top_line:
        raise _err(spath, top_line, "topics", "trec", "<top> has no </top> (truncated topic?)")


def read_queries(path: str | os.PathLike, fmt: str = "auto", field: str = "title") -> dict[str, str]:
    """Read queries/topics into ``{query id: text}``.

    Args:
        path: a topics file (``.gz`` allowed).
        fmt: one of :data:`TOPIC_FORMATS` (``auto``: :func:`detect_topics_format`).
        field: for TREC topic files, the field used as the query: one of :data:`TOPIC_FIELDS`.

    Raises:
        FormatError: a bad record (file, line, format), an unknown format or field, a repeated query id.
        DataError: a missing or empty file.
    """
    p = Path(path)
    spath = os.fspath(p)
    _check_format(fmt, TOPIC_FORMATS, "topics", p)
    if field not in TOPIC_FIELDS:
        raise FormatError(spath, None, f"unknown topic field {field!r} (expected one of {', '.join(TOPIC_FIELDS)})")
    if fmt == "auto":
        fmt = detect_topics_format(p)
    queries: dict[str, str] = {}

    def records() -> Iterator[tuple[int, str, str]]:
        if fmt == "trec":
            yield from _iter_trec_topics(p, field)
            return
        with open_text(p, "topics file") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if fmt == "beir":
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise _err(spath, lineno, "topics", fmt, f"invalid JSON: {e.msg}") from None
                    if not isinstance(obj, dict):
                        raise _err(spath, lineno, "topics", fmt, "expected a JSON object")
                    qid, text = obj.get("_id", obj.get("id", obj.get("qid"))), obj.get("text", obj.get("query"))
                    if qid is None or text is None:
                        raise _err(spath, lineno, "topics", fmt, "query record needs '_id' (or 'id'/'qid') and 'text'")
                    yield lineno, str(qid), str(text)
                else:
                    parts = line.rstrip("\n").rstrip("\r").split("\t")
                    if len(parts) != 2:
                        raise _err(spath, lineno, "topics", fmt,
                                   f"expected 'qid<TAB>query text', got {len(parts)} fields")
                    yield lineno, parts[0].strip(), parts[1].strip()

    for lineno, qid, text in records():
        if not qid:
            raise _err(spath, lineno, "topics", fmt, "query id is empty")
        if qid in queries:
            raise _err(spath, lineno, "topics", fmt, f"query id {qid!r} appears twice")
        queries[qid] = text
    if not queries:
        raise DataError(f"topics file is empty: {spath}")
    return queries


def read_qrels(path: str | os.PathLike, fmt: str = "auto") -> dict[str, dict[str, int]]:
    """Read relevance judgments into ``{query id: {doc id: grade}}``.

    TREC qrels (``qid iter docid grade``, whitespace-separated) and BEIR qrels TSV (``query-id corpus-id score``,
    an optional header line) are both accepted (``fmt``: one of :data:`QRELS_FORMATS`). Grades must be integers.
    """
    p = Path(path)
    spath = os.fspath(p)
    _check_format(fmt, QRELS_FORMATS, "qrels", p)
    qrels: dict[str, dict[str, int]] = {}
    with open_text(p, "qrels file") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if lineno == 1 and fmt != "trec" and parts[0].lower() in ("query-id", "query_id", "qid"):
                fmt = "beir"
                continue  # BEIR header
            kind = fmt if fmt != "auto" else ("trec" if len(parts) == 4 else "beir")
            if len(parts) == 4 and kind == "trec":
                qid, _, docid, grade = parts
            elif len(parts) == 3 and kind == "beir":
                qid, docid, grade = parts
            else:
                expected = {"trec": "'qid iter docid grade'", "beir": "'query-id corpus-id score'"}[kind]
                raise _err(spath, lineno, "qrels", kind, f"expected {expected}, got {len(parts)} columns")
            try:
                g = int(grade)
            except ValueError:
                raise _err(spath, lineno, "qrels", kind, f"relevance grade {grade!r} is not an integer") from None
            docs = qrels.setdefault(qid, {})
            if docid in docs and docs[docid] != g:
                raise _err(spath, lineno, "qrels", kind, f"query {qid!r} doc {docid!r} judged twice with different "
                                                         f"grades ({docs[docid]} and {g})")
            docs[docid] = g
    if not qrels:
        raise DataError(f"qrels file is empty: {spath}")
    return qrels
