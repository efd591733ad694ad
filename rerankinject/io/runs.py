"""The run record and the one TREC run reader/writer used everywhere in rerankinject.

A TREC run line is ``qid Q0 docid rank score tag``. rerankinject keeps ids as ``str``, scores as ``float`` at
full precision (``repr``, never ``%.6f``), writes 1-based ranks and breaks score ties by doc id (ascending), so
that the file order and the ranks agree; :mod:`rerankinject.evaluate` evaluates exactly that order.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from ..errors import DataError, FormatError
from .files import atomic_write, open_text

__all__ = [
    "RunRecord",
    "Run",
    "read_run",
    "iter_run",
    "write_run",
    "format_run_line",
    "group_by_query",
    "sort_hits",
    "parse_score",
    "run_to_dict",
    "records_from_dict",
    "query_sort_key",
    "rescore_run",
]


class RunRecord(NamedTuple):
    """One scored candidate: the query id, the doc id (both ``str``) and the raw score."""

    query_id: str
    doc_id: str
    score: float


Run = dict[str, list[RunRecord]]
"""A run grouped by query id; each list ranked by (-score, doc id)."""


def query_sort_key(qid: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order of query ids: digit runs compare as numbers ("q2" < "q10", "9" < "10")."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", qid) if part)


def sort_hits(records: Iterable[RunRecord]) -> list[RunRecord]:
    """Rank records by descending score, ties broken by ascending doc id."""
    return sorted(records, key=lambda r: (-r.score, r.doc_id))


def parse_score(text: str, path: str, lineno: int, name: str = "score") -> float:
    """A finite float from a file's field; else a FormatError naming the file, the line and the field ``name``."""
    try:
        score = float(text)
    except ValueError:
        raise FormatError(path, lineno, f"{name} {text!r} is not a number") from None
    if not math.isfinite(score):
        raise FormatError(path, lineno, f"{name} {text!r} is not finite (NaN or infinite scores are refused)")
    return score


def iter_run(path: str | os.PathLike) -> Iterator[tuple[int, RunRecord]]:
    """Yield ``(line number, record)`` for each line of a TREC run file (plain or .gz), in file order.

    Raises:
        FormatError: a line without 6 whitespace-separated columns, a non-integer rank or a score that is not
            a finite number; the message names the file and line.
        DataError: the file does not exist.

    """
    spath = os.fspath(path)
    with open_text(spath, "run file") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 6:
                raise FormatError(
                    spath, lineno, f"expected 6 columns 'qid Q0 docid rank score tag', got {len(parts)}"
                )
            qid, _q0, docid, rank, score, _tag = parts
            try:
                int(rank)
            except ValueError:
                raise FormatError(spath, lineno, f"rank {rank!r} is not an integer") from None
            yield lineno, RunRecord(qid, docid, parse_score(score, spath, lineno))


def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run into ``{query id: [records ranked by (-score, doc id)]}``.

    The file's own rank column is ignored: ranks are derived from the scores, as trec_eval does.

    Raises:
        FormatError: a malformed line (see :func:`iter_run`) or a (query, doc) pair listed twice.

    """
    spath = os.fspath(path)
    seen: dict[tuple[str, str], int] = {}
    run: Run = {}
    for lineno, rec in iter_run(spath):
        key = (rec.query_id, rec.doc_id)
        if key in seen:
            raise FormatError(
                spath, lineno, f"duplicate pair query {rec.query_id!r} doc {rec.doc_id!r} (first at line {seen[key]})"
            )
        seen[key] = lineno
        run.setdefault(rec.query_id, []).append(rec)
    if not run:
        raise DataError(f"run file is empty: {spath}")
    return {qid: sort_hits(recs) for qid, recs in run.items()}


def group_by_query(records: Iterable[RunRecord]) -> Run:
    """Group records by query id and rank each group; a duplicate (query, doc) pair is an error."""
    run: Run = {}
    seen: set[tuple[str, str]] = set()
    for rec in records:
        key = (rec.query_id, rec.doc_id)
        if key in seen:
            raise ValueError(f"duplicate pair query {rec.query_id!r} doc {rec.doc_id!r} in run records")
        seen.add(key)
        run.setdefault(rec.query_id, []).append(rec)
    return {qid: sort_hits(recs) for qid, recs in run.items()}


def format_run_line(rec: RunRecord, rank: int, tag: str) -> str:
    """Format one TREC run line with the score at full precision (shortest round-trip repr)."""
    if not math.isfinite(rec.score):
        raise ValueError(f"refusing to write non-finite score {rec.score!r} for query {rec.query_id!r} "
                         f"doc {rec.doc_id!r}")
    return f"{rec.query_id} Q0 {rec.doc_id} {rank} {rec.score!r} {tag}\n"


def write_run(run: Mapping[str, Iterable[RunRecord]] | Iterable[RunRecord], path: str | os.PathLike,
              tag: str = "rerankinject") -> None:
    """Write a run atomically as TREC: queries in id order, 1-based ranks, ties by doc id; .gz supported.

    Args:
        run: a :data:`Run` mapping or a flat iterable of records.
        path: output file; the parent folder is created. Nothing appears at ``path`` unless writing succeeds.
        tag: the run tag (last column); must not contain whitespace.

    """
    if not tag or any(c.isspace() for c in tag):
        raise ValueError(f"run tag must be a non-empty word without whitespace, got {tag!r}")
    grouped = group_by_query(run) if not isinstance(run, Mapping) else {
        qid: sort_hits(recs) for qid, recs in run.items()
    }
    with atomic_write(path) as fh:
        for qid in sorted(grouped, key=query_sort_key):
            for rank, rec in enumerate(grouped[qid], 1):
                if rec.query_id != qid:
                    raise ValueError(f"record for query {rec.query_id!r} filed under query {qid!r}")
                fh.write(format_run_line(rec, rank, tag))


def run_to_dict(run: Mapping[str, Iterable[RunRecord]]) -> dict[str, dict[str, float]]:
    """Convert a run to ``{qid: {docid: score}}`` (the shape pytrec_eval and ir_measures take)."""
    return {qid: {r.doc_id: r.score for r in recs} for qid, recs in run.items()}


def records_from_dict(scores: Mapping[str, Mapping[str, float]]) -> Run:
    """Build a ranked :data:`Run` from ``{qid: {docid: score}}``."""
    return {qid: sort_hits(RunRecord(str(qid), str(d), float(s)) for d, s in docs.items())
            for qid, docs in scores.items()}


def rescore_run(run: Mapping[str, Sequence[RunRecord]], topics: Mapping[str, str],
                score_many: Callable[[str, list[str]], Mapping[str, float]], desc: str = "rescore",
                progress: bool = True) -> Run:
    """The same (query, doc) pairs as ``run``, each with the exact score ``score_many(query text, doc ids)`` gives.

    The one re-scoring loop behind ``BM25Searcher.rescore_run`` and ``DenseSearcher.rescore_run``: candidates that
    one retriever found get another retriever's raw score (e.g. the dense score of every BM25 candidate).
    Records come back sorted by the new score.

    Raises:
        DataError: a run query has no topic.
    """
    from tqdm.auto import tqdm

    out: Run = {}
    for qid, recs in tqdm(run.items(), desc=desc, unit="q", disable=not progress, mininterval=2):
        if qid not in topics:
            raise DataError(f"query {qid!r} of the run is not in the topics")
        scores = score_many(topics[qid], [r.doc_id for r in recs])
        out[qid] = sort_hits([RunRecord(qid, r.doc_id, float(scores[r.doc_id])) for r in recs])
    return out
