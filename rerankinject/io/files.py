"""Small file helpers shared by every reader and writer: transparent .gz and atomic writes."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import DataError

__all__ = ["open_text", "atomic_write", "require_file", "replace_dir", "read_json"]


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise DataError naming it when it is not an existing file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} not found: {p}" + (" (it is a directory)" if p.is_dir() else ""))
    return p


def read_json(path: str | os.PathLike) -> object:
    """Parse a JSON file; invalid JSON raises :class:`DataError` naming the file and line."""
    import json

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None


def open_text(path: str | os.PathLike, what: str = "file") -> IO[str]:
    """Open a UTF-8 text file for reading; files ending in .gz are decompressed on the fly."""
    p = require_file(path, what)
    if p.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8")
    return open(p, encoding="utf-8")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it into place only on success.

    An exception (or a kill) inside the block leaves no file at ``path`` that looks complete.
    Paths ending in .gz are gzip-compressed (byte-identical between runs). ``mode`` is "w" (text, UTF-8)
    or "wb".
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    raw = os.fdopen(fd, "wb")
    try:
        stream: IO[bytes] = raw
        if p.suffix == ".gz":
            stream = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n") if mode == "w" else None
        yield text if text is not None else stream
        if text is not None:
            text.flush()
            text.detach()
        if stream is not raw:
            stream.close()  # finishes the gzip member; the underlying file stays open
        raw.flush()
        os.fsync(raw.fileno())
        raw.close()
        os.replace(tmp, p)
    except BaseException:
        raw.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_dir(tmp: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Move a finished folder ``tmp`` to ``dest``, replacing an existing ``dest`` without a moment with neither.

    The old ``dest`` is renamed aside first (``.<name>.old-<pid>``), then ``tmp`` is renamed into place, then the
    old copy is deleted: a kill at any point leaves either the old or the new complete folder at ``dest`` (or, in
    the one instant between the two renames, the old one beside it).
    """
    import shutil

    tmp, dest = Path(tmp), Path(dest)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
