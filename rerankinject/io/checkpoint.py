"""Crash-safe, resumable, shardable per-query jobs (search and re-ranking).

A job that produces one ranked list per query appends each finished query to ``<output>.partial`` (one JSON line
per query, flushed and fsynced). With ``resume=True`` a restarted job reads that file, skips the queries already
done and, at the end, writes the whole run atomically: the final file is byte-identical to an uninterrupted run.
A torn last line (a kill mid-write) is dropped; a partial file made by a different job configuration is refused.

Sharding: :func:`select_shard` keeps the queries whose id hashes to shard ``I`` of ``N`` (a stable hash, not
Python's salted ``hash``), so shards are disjoint, cover every query and do not depend on query order.
:func:`merge_runs` joins shard outputs; the merged file equals the single-process run byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError
from .runs import Run, RunRecord, read_run, sort_hits, write_run

__all__ = ["QueryCheckpoint", "parse_shard", "select_shard", "shard_of", "merge_runs", "run_in_chunks"]

logger = logging.getLogger(__name__)


def shard_of(qid: str, num_shards: int) -> int:
    """The shard (0-based) of a query id: a stable hash of the id modulo ``num_shards``."""
    return int(hashlib.sha256(qid.encode("utf-8")).hexdigest()[:12], 16) % num_shards


def parse_shard(value: str) -> tuple[int, int]:
    """Parse ``I/N`` (1-based I) into ``(I - 1, N)``; raise ValueError with the expected form otherwise."""
    try:
        i_s, n_s = value.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise ValueError(f"shard must look like I/N (e.g. 2/8), got {value!r}") from None
    if not (n >= 1 and 1 <= i <= n):
        raise ValueError(f"shard I/N needs 1 <= I <= N, got {value!r}")
    return i - 1, n


def select_shard(qids: Iterable[str], shard: tuple[int, int] | None) -> list[str]:
    """The query ids of one shard (all of them when ``shard`` is None), in their given order."""
    qids = list(qids)
    if shard is None:
        return qids
    i, n = shard
    return [q for q in qids if shard_of(q, n) == i]


class QueryCheckpoint:
    """Per-query progress of a job writing ``output``; see the module docstring.

    Args:
        output: the final run file.
        config: what identifies the job (model, inputs, parameters); a resume with another config is refused.
        resume: continue from ``<output>.partial`` if present; without it an existing partial file is replaced.
    """

    def __init__(self, output: str | os.PathLike, config: Mapping[str, Any], resume: bool = False):
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".partial")
        self.config = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
        self.done: Run = {}
        self.output.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.is_file():
            self._load()
            self._fh = open(self.path, "a", encoding="utf-8")
        else:
            self._fh = open(self.path, "w", encoding="utf-8")
            self._write({"config": self.config})

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").split("\n")
        good = 0
        for lineno, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                if lineno >= len(lines) - 1:  # torn last line from a kill: redo that query
                    logger.warning("%s:%d: dropping an incomplete last entry", self.path, lineno)
                    break
                msg = f"{self.path}:{lineno}: corrupt checkpoint line (delete the file to start over)"
                raise DataError(msg) from None
            if lineno == 1:
                if obj.get("config") != self.config:
                    raise DataError(f"{self.path}: checkpoint was made by a different job configuration "
                                    f"({obj.get('config')}); delete it or run without --resume")
            else:
                qid = obj["qid"]
                self.done[qid] = [RunRecord(qid, d, float(s)) for d, s in obj["hits"]]
            good += len(line) + 1
        with open(self.path, "r+b") as fh:  # cut a torn tail so appends start on a clean line
            fh.truncate(good)
        logger.info("resuming: %d queries already done (%s)", len(self.done), self.path)

    def _write(self, obj: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(obj) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def pending(self, qids: Sequence[str]) -> list[str]:
        """The query ids not done yet, in order."""
        return [q for q in qids if q not in self.done]

    def add(self, qid: str, records: Sequence[RunRecord]) -> None:
        """Record one finished query (durably)."""
        recs = sort_hits(records)
        self._write({"qid": qid, "hits": [[r.doc_id, r.score] for r in recs]})
        self.done[qid] = recs

    def finish(self, tag: str) -> Run:
        """Write the whole run atomically to ``output`` and remove the partial file."""
        self._fh.close()
        write_run(self.done, self.output, tag=tag)
        self.path.unlink(missing_ok=True)
        return self.done

    def close(self) -> None:
        """Close the partial file without finishing.

        It stays for a later ``--resume`` when it holds finished queries and is removed when it holds none (a job
        that failed on bad input leaves no file behind).
        """
        if not self._fh.closed:
            self._fh.close()
            if not self.done:
                self.path.unlink(missing_ok=True)


def run_in_chunks(checkpoints: Sequence[QueryCheckpoint], qids: Sequence[str], chunk_size: int,
                  compute: Callable[[list[str]], Sequence[Mapping[str, Sequence[RunRecord]]]]) -> int:
    """Compute queries chunk by chunk, recording each finished query in every checkpoint.

    ``compute(chunk)`` returns one run per checkpoint (e.g. the fused, BM25 and dense runs of a hybrid search).
    Chunks are fixed slices of ``qids`` (the same on every resume), and a chunk not fully done in *every*
    checkpoint is recomputed whole: a computation that depends on which queries share a batch (padding in a
    query encoder) sees the same batch as an uninterrupted run, so the output stays byte-identical.

    Returns:
        The number of queries computed (not taken from the checkpoints).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    computed = 0
    for start in range(0, len(qids), chunk_size):
        chunk = list(qids[start:start + chunk_size])
        if all(q in c.done for c in checkpoints for q in chunk):
            continue
        runs = compute(chunk)
        if len(runs) != len(checkpoints):
            raise ValueError(f"compute returned {len(runs)} runs for {len(checkpoints)} checkpoints")
        for ckpt, run in zip(checkpoints, runs, strict=True):
            for q in chunk:
                if q not in ckpt.done:
                    ckpt.add(q, list(run.get(q, ())))
        computed += len(chunk)
    return computed


def merge_runs(inputs: Sequence[str | os.PathLike], output: str | os.PathLike, tag: str) -> Run:
    """Join shard runs (disjoint query sets) into one run written atomically.

    Raises:
        DataError: a query appears in two inputs.
    """
    merged: Run = {}
    origin: dict[str, str] = {}
    for path in inputs:
        for qid, recs in read_run(path).items():
            if qid in merged:
                raise DataError(f"query {qid!r} is in both {origin[qid]} and {path}: shards must be disjoint")
            merged[qid] = recs
            origin[qid] = os.fspath(path)
    write_run(merged, output, tag=tag)
    return merged
