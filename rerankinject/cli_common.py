"""Helpers shared by the command-line entry points: logging set-up and turning user errors into one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from .errors import DataError

__all__ = ["setup_logging", "run_cli"]


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr at INFO (DEBUG with ``verbose``)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def run_cli(body: Callable[[], int | None]) -> int:
    """Run a CLI body; a :class:`DataError` (bad input) prints ``error: ...`` on one line and returns 1."""
    try:
        return int(body() or 0)
    except DataError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
