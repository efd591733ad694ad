"""A map-style training dataset over a prepared examples file that holds no training line in memory.

The file is that of :mod:`rerankinject.train.preprocess` (one JSON object a line: ``qid``, ``docs`` = [positive,
negative], raw ``scores`` per source, optional ``teacher``). :class:`StreamedGroupDataset` has the interface of
:class:`~rerankinject.train.examples.GroupDataset` (``__len__``, ``__getitem__``, ``lengths``, ``group_size``,
``has_teacher``), so :func:`~rerankinject.train.trainer.train_model` trains on it. Per line it keeps 10 bytes: an
int64 byte offset and an int16 input length (for length-bucketed batches), both in memory-mapped files; line ``i``
is read (``os.pread``) and parsed in ``__getitem__``.

Texts are tokenised ONCE, by the fast tokenizer in batches, for the passages and queries the file uses
(:class:`TokenStore`: int32 token ids in a memory-mapped file plus int64 row offsets). This happens here rather than
in the prepare step because token ids depend on the model's tokenizer and ``max_length`` while the scores do not:
one scored file serves every model, and a model's token store is built in one pass over the collection (cached
beside the file, keyed by tokenizer, ``max_length`` and the input files, and reused on resume).

Injected scores are rendered with the recipe's GLOBAL normalisers (each score alone, as at inference); a per-query
normaliser needs the query's candidate list, which a file of pairs does not have, and is refused.
"""

from __future__ import annotations

import array
import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import DataError, FormatError
from ..injection.inputs import InputBuilder
from ..injection.normalize import normalize_scores
from ..injection.recipe import render_score
from ..io.files import require_file
from ..io.msmarco import IdSet, RowIndex, iter_id_text

__all__ = ["TokenStore", "StreamedGroupDataset", "CACHE_VERSION"]

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
_FLUSH = 1 << 16


class _Appender:
    """Appends numbers to a raw binary file in blocks (nothing grows in memory)."""

    def __init__(self, path: Path, typecode: str):
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.buf = array.array(typecode)
        self.count = 0

    def add(self, value: int) -> None:
        self.buf.append(value)
        self.count += 1
        if len(self.buf) >= _FLUSH:
            self.flush()

    def extend(self, values: Any) -> None:
        self.buf.extend(values)
        self.count += len(values)
        if len(self.buf) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        self.buf.tofile(self.fh)
        del self.buf[:]

    def close(self) -> None:
        self.flush()
        self.fh.close()


def _tokenizer_key(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else f"{type(tokenizer).__name__}:{tokenizer.name_or_path}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class TokenStore:
    """Token ids (no special tokens, cut at ``max_length``) of the texts of an ``id<TAB>text`` file that are needed.

    Stored in ``folder``: ``tokens.i32`` (all ids, concatenated), ``offsets.i64`` (rows + 1) and ``ids.txt`` (the id
    of each row).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        with open(self.folder / "ids.txt", encoding="utf-8") as fh:
            self.rows = RowIndex(line.rstrip("\n") for line in fh)
        self.offsets = np.memmap(self.folder / "offsets.i64", dtype=np.int64, mode="r")
        size = os.path.getsize(self.folder / "tokens.i32")
        self.tokens = (np.memmap(self.folder / "tokens.i32", dtype=np.int32, mode="r") if size
                       else np.zeros(0, dtype=np.int32))

    @classmethod
    def build(cls, folder: str | os.PathLike, path: str | os.PathLike, what: str, needed: IdSet, tokenizer: Any,
              max_length: int, batch_size: int = 1024, progress: bool = True) -> TokenStore:
        """Tokenise the texts of ``path`` whose id is in ``needed``, in batches (each id once).

        Raises:
            DataError: an id of ``needed`` is not in the file (names the file).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        toks = _Appender(folder / "tokens.i32", "i")
        offs = _Appender(folder / "offsets.i64", "q")
        offs.add(0)
        done = IdSet()
        batch: list[tuple[str, str]] = []
        end = 0
        with open(folder / "ids.txt", "w", encoding="utf-8") as ids_fh:
            def flush() -> None:
                nonlocal end
                enc = tokenizer([t for _, t in batch], add_special_tokens=False, truncation=True,
                                max_length=max_length)["input_ids"]
                for (ident, _), ids in zip(batch, enc, strict=True):
                    toks.extend(array.array("i", ids))
                    end += len(ids)
                    offs.add(end)
                    ids_fh.write(ident + "\n")
                batch.clear()

            for _, ident, text in tqdm(iter_id_text(path, what), desc=f"tokenise {what}", unit="line",
                                       disable=not progress, mininterval=2):
                if ident in needed and ident not in done:
                    done.add(ident)
                    batch.append((ident, text))
                    if len(batch) >= batch_size:
                        flush()
            if batch:
                flush()
        toks.close()
        offs.close()
        if len(done) < len(needed):
            raise DataError(f"{len(needed) - len(done)} ids of the training file are not in the {what} {path}")
        return cls(folder)

    def ids(self, ident: str) -> np.ndarray:
        """The token ids of one text (KeyError when its id was not stored)."""
        row = self.rows.get(ident)
        if row is None:
            raise KeyError(ident)
        return self.tokens[self.offsets[row]:self.offsets[row + 1]]

    def length(self, ident: str) -> int:
        """The number of token ids of one text."""
        row = self.rows.get(ident)
        if row is None:
            raise KeyError(ident)
        return int(self.offsets[row + 1] - self.offsets[row])


def _check_record(rec: Any, path: str, lineno: int, sources: list[str] | None,
                  teacher: bool | None) -> tuple[list[str], bool]:
    """Validate one examples line; returns its (sources, has teacher) to compare with the first line's."""
    if not isinstance(rec, dict):
        raise FormatError(path, lineno, "expected a JSON object")
    if not isinstance(rec.get("qid"), str) or not rec["qid"]:
        raise FormatError(path, lineno, "'qid' must be a non-empty string")
    docs = rec.get("docs")
    if not (isinstance(docs, list) and len(docs) == 2 and all(isinstance(d, str) and d for d in docs)):
        raise FormatError(path, lineno, "'docs' must be [positive id, negative id]")
    scores = rec.get("scores", {})
    if not isinstance(scores, dict):
        raise FormatError(path, lineno, "'scores' must be an object {source: [pos, neg]}")
    for name, pair in scores.items():
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, (int, float)) and
                                                                   math.isfinite(v) for v in pair)):
            raise FormatError(path, lineno, f"scores.{name} must be two finite numbers")
    t = rec.get("teacher")
    if t is not None and not (isinstance(t, list) and len(t) == 2 and
                              all(isinstance(v, (int, float)) and math.isfinite(v) for v in t)):
        raise FormatError(path, lineno, "'teacher' must be two finite numbers")
    names = sorted(scores)
    if sources is not None and names != sources:
        raise FormatError(path, lineno, f"scores of {names} but the first line has {sources}")
    if teacher is not None and (t is not None) != teacher:
        raise FormatError(path, lineno, "teacher scores on some lines only")
    return names, t is not None


