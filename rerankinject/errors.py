"""Errors raised on bad user input: each names the file and line (or the flag) at fault."""

from __future__ import annotations

import os

__all__ = ["FormatError", "DataError"]


class DataError(ValueError):
    """Bad or missing user data (a file, a data set name, an id that does not resolve)."""


class FormatError(DataError):
    """A malformed line in an input file.

    The message reads ``path:line: problem`` so that editors and terminals can jump to it.
    """

    def __init__(self, path: str | os.PathLike | None, line: int | None, message: str):
        self.path = None if path is None else os.fspath(path)
        self.line = line
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")
