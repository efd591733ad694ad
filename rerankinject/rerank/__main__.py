"""Re-ranking CLI: ``python -m rerankinject.rerank`` re-ranks a TREC run with a score-injected cross-encoder.

Example::

    python -m rerankinject.rerank --run runs/dl19.bm25.trec --topics dl19 --corpus dl19 \\
        --model checkpoints/bm25cat --source bm25=runs/dl19.bm25.trec --depth 100 \\
        --output runs/dl19.bm25cat.trec

The checkpoint's ``injection.json`` says which score sources it injects; each must be given as
``--source NAME=RUN`` (raw scores, e.g. ``bm25`` or ``dpr``). The run being re-ranked is never used as a source
implicitly: when it is itself the BM25 run, pass it again as ``--source bm25=<run>``. A candidate without a score
in a source run gets its exact BM25 score from ``--bm25-index`` when given, else ``--missing`` decides (``error``,
the default, or ``min``: the source run's lowest score for that query). Input is checked before any scoring:
every run query must be in the topics and every run doc in the corpus (errors name the file and line). The output
is written atomically: on any error there is no output file.

Each re-ranked query is appended to ``<output>.partial`` at once; after a crash the same command with ``--resume``
scores only the queries not done yet and writes a run byte-identical to an uninterrupted one. ``--shard I/N``
re-ranks one shard of the run's queries; ``python -m rerankinject.merge`` joins the shards
(docs/reliability.md).

``--engine ray`` scores on a Ray actor pool of model replicas (``--ray-address auto`` joins a running cluster, e.g.
one started on SLURM; without it a local Ray starts on this machine's cores; ``--replicas N``,
``--gpus-per-replica G``). Inputs are checked and built here first; the output equals the local engine's
(docs/scale.md).

Long documents: ``--passages maxp --passage-length 150 --stride 75`` splits every document into passages of 150
WORDS (whitespace words, as PyTerrier's ``pt.text.sliding``; the title is put before every passage) starting every
75 words; each passage carries the DOCUMENT's injected score(s), the passages of all documents of a scoring group
are batched together (length-sorted), and the document's score is its first (``firstp``), best (``maxp``) or
summed (``sump``) passage logit. Resume and shards work as without passages.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..cli import add_engine_flags, job_path, ray_options, require_min, run_cli, setup_logging, shard_flag
from ..datasets.registry import DATASETS, is_dataset, load_dataset, resolve_topics
from ..errors import DataError, FormatError
from ..io.checkpoint import QueryCheckpoint, select_shard
from ..io.formats import COLLECTION_FORMATS, TOPIC_FIELDS, TOPIC_FORMATS, Document, read_collection
from ..io.runs import Run, iter_run, read_run
from ..scoring.factory import BACKENDS
from .passages import PASSAGE_MODES, PassageSpec
from .reranker import MISSING_POLICIES, ScoreInjectReranker

__all__ = ["main", "build_parser", "parse_sources", "resolve_corpus", "check_run"]

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rerankinject.rerank``."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.rerank", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--run", required=True, help="TREC run to re-rank (its order is the first-stage order)")
    p.add_argument("--topics", required=True, help="data set name (dl19, scifact-test, ...) or topics file")
    p.add_argument("--topics-format", choices=TOPIC_FORMATS, default="auto",
                   help="topics file format: trec (<top><num><title>...), tsv (qid<TAB>text, Pyserini/Anserini), "
                        "beir (queries.jsonl); default auto: detected")
    p.add_argument("--topic-field", choices=TOPIC_FIELDS, default="title",
                   help="TREC topic files: the field used as the query (default title)")
    p.add_argument("--corpus", required=True,
                   help="data set name or collection file/folder (TREC SGML, JsonCollection, BEIR, TSV) with the texts")
    p.add_argument("--collection-format", choices=COLLECTION_FORMATS, default="auto",
                   help="format of --corpus: trec, json, beir or tsv (default auto: detected)")
    p.add_argument("--model", required=True, help="cross-encoder checkpoint folder (weights + injection.json)")
    p.add_argument("--source", action="append", default=[], metavar="NAME=RUN",
                   help="raw first-stage scores to inject, e.g. bm25=runs/x.bm25.trec (repeatable)")
    p.add_argument("--depth", type=int, default=100, help="re-rank the top K per query; the rest stay below in "
                                                          "their original order (default 100)")
    p.add_argument("--output", required=True, help="output TREC run (.gz allowed), written atomically")
    p.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass (default 32)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="CUDA precision (default auto: bf16 on CUDA, fp32 on CPU)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="scoring backend: torch (default), onnx or onnx-int8 (CPU; see docs/performance.md)")
    p.add_argument("--exact-head", type=int, default=0, metavar="N",
                   help="with an onnx-int8* backend: re-score each query's int8 top N in fp32 (the head, which "
                        "decides nDCG@10, gets exact scores and order; default 0 = off; 20 keeps DL19 nDCG@10 "
                        "within 0.001 of fp32, docs/performance.md)")
    p.add_argument("--exact-backend", choices=["onnx", "torch"], default="onnx",
                   help="fp32 backend of --exact-head (default onnx)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads in all (default: all cores)")
    p.add_argument("--workers", type=int, default=None,
                   help="CPU batches scored at once, each on threads/workers intra-op threads (default: one per "
                        "thread; 1 = one batch on all threads)")
    p.add_argument("--group-pairs", type=int, default=2048,
                   help="score consecutive queries together until this many pairs (length-sorted across queries; "
                        "default 2048; 1 = query by query). Groups depend only on the run, so --resume stays "
                        "byte-identical; shard runs group within the shard (byte-identical merges: 1)")
    p.add_argument("--max-length", type=int, default=None, help="override the recipe's max input length")
    p.add_argument("--missing", choices=MISSING_POLICIES, default="error",
                   help="a candidate without a source score and no scorer: error (default), min (the run's "
                        "minimum for the query) or zero")
    p.add_argument("--bm25-index", metavar="DIR", help="Lucene index to compute missing BM25 scores exactly")
    p.add_argument("--passages", choices=PASSAGE_MODES, default=None,
                   help="split documents into passages and score each document by its first (firstp), best (maxp) "
                        "or summed (sump) passage; every passage carries the document's injected score "
                        "(default: one input per document, cut at --max-length tokens)")
    p.add_argument("--passage-length", type=int, default=None, metavar="W",
                   help="with --passages: passage length in WORDS (whitespace words, not tokens; default 150)")
    p.add_argument("--stride", type=int, default=None, metavar="S",
                   help="with --passages: WORDS between passage starts, 1..W (default 75)")
    p.add_argument("--tag", default=None, help="run tag (default: the model folder name)")
    p.add_argument("--data-root", help="data root for named topics/corpus")
    p.add_argument("--resume", action="store_true",
                   help="continue from <output>.partial (queries already re-ranked there are not scored again); "
                        "the final run is byte-identical to an uninterrupted one")
    p.add_argument("--shard", metavar="I/N", help="re-rank only shard I of N (1-based; queries split by a stable "
                                                 "hash of their id); join shards with python -m rerankinject.merge")
    add_engine_flags(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def parse_sources(values: Sequence[str]) -> dict[str, str]:
    """``["bm25=runs/a.trec", ...]`` -> ``{"bm25": "runs/a.trec"}``; raises ValueError on a bad or repeated one."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, path = v.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ValueError(f"--source expects NAME=RUN (e.g. bm25=runs/x.bm25.trec), got {v!r}")
        if name in out:
            raise ValueError(f"--source {name} given twice")
        out[name] = path
    return out


