"""Streaming readers of the official MS MARCO passage training files, and compact id look-ups.

Nothing here holds the training lines in memory: each reader is a generator of :class:`TrainingLine` records.

* ``collection.tsv`` (``pid<TAB>text``) and ``queries.train.tsv`` (``qid<TAB>text``): :func:`iter_id_text`;
  :class:`IdLookup` keeps their ids (and, for the text triples, a 64-bit hash of each text) - numeric ids, as in
  MS MARCO, as sorted int64 arrays (16 bytes an id) instead of Python strings;
* ``triples.train.small.tsv`` (``query<TAB>positive<TAB>negative``, texts): ``kind="triples"``;
* ``qidpidtriples.train.full.2.tsv.gz`` (``qid<TAB>pid_pos<TAB>pid_neg``): ``kind="qidpidtriples"``;
* Hofstätter's ``bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv``
  (``pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg``): ``kind="teacher"``.

A malformed line, an id (or, for the text triples, a text) that the queries or collection file does not have, and
a NaN or infinite teacher score raise :class:`~rerankinject.errors.FormatError` naming the file and the line.
"""

from __future__ import annotations

import array
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..errors import DataError, FormatError
from .files import open_text
from .runs import parse_score

__all__ = ["TRAINING_KINDS", "TrainingLine", "IdLookup", "IdSet", "RowIndex", "text_hash", "iter_id_text",
           "iter_training_lines"]

TRAINING_KINDS = ("triples", "qidpidtriples", "teacher")
"""The training file kinds :func:`iter_training_lines` reads."""

_COLUMNS = {"triples": "query positive negative (texts)", "qidpidtriples": "qid pid_pos pid_neg",
            "teacher": "pos_score neg_score qid pid_pos pid_neg"}


@dataclass(frozen=True)
class TrainingLine:
    """One training line: a query, its positive and a negative passage, and teacher scores when the file has them."""

    line: int
    qid: str
    pos: str
    neg: str
    teacher: tuple[float, float] | None = None


