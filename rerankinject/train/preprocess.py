"""Preprocess MS MARCO training files once: the injected scores of every training pair, streamed to disk.

``python -m rerankinject.train.preprocess --collection C --queries Q (--triples T | --qidpidtriples F | --teacher F)
--bm25-index LUCENE_DIR [--dense-index FAISS_DIR] --output examples.jsonl.gz [--resume] [--limit N]``

Each training line becomes one JSON object (groups of 2, the positive first)::

    {"qid": "3", "docs": ["12", "7"], "scores": {"bm25": [11.2, 8.9], "dpr": [0.71, 0.64]}, "teacher": [4.1, -2.0]}

``scores`` holds the RAW first-stage scores (exact BM25 from the Lucene index, :meth:`BM25Searcher.score_many`;
exact inner product from the dense index, :meth:`DenseSearcher.score_many`); the recipe's normalisers render them
at training time. ``teacher`` is there only for a teacher file. Texts stay in the collection and queries files.

The lines are read as a stream and scored in chunks of ``--chunk-lines`` (one BM25 search per query of a chunk);
each finished chunk is written atomically to ``.<output>.parts/part-NNNNNN.jsonl`` with the job's settings in
``state.json``. ``--resume`` continues after the last finished chunk; at the end the parts are joined into the
output (atomically, gzip when it ends in .gz) and removed, so a resumed output is byte-identical to an
uninterrupted one. Bad input (a malformed line, an unknown id or text, a NaN teacher score) stops the job with an
error naming the file and line and leaves nothing behind (no output, no parts).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..cli import require_min, run_cli, setup_logging
from ..errors import DataError
from ..io.files import atomic_write, require_file
from ..io.msmarco import IdLookup, TrainingLine, iter_id_text, iter_training_lines

__all__ = ["prepare_examples", "parts_dir", "build_parser", "main"]

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
FORMAT_VERSION = 1


def parts_dir(output: str | os.PathLike) -> Path:
    """The folder of finished chunks (and the resume state) of a job writing ``output``."""
    out = Path(output)
    return out.with_name(f".{out.name}.parts")


def _part(folder: Path, i: int) -> Path:
    return folder / f"part-{i:06d}.jsonl"


def _file_id(path: str | os.PathLike | None) -> dict[str, Any] | None:
    if path is None:
        return None
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class _Scorers:
    """The exact first-stage scorers of the job (``bm25`` from Lucene, ``dpr`` from faiss)."""

    def __init__(self, bm25_index: str | os.PathLike | None, dense_index: str | os.PathLike | None):
        self.bm25 = self.dense = None
        if bm25_index is not None:
            from ..search.lucene import BM25Searcher

            self.bm25 = BM25Searcher(bm25_index)
        if dense_index is not None:
            from ..search.faiss import DenseSearcher

            self.dense = DenseSearcher(dense_index)

    @property
    def names(self) -> list[str]:
        return [n for n, s in (("bm25", self.bm25), ("dpr", self.dense)) if s is not None]

    def score_chunk(self, chunk: Sequence[TrainingLine], qtext: dict[str, str],
                    path: str) -> list[dict[str, list[float]]]:
        """``{source: [pos score, neg score]}`` of every line of a chunk (one scoring call per query and source)."""
        by_q: dict[str, dict[str, None]] = {}
        for t in chunk:
            by_q.setdefault(t.qid, {}).update({t.pos: None, t.neg: None})
        per_source: dict[str, dict[tuple[str, str], float]] = {}
        if self.bm25 is not None:
            table = per_source["bm25"] = {}
            for q, docs in by_q.items():
                for d, s in self.bm25.score_many(qtext[q], docs).items():
                    table[(q, d)] = s
        if self.dense is not None:
            table = per_source["dpr"] = {}
            qids = list(by_q)
            embs = self.dense.encode_queries([qtext[q] for q in qids])
            for q, emb in zip(qids, embs, strict=True):
                for d, s in self.dense.score_vector(emb, list(by_q[q])).items():
                    table[(q, d)] = s
        out = []
        for t in chunk:
            scores = {}
            for name, table in per_source.items():
                pair = [table[(t.qid, t.pos)], table[(t.qid, t.neg)]]
                if not all(math.isfinite(v) for v in pair):
                    raise DataError(f"{path}:{t.line}: non-finite {name} score for query {t.qid!r}")
                scores[name] = pair
            out.append(scores)
        return out


def _record(t: TrainingLine, scores: dict[str, list[float]]) -> str:
    rec: dict[str, Any] = {"qid": t.qid, "docs": [t.pos, t.neg], "scores": scores}
    if t.teacher is not None:
        rec["teacher"] = list(t.teacher)
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def _chunks(lines: Iterator[TrainingLine], size: int, limit: int | None) -> Iterator[list[TrainingLine]]:
    chunk: list[TrainingLine] = []
    for n, t in enumerate(lines):
        if limit is not None and n >= limit:
            break
        chunk.append(t)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def prepare_examples(kind: str, training_file: str | os.PathLike, collection: str | os.PathLike,
                     queries: str | os.PathLike, output: str | os.PathLike,
                     bm25_index: str | os.PathLike | None = None, dense_index: str | os.PathLike | None = None,
                     resume: bool = False, limit: int | None = None, chunk_lines: int = 10_000,
                     progress: bool = True) -> dict[str, Any]:
    """Score every training line once and stream the examples to ``output`` (see the module documentation).

    Args:
        kind: ``triples``, ``qidpidtriples`` or ``teacher`` (:data:`~rerankinject.io.msmarco.TRAINING_KINDS`).
        training_file: the training file of that kind.
        collection: ``collection.tsv`` (``pid<TAB>text``).
        queries: ``queries.train.tsv`` (``qid<TAB>text``).
        output: ``.jsonl`` or ``.jsonl.gz``.
        bm25_index: a Lucene index of the collection (scores ``bm25``); None: no BM25 scores.
        dense_index: a dense index of the collection (scores ``dpr``); None: no dense scores.
        resume: continue after the last finished chunk of an interrupted job with the same settings.
        limit: only the first ``limit`` training lines.
        chunk_lines: lines per chunk (the unit of scoring and of resuming).
        progress: show tqdm bars.

    Returns:
        A summary: lines written, chunks resumed, sources scored.

    Raises:
        FormatError: bad input (names file and line); nothing is left behind.
        DataError: a missing file, or ``--resume`` with settings other than the interrupted job's.
    """
    out = Path(output)
    if not (out.name.endswith(".jsonl") or out.name.endswith(".jsonl.gz")):
        raise DataError(f"output must end in .jsonl or .jsonl.gz: {out}")
    if chunk_lines < 1 or (limit is not None and limit < 1):
        raise ValueError(f"chunk_lines and limit must be >= 1, got {chunk_lines}, {limit}")
    for p, what in ((training_file, "training file"), (collection, "collection"), (queries, "queries file")):
        require_file(p, what)
    state = {"version": FORMAT_VERSION, "kind": kind, "training_file": _file_id(training_file),
             "collection": _file_id(collection), "queries": _file_id(queries),
             "bm25_index": os.path.abspath(bm25_index) if bm25_index else None,
             "dense_index": os.path.abspath(dense_index) if dense_index else None,
             "chunk_lines": chunk_lines, "limit": limit}
    folder = parts_dir(out)
    done = 0
    if resume and (folder / STATE_FILE).is_file():
        old = json.loads((folder / STATE_FILE).read_text())
        if old != state:
            changed = sorted(k for k in state if old.get(k) != state[k])
            raise DataError(f"cannot resume {out}: the interrupted job in {folder} had other settings "
                            f"({', '.join(changed)}); run without --resume to start over")
        while _part(folder, done).is_file():
            done += 1
        logger.info("resuming %s after %d finished chunks (%d lines)", out, done, done * chunk_lines)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        with atomic_write(folder / STATE_FILE) as fh:
            fh.write(json.dumps(state, indent=2) + "\n")
    try:
        texts = kind == "triples"
        qids = IdLookup(queries, "queries file", texts=texts, progress=progress)
        pids = IdLookup(collection, "collection", texts=texts, progress=progress)
        scorers = _Scorers(bm25_index, dense_index)
        qtext = ({q: t for _, q, t in iter_id_text(queries, "queries file")} if scorers.names else {})
        lines = iter_training_lines(training_file, kind, qids, pids)
        n = 0
        bar = tqdm(desc="prepare", unit="line", disable=not progress, mininterval=2, total=limit)
        for i, chunk in enumerate(_chunks(lines, chunk_lines, limit)):
            n += len(chunk)
            bar.update(len(chunk))
            if i < done:
                continue
            scores = (scorers.score_chunk(chunk, qtext, os.fspath(training_file)) if scorers.names
                      else [{} for _ in chunk])
            with atomic_write(_part(folder, i)) as fh:
                for t, s in zip(chunk, scores, strict=True):
                    fh.write(_record(t, s) + "\n")
        bar.close()
        n_parts = -(-n // chunk_lines)
        with atomic_write(out) as fh:
            for i in range(n_parts):
                with open(_part(folder, i), encoding="utf-8") as part:
                    shutil.copyfileobj(part, fh, 1 << 20)
    except DataError:
        shutil.rmtree(folder, ignore_errors=True)  # bad input: resuming cannot help, leave nothing behind
        raise
    shutil.rmtree(folder, ignore_errors=True)
    summary = {"output": os.fspath(out), "lines": n, "chunks_resumed": done, "sources": scorers.names,
               "teacher": kind == "teacher"}
    logger.info("wrote %d examples to %s (scores: %s%s)", n, out, ", ".join(scorers.names) or "none",
                "; teacher scores" if kind == "teacher" else "")
    return summary


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.train.preprocess", description=__doc__.split("\n\n")[0])
    p.add_argument("--collection", required=True, help="collection.tsv (pid<TAB>text)")
    p.add_argument("--queries", required=True, help="queries.train.tsv (qid<TAB>text)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--triples", help="triples.train.small.tsv (query<TAB>positive<TAB>negative, texts)")
    src.add_argument("--qidpidtriples", help="qidpidtriples.train.full.2.tsv.gz (qid<TAB>pid_pos<TAB>pid_neg)")
    src.add_argument("--teacher", help="bert_cat_ensemble_msmarcopassage_train_scores_ids.tsv "
                                       "(pos_score<TAB>neg_score<TAB>qid<TAB>pid_pos<TAB>pid_neg)")
    p.add_argument("--bm25-index", help="Lucene index of the collection: exact BM25 scores ('bm25')")
    p.add_argument("--dense-index", help="dense (faiss) index of the collection: exact dense scores ('dpr')")
    p.add_argument("--no-scores", action="store_true",
                   help="write no first-stage scores (a CAT training file; also the cheap path for benchmarks)")
    p.add_argument("--output", required=True, help="examples file (.jsonl or .jsonl.gz)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted job with the same settings")
    p.add_argument("--limit", type=int, help="only the first N training lines")
    p.add_argument("--chunk-lines", type=int, default=10_000, help="lines per chunk (scoring and resume unit)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rerankinject.train.preprocess``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    require_min(parser, args, 1, "limit", "chunk_lines")
    if not args.no_scores and not (args.bm25_index or args.dense_index):
        parser.error("give --bm25-index and/or --dense-index (or --no-scores for a file without scores)")
    if args.no_scores and (args.bm25_index or args.dense_index):
        parser.error("--no-scores excludes --bm25-index and --dense-index")
    setup_logging(args.verbose)
    kind, path = next((k, v) for k, v in (("triples", args.triples), ("qidpidtriples", args.qidpidtriples),
                                          ("teacher", args.teacher)) if v)

    def body() -> int:
        prepare_examples(kind, path, args.collection, args.queries, args.output, args.bm25_index,
                         args.dense_index, resume=args.resume, limit=args.limit, chunk_lines=args.chunk_lines,
                         progress=not args.no_progress)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    raise SystemExit(main())