def resolve_corpus(value: str, data_root: str | None = None, fmt: str = "auto") -> Mapping[str, Document]:
    """A collection from a data set name or a file/folder path (``fmt``: a collection format, default detected)."""
    if is_dataset(value):
        return read_collection(load_dataset(value, data_root).corpus_path)
    if not Path(value).exists():
        raise DataError(f"corpus not found: {value!r} is neither a data set name ({', '.join(DATASETS)}) nor a file")
    return read_collection(value, fmt)


def check_run(path: str, topics: Mapping[str, str], corpus: Mapping[str, Any]) -> None:
    """Check every line of a run: its query must be in the topics and its doc in the corpus.

    Raises:
        FormatError: naming the run file and line of the first offending record.
    """
    for lineno, rec in iter_run(path):
        if rec.query_id not in topics:
            raise FormatError(path, lineno, f"query id {rec.query_id!r} is not in the topics")
        if rec.doc_id not in corpus:
            raise FormatError(path, lineno, f"doc id {rec.doc_id!r} (query {rec.query_id!r}) is not in the corpus")


def _job_config(args: argparse.Namespace, sources: Mapping[str, str]) -> dict[str, Any]:
    """What identifies a re-ranking job's output (a resume with anything else is refused)."""
    return {"tool": "rerank", "run": job_path(args.run), "topics": job_path(args.topics),
            "corpus": job_path(args.corpus),
            "model": job_path(args.model), "sources": {k: job_path(v) for k, v in sorted(sources.items())},
            "depth": args.depth, "batch_size": args.batch_size, "device": args.device, "dtype": args.dtype,
            "backend": args.backend, "max_length": args.max_length, "missing": args.missing,
            "bm25_index": job_path(args.bm25_index),
            "tag": args.tag, "shard": args.shard, "group_pairs": args.group_pairs, "workers": args.workers,
            "threads": args.threads, "exact_head": args.exact_head, "exact_backend": args.exact_backend,
            "topics_format": args.topics_format, "topic_field": args.topic_field,
            "collection_format": args.collection_format,
            **({"passages": _passage_spec(args).to_dict()} if args.passages else {})}


