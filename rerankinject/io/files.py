"""Small file helpers shared by every reader and writer: transparent .gz and atomic writes.

Atomic writers build in a private temporary file or folder (``mkstemp``/``mkdtemp`` make them 0600/0700) and give
the result the mode an ordinary ``open``/``mkdir`` would have, under the user's umask (0644 files and 0755 folders
under the usual 022), just before renaming it into place: a colleague in the same group reads what a plain write
would let them read.
"""

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

__all__ = ["open_text", "atomic_write", "require_file", "replace_dir", "read_json", "current_umask", "public_mode"]


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc/self/status`` on Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting and restoring it
    os.umask(mask)
    return mask


def public_mode(path: str | os.PathLike) -> None:
    """Give a file 0666 & ~umask, or a folder and every folder/file under it 0777/0666 & ~umask (as open/mkdir)."""
    mask = current_umask()
    p = Path(path)
    if not p.is_dir():
        os.chmod(p, 0o666 & ~mask)
        return
    os.chmod(p, 0o777 & ~mask)
    for root, dirs, files in os.walk(p):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)
        for f in files:
            fp = os.path.join(root, f)
            if not os.path.islink(fp) and os.stat(fp).st_mode & 0o077 == 0:  # private temp files only
                os.chmod(fp, 0o666 & ~mask)


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
        os.fchmod(raw.fileno(), 0o666 & ~current_umask())  # mkstemp's 0600 -> what open() would give
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
    the one instant between the two renames, the old one beside it). ``tmp`` (typically from ``mkdtemp``, 0700) gets
    the mode of an ordinary ``mkdir`` under the user's umask first (:func:`public_mode`).
    """
    import shutil

    tmp, dest = Path(tmp), Path(dest)
    public_mode(tmp)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
