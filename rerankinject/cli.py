"""Helpers shared by the command-line entry points: logging set-up and turning user errors into one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from .errors import DataError

__all__ = ["setup_logging", "run_cli", "shard_flag", "job_path"]


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr at INFO (DEBUG with ``verbose``); third-party import chatter only with ``verbose``."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if not verbose:
        # faiss logs each CPU-specific build it fails to import (ModuleNotFoundError) before the one that loads
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def run_cli(body: Callable[[], int | None]) -> int:
    """Run a CLI body; a :class:`DataError` (bad input) prints ``error: ...`` on one line and returns 1."""
    try:
        return int(body() or 0)
    except DataError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1


def shard_flag(parser: argparse.ArgumentParser, value: str | None) -> tuple[int, int] | None:
    """Parse a ``--shard I/N`` flag (None when absent); a bad value is a ``parser.error``."""
    if value is None:
        return None
    from .io.checkpoint import parse_shard

    try:
        return parse_shard(value)
    except ValueError as e:
        parser.error(f"--shard: {e}")
    return None  # unreachable: parser.error exits


def job_path(p: str | None) -> str | None:
    """An input path as it identifies a resumable job: absolute when it exists, else as given (a data set name)."""
    return os.path.abspath(p) if p and os.path.exists(p) else p