def _passage_spec(args: argparse.Namespace) -> PassageSpec:
    """The ``--passages``/``--passage-length``/``--stride`` settings (validated by :class:`PassageSpec`)."""
    length = 150 if args.passage_length is None else args.passage_length
    return PassageSpec(args.passages, length, 75 if args.stride is None else args.stride)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the re-ranking CLI."""
    parser = build_parser()
    args = parser.parse_args(argv)
    require_min(parser, args, 1, "depth", "batch_size", "threads", "workers", "group_pairs")
    require_min(parser, args, 0, "exact_head")
    require_min(parser, args, 16, "max_length")
    if args.exact_head and not args.backend.startswith("onnx-int8"):
        parser.error(f"--exact-head re-scores an int8 ranking: use it with --backend onnx-int8 or onnx-int8-full, "
                     f"not {args.backend}")
    try:
        source_paths = parse_sources(args.source)
    except ValueError as e:
        parser.error(str(e))
    if args.passages:
        try:
            _passage_spec(args)
        except ValueError as e:
            parser.error(f"--passages {args.passages}: {e}")
    elif args.passage_length is not None or args.stride is not None:
        parser.error("--passage-length and --stride need --passages firstp|maxp|sump")
    shard = shard_flag(parser, args.shard)
    ray = ray_options(parser, args)
    if ray is not None and args.exact_head:
        parser.error("--exact-head does not run on --engine ray yet (its heads need whole queries)")
    if args.tag is not None and (not args.tag or any(c.isspace() for c in args.tag)):
        parser.error(f"--tag must be a non-empty word without whitespace, got {args.tag!r}")
    setup_logging(args.verbose)

    def body() -> int:
        t0 = time.perf_counter()
        reranker = ScoreInjectReranker(args.model, device=args.device, batch_size=args.batch_size,
                                       missing=args.missing, max_length=args.max_length, dtype=args.dtype,
                                       progress=True, scorers=None, backend=args.backend, threads=args.threads,
                                       workers=args.workers, group_pairs=args.group_pairs,
                                       exact_head=args.exact_head, exact_backend=args.exact_backend, ray=ray)
        if args.passages:
            spec = _passage_spec(args)
            reranker.set_passages(spec.mode, spec.length, spec.stride)
            logger.info("passages: %s of %d words, stride %d (each carries its document's scores)", spec.mode,
                        spec.length, spec.stride)
        needed = reranker.sources
        logger.info("checkpoint %s: recipe %s (injects %s)", args.model, reranker.recipe.variant,
                    ", ".join(needed) or "no scores")
        if args.bm25_index and "bm25" in needed:
            from ..search.lucene import BM25Searcher

            reranker.scorers["bm25"] = BM25Searcher(args.bm25_index)
        reranker.check_sources(source_paths)  # before reading anything big
        topics = resolve_topics(args.topics, args.data_root, args.topics_format, args.topic_field)
        corpus = resolve_corpus(args.corpus, args.data_root, args.collection_format)
        run: Run = read_run(args.run)
        check_run(args.run, topics, corpus)
        sources = {}
        for name, path in source_paths.items():
            if name not in needed:
                logger.warning("--source %s is not injected by this checkpoint (%s); ignored", name,
                               reranker.recipe.variant)
                continue
            sources[name] = read_run(path)  # FormatError (file:line) on NaN/inf or malformed lines
            uncovered = [q for q in run if q not in sources[name]]
            if uncovered:
                logger.warning("--source %s: %d of %d run queries have no %s scores", name, len(uncovered), len(run),
                               name)
        qids = select_shard(run, shard)
        ckpt = QueryCheckpoint(args.output, _job_config(args, source_paths), resume=args.resume)
        try:
            todo = ckpt.pending(qids)
            if len(todo) < len(qids):
                logger.info("resuming: %d of %d queries already re-ranked", len(qids) - len(todo), len(qids))
            n_pairs = sum(min(args.depth, len(run[q])) for q in todo)
            t1 = time.perf_counter()
            done = set(qids) - set(todo)  # still passed in: the scoring groups stay those of an uninterrupted run
            for qid, recs in reranker.iter_rerank_run({q: run[q] for q in qids}, topics, corpus, sources,
                                                      depth=args.depth, skip=done):
                ckpt.add(qid, recs)  # durable per query: a kill loses at most the query being scored
            seconds = time.perf_counter() - t1
            ckpt.finish(args.tag or Path(args.model).name.replace(" ", "_") or "rerank")
        finally:
            ckpt.close()
        unit = "documents (as passages)" if args.passages else "pairs"
        logger.info("re-ranked %d queries, %d %s in %.1fs (%.1f %s/s; %.1fs total) -> %s", len(todo), n_pairs, unit,
                    seconds, n_pairs / max(seconds, 1e-9), unit.split()[0], time.perf_counter() - t0, args.output)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