def _file_id(path: str | os.PathLike) -> dict[str, Any]:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class StreamedGroupDataset:
    """Groups of 2 (positive, negative) from a prepared examples file, read line by line on demand.

    Args:
        path: the examples file (``.jsonl`` or ``.jsonl.gz``; a gzipped file is decompressed once into the cache).
        queries: the queries file (``qid<TAB>text``) the file's qids come from.
        collection: the collection (``pid<TAB>text``).
        builder: the checkpoint's input builder (recipe and tokenizer).
        bm25_source: the raw score returned as ``bm25`` (for the ``bm25added`` loss); None: none.
        cache_dir: where the line index and token stores go (default ``<path>.cache`` beside the file).
        progress: show tqdm bars while building the cache.

    Raises:
        DataError: a per-query normaliser in the recipe, an injected source the file has no scores for, an id the
            queries or collection file lacks; FormatError: a malformed line (names file and line).
    """

    group_size = 2

    def __init__(self, path: str | os.PathLike, queries: str | os.PathLike, collection: str | os.PathLike,
                 builder: InputBuilder, bm25_source: str | None = None, cache_dir: str | os.PathLike | None = None,
                 progress: bool = True):
        self.path = require_file(path, "training file")
        require_file(queries, "queries file")
        require_file(collection, "collection")
        self.builder, self.recipe = builder, builder.recipe
        per_query = [f"{s} ({n.kind})" for s, n in self.recipe.normalizers.items() if n.per_query]
        if per_query:
            raise DataError(f"the recipe normalises {', '.join(per_query)} per query, which needs each query's "
                            f"candidate list; a streamed training file has pairs only: use a global normaliser "
                            f"(minmax with bounds, zscore)")
        max_length = self.recipe.max_length
        key_src = {"version": CACHE_VERSION, "file": _file_id(self.path), "queries": _file_id(queries),
                   "collection": _file_id(collection), "tokenizer": _tokenizer_key(builder.tokenizer),
                   "max_length": max_length}
        key = hashlib.sha256(json.dumps(key_src, sort_keys=True).encode()).hexdigest()[:16]
        root = Path(cache_dir) if cache_dir is not None else self.path.with_name(self.path.name + ".cache")
        self.folder = root / key
        if not (self.folder / "meta.json").is_file():
            self._build(root, queries, collection, max_length, progress)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.has_teacher: bool = self.meta["teacher"]
        self.sources: list[str] = self.meta["sources"]
        missing = [s for s in self.recipe.sources if s not in self.sources]
        if missing:
            raise DataError(f"{self.path}: the recipe injects {missing} but the file has scores of "
                            f"{self.sources or 'no source'} (prepare it with --bm25-index / --dense-index)")
        if bm25_source is not None and bm25_source not in self.sources:
            raise DataError(f"{self.path}: no {bm25_source!r} scores for the bm25added loss (has {self.sources})")
        self.bm25_source = bm25_source
        self._open()
        logger.info("training file %s: %d groups of 2 (cache %s)", self.path, len(self), self.folder)

    # ---------------------------------------------------------------------------------------------------------
    def _lines_path(self) -> Path:
        return self.folder / "lines.jsonl" if self.meta["decompressed"] else self.path

    def _open(self) -> None:
        self.offsets = np.memmap(self.folder / "offsets.i64", dtype=np.int64, mode="r")
        self.lengths = np.memmap(self.folder / "lengths.i16", dtype=np.int16, mode="r")
        self.qstore = TokenStore(self.folder / "queries")
        self.dstore = TokenStore(self.folder / "passages")
        self._fd: int | None = None
        self._fd_pid = -1

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for k in ("offsets", "lengths", "qstore", "dstore", "_fd", "_fd_pid"):
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open()

    def _iter_raw(self, path: Path) -> Iterator[bytes]:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            yield from fh

    def _build(self, root: Path, queries: str | os.PathLike, collection: str | os.PathLike, max_length: int,
               progress: bool) -> None:
        """Index the lines, tokenise the texts they use, compute each group's input length (all on disk)."""
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.", dir=root))
        try:
            spath = os.fspath(self.path)
            gz = self.path.name.endswith(".gz")
            offs = _Appender(tmp / "offsets.i64", "q")
            need_q, need_d = IdSet(), IdSet()
            sources: list[str] | None = None
            teacher: bool | None = None
            pos = 0
            out = open(tmp / "lines.jsonl", "wb") if gz else None  # noqa: SIM115
            offs.add(0)
            n = 0
            for lineno, raw in enumerate(tqdm(self._iter_raw(self.path), desc="index lines", unit="line",
                                              disable=not progress, mininterval=2), 1):
                if not raw.strip():
                    raise FormatError(spath, lineno, "empty line")
                try:
                    rec = json.loads(raw)
                except json.JSONDecodeError as e:
                    raise FormatError(spath, lineno, f"invalid JSON: {e.msg}") from None
                sources, teacher = _check_record(rec, spath, lineno, sources, teacher)
                need_q.add(rec["qid"])
                for d in rec["docs"]:
                    need_d.add(d)
                if out is not None:
                    out.write(raw)
                pos += len(raw)
                offs.add(pos)
                n += 1
            if out is not None:
                out.close()
            offs.close()
            if not n:
                raise DataError(f"training file has no lines: {spath}")
            logger.info("%s: %d lines, %d queries, %d passages; tokenising them once", spath, n, len(need_q),
                        len(need_d))
            tok = self.builder.tokenizer
            qstore = TokenStore.build(tmp / "queries", queries, "queries file", need_q, tok, max_length,
                                      progress=progress)
            dstore = TokenStore.build(tmp / "passages", collection, "collection", need_d, tok, max_length,
                                      progress=progress)
            del need_q, need_d
            r = self.recipe
            fixed = self.builder.n_special + 4 * len(r.sources)
            lens = _Appender(tmp / "lengths.i16", "h")
            lines = tmp / "lines.jsonl" if gz else self.path
            with open(lines, "rb") as fh:
                for raw in tqdm(fh, desc="lengths", unit="line", total=n, disable=not progress, mininterval=2):
                    rec = json.loads(raw)
                    q = min(qstore.length(rec["qid"]), r.query_max_tokens)
                    lens.add(min(r.max_length, fixed + q + max(dstore.length(d) for d in rec["docs"])))
            lens.close()
            if not gz:
                (tmp / "lines.jsonl").unlink(missing_ok=True)
            meta = {"lines": n, "sources": sources or [], "teacher": bool(teacher), "decompressed": gz,
                    "file": spath}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            if self.folder.exists():
                shutil.rmtree(self.folder)
            os.replace(tmp, self.folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    # ---------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.meta["lines"])

    def record(self, i: int) -> dict[str, Any]:
        """The parsed line ``i`` (0-based)."""
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self._fd is None or self._fd_pid != os.getpid():  # one descriptor per (DataLoader worker) process
            self._fd, self._fd_pid = os.open(self._lines_path(), os.O_RDONLY), os.getpid()
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        return json.loads(os.pread(self._fd, end - start, start))

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec = self.record(int(i))
        r = self.recipe
        rendered: list[dict[str, str]] = [{}, {}]
        for s in r.sources:
            for out, v in zip(rendered, normalize_scores(rec["scores"][s], r.normalizers[s]), strict=True):
                out[s] = render_score(v, r.render, r.decimals)
        q = self.qstore.ids(rec["qid"]).tolist()
        inputs = [self.builder.build(q, self.dstore.ids(d).tolist(), rd) for d, rd in zip(rec["docs"], rendered,
                                                                                           strict=True)]
        teacher = [float(v) for v in rec["teacher"]] if self.has_teacher else None
        bm25 = [float(v) for v in rec["scores"][self.bm25_source]] if self.bm25_source else None
        return {"inputs": inputs, "teacher": teacher, "bm25": bm25}

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None and getattr(self, "_fd_pid", -1) == os.getpid():
            try:
                os.close(fd)
            except OSError:
                pass
