"""Helpers shared by the command-line entry points: logging set-up and turning user errors into one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from .cluster import RayOptions
from .errors import DataError

__all__ = ["setup_logging", "run_cli", "shard_flag", "require_min", "job_path", "add_engine_flags", "ray_options"]


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


def require_min(parser: argparse.ArgumentParser, args: argparse.Namespace, minimum: int, *flags: str) -> None:
    """``parser.error`` for the first of ``flags`` (attribute names) set below ``minimum``; unset (None) is allowed."""
    for flag in flags:
        value = getattr(args, flag)
        if value is not None and value < minimum:
            parser.error(f"--{flag.replace('_', '-')} must be >= {minimum}, got {value}")


def job_path(p: str | None) -> str | None:
    """An input path as it identifies a resumable job: absolute when it exists, else as given (a data set name)."""
    return os.path.abspath(p) if p and os.path.exists(p) else p


def add_engine_flags(p: argparse.ArgumentParser) -> None:
    """``--engine local|ray`` and the Ray flags (shared by the rerank and dense index CLIs)."""
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default): this process; ray: a Ray actor pool of model replicas (docs/scale.md)")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --engine ray: a running cluster (auto, HOST:6379, ray://HOST:10001); default: start "
                        "a local Ray on this machine's cores")
    g.add_argument("--replicas", type=int, default=None, metavar="N",
                   help="with --engine ray: model replicas (default: one per GPU group, else one per CPU)")
    g.add_argument("--gpus-per-replica", type=float, default=0.0, metavar="G",
                   help="with --engine ray: GPUs per replica (default 0: CPU replicas)")
    g.add_argument("--max-restarts", type=int, default=3,
                   help="with --engine ray: restarts of a replica that dies (default 3)")
    g.add_argument("--max-task-retries", type=int, default=3,
                   help="with --engine ray: retries of a batch whose replica died (default 3)")


def ray_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RayOptions | None:
    """The :class:`RayOptions` of the engine flags (None for ``--engine local``); bad values are usage errors."""
    ray_flags = args.ray_address is not None or args.replicas is not None or args.gpus_per_replica
    if args.engine != "ray":
        if ray_flags:
            parser.error("--ray-address, --replicas and --gpus-per-replica need --engine ray")
        return None
    try:
        return RayOptions(address=args.ray_address, replicas=args.replicas, gpus_per_replica=args.gpus_per_replica,
                          max_restarts=args.max_restarts, max_task_retries=args.max_task_retries)
    except ValueError as e:
        parser.error(str(e))
        raise