def text_hash(text: str) -> int:
    """A 64-bit (signed) hash of a text, stable between processes (blake2b)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def _numeric(x: str) -> int | None:
    """``x`` as an int when it is a canonical non-negative decimal below 2**62 (else None)."""
    if x.isdigit() and (x == "0" or x[0] != "0") and len(x) < 19:
        return int(x)
    return None


def iter_id_text(path: str | os.PathLike, what: str) -> Iterator[tuple[int, str, str]]:
    """``(line number, id, text)`` of an ``id<TAB>text`` file (.gz allowed), streamed; blank lines skipped.

    Raises:
        FormatError: a line without exactly two columns or with an empty id.
    """
    spath = os.fspath(path)
    with open_text(path, what) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").rstrip("\r").split("\t")
            if len(parts) != 2:
                raise FormatError(spath, lineno, f"expected 'id<TAB>text', got {len(parts)} columns")
            ident = parts[0].strip()
            if not ident:
                raise FormatError(spath, lineno, "empty id")
            yield lineno, ident, parts[1].strip()


class RowIndex:
    """``id -> row`` of a list of ids (numeric ids: sorted int64 arrays, 16 bytes an id; other ids: a dict)."""

    def __init__(self, ids: Iterable[str]):
        nums = array.array("q")
        strs: list[str] | None = None
        for x in ids:
            if strs is None:
                v = _numeric(x)
                if v is not None:
                    nums.append(v)
                    continue
                strs = [str(v) for v in nums]
            strs.append(x)
        self._dict: dict[str, int] | None = None
        if strs is None:
            arr = np.frombuffer(nums, dtype=np.int64) if len(nums) else np.zeros(0, dtype=np.int64)
            self._order = np.argsort(arr, kind="stable")
            self._sorted = arr[self._order]
            self.n = len(arr)
        else:
            self._dict = {}
            for i, x in enumerate(strs):
                self._dict.setdefault(x, i)
            self._strs = strs
            self.n = len(strs)

    def __len__(self) -> int:
        return self.n

    @property
    def has_duplicates(self) -> bool:
        """Whether an id appears twice."""
        if self._dict is not None:
            return len(self._dict) < self.n
        return self.n > 1 and bool(np.any(np.diff(self._sorted) == 0))

    def id_at(self, row: int) -> str:
        """The id of a row."""
        if self._dict is not None:
            return self._strs[row]
        if not hasattr(self, "_by_row"):
            self._by_row = np.empty_like(self._sorted)
            self._by_row[self._order] = self._sorted
        return str(int(self._by_row[row]))

    def get(self, ident: str) -> int | None:
        """The (first) row of ``ident``, or None."""
        if self._dict is not None:
            return self._dict.get(ident)
        n = _numeric(ident)
        if n is None:
            return None
        pos = int(np.searchsorted(self._sorted, n))
        if pos < len(self._sorted) and self._sorted[pos] == n:
            return int(self._order[pos])
        return None

    def __contains__(self, ident: str) -> bool:
        return self.get(ident) is not None


class IdSet:
    """A growing set of ids: numeric ids in a bitmap (one byte per id value), others in a Python set."""

    def __init__(self) -> None:
        self._bits = np.zeros(1024, dtype=np.bool_)
        self._other: set[str] = set()
        self._count = 0

    def add(self, ident: str) -> None:
        """Add one id."""
        n = _numeric(ident)
        if n is None or n >= 1 << 31:
            if ident not in self._other:
                self._other.add(ident)
                self._count += 1
            return
        if n >= len(self._bits):
            grown = np.zeros(max(n + 1, 2 * len(self._bits)), dtype=np.bool_)
            grown[: len(self._bits)] = self._bits
            self._bits = grown
        if not self._bits[n]:
            self._bits[n] = True
            self._count += 1

    def __contains__(self, ident: str) -> bool:
        n = _numeric(ident)
        if n is None or n >= 1 << 31:
            return ident in self._other
        return n < len(self._bits) and bool(self._bits[n])

    def __len__(self) -> int:
        return self._count


class IdLookup:
    """The ids of a collection or queries file, and optionally which id a text has (for the text triples).

    Args:
        path: an ``id<TAB>text`` file.
        what: its role in messages (``collection``, ``queries file``).
        texts: also keep a 64-bit hash of every text (8 bytes an id) for :meth:`id_of_text`.
        progress: show a tqdm bar.

    Raises:
        FormatError: a malformed line or a repeated id (names file and line).
        DataError: the file has no lines.
    """

    def __init__(self, path: str | os.PathLike, what: str, texts: bool = False, progress: bool = False):
        self.path, self.what = os.fspath(path), what
        hashes = array.array("q")

        def ids() -> Iterator[str]:
            for _, ident, text in tqdm(iter_id_text(path, what), desc=f"read {what}", unit="line",
                                       disable=not progress, mininterval=2):
                if texts:
                    hashes.append(text_hash(text))
                yield ident

        self.rows = RowIndex(ids())
        if not len(self.rows):
            raise DataError(f"{what} is empty: {self.path}")
        if self.rows.has_duplicates:
            self._duplicate()
        self._hash_sorted = self._hash_rows = None
        if texts:
            h = np.frombuffer(hashes, dtype=np.int64)
            self._hash_rows = np.argsort(h, kind="stable")
            self._hash_sorted = h[self._hash_rows]

    def _duplicate(self) -> None:
        seen: set[str] = set()
        for lineno, ident, _ in iter_id_text(self.path, self.what):
            if ident in seen:
                raise FormatError(self.path, lineno, f"id {ident!r} appears twice in the {self.what}")
            seen.add(ident)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, ident: str) -> bool:
        return ident in self.rows

    def id_at(self, row: int) -> str:
        """The id of a row (file order)."""
        return self.rows.id_at(row)

    def id_of_text(self, text: str) -> str | None:
        """The id of the first line whose text is ``text`` (None when no line has it)."""
        if self._hash_sorted is None:
            raise ValueError(f"{self.what} was read without texts")
        h = text_hash(text.strip())
        pos = int(np.searchsorted(self._hash_sorted, h))
        if pos < len(self._hash_sorted) and self._hash_sorted[pos] == h:
            return self.id_at(int(self._hash_rows[pos]))
        return None


def iter_training_lines(path: str | os.PathLike, kind: str, queries: IdLookup,
                        collection: IdLookup) -> Iterator[TrainingLine]:
    """Stream the training lines of an MS MARCO training file (.gz allowed), each checked against the id files.

    Args:
        path: the training file.
        kind: ``triples`` (texts; ``queries``/``collection`` must be read with ``texts=True``), ``qidpidtriples``
            or ``teacher`` (see the module documentation).
        queries: the queries file's ids.
        collection: the collection's ids.

    Raises:
        FormatError: wrong column count, an empty field, an unknown query or passage (id or text), a non-numeric or
            non-finite teacher score (names file and line).
        DataError: the file has no lines.
    """
    if kind not in TRAINING_KINDS:
        raise ValueError(f"unknown training file kind {kind!r} (expected one of {', '.join(TRAINING_KINDS)})")
    spath = os.fspath(path)
    width = 5 if kind == "teacher" else 3
    n = 0
    with open_text(path, "training file") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.rstrip("\n").rstrip("\r").split("\t")]
            if len(parts) != width:
                raise FormatError(spath, lineno, f"expected {width} tab-separated columns '{_COLUMNS[kind]}', "
                                                 f"got {len(parts)}")
            if not all(parts):
                raise FormatError(spath, lineno, f"empty column {parts.index('') + 1} ('{_COLUMNS[kind]}')")
            teacher = None
            if kind == "teacher":
                teacher = (parse_score(parts[0], spath, lineno, "positive teacher score"),
                           parse_score(parts[1], spath, lineno, "negative teacher score"))
                parts = parts[2:]
            if kind == "triples":
                qid = queries.id_of_text(parts[0])
                if qid is None:
                    raise FormatError(spath, lineno, f"query text {parts[0][:60]!r} is not in the queries file "
                                                     f"{queries.path}")
                pids = []
                for name, text in (("positive", parts[1]), ("negative", parts[2])):
                    pid = collection.id_of_text(text)
                    if pid is None:
                        raise FormatError(spath, lineno, f"{name} passage text {text[:60]!r} is not in the "
                                                         f"collection {collection.path}")
                    pids.append(pid)
                pos, neg = pids
            else:
                qid, pos, neg = parts
                if qid not in queries:
                    raise FormatError(spath, lineno, f"unknown query id {qid!r} (not in {queries.path})")
                for name, pid in (("positive", pos), ("negative", neg)):
                    if pid not in collection:
                        raise FormatError(spath, lineno, f"unknown {name} passage id {pid!r} (not in "
                                                         f"{collection.path})")
            n += 1
            yield TrainingLine(lineno, qid, pos, neg, teacher)
    if not n:
        raise DataError(f"training file has no lines: {spath}")
