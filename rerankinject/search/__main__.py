"""First-stage retrieval CLI: ``python -m rerankinject.search`` writes a TREC run with RAW retriever scores.

Examples::

    python -m rerankinject.search --index indexes/scifact --topics scifact-test --output runs/scifact.bm25.trec \\
        --k 1000 --bm25-k1 0.9 --bm25-b 0.4 --threads 2 --remove-query
    python -m rerankinject.search --retriever dense --dense-index indexes/scifact.minilm --topics scifact-test \\
        --output runs/scifact.dense.trec --remove-query
    python -m rerankinject.search --retriever hybrid --index indexes/scifact --dense-index indexes/scifact.minilm \\
        --topics scifact-test --output runs/scifact.hybrid.trec --remove-query

``--rescore RUN`` scores the candidates of another run exactly instead of searching (same query-doc pairs, this
retriever's raw scores): e.g. the dense score of every BM25 candidate, a DPR source for injection::

    python -m rerankinject.search --retriever dense --dense-index indexes/msmarco-dl.minilm --topics dl19 \
        --rescore ../shared/data/msmarco-dl/derived/run.bm25_dl19.trec --output runs/dl19.bm25top100.minilm.trec

A hybrid run also writes one run per retriever over the same candidates, named by inserting ``.bm25`` / ``.dense``
before the output's extension (``runs/scifact.hybrid.trec`` -> ``runs/scifact.hybrid.bm25.trec`` and
``runs/scifact.hybrid.dense.trec``; a ``.gz`` ending is kept). All three hold raw scores: BM25 and dense scores
are exact for every candidate (also for documents outside that retriever's own top ``--depth``).

Every output is written atomically. Progress goes to ``<output>.partial`` (one checkpoint per output file) every
``--checkpoint-every`` queries; after a crash, the same command with ``--resume`` skips the queries already done
and writes a run byte-identical to an uninterrupted one. ``--shard I/N`` searches one shard of the queries (see
docs/reliability.md); ``python -m rerankinject.merge`` joins the shards.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from collections.abc import Sequence

from ..cli import job_path, require_min, run_cli, setup_logging, shard_flag
from ..datasets.registry import resolve_topics
from ..errors import DataError
from ..injection.normalize import PER_QUERY_KINDS
from ..io.checkpoint import QueryCheckpoint, run_in_chunks, select_shard
from ..io.files import require_file
from ..io.formats import TOPIC_FIELDS, TOPIC_FORMATS
from ..io.runs import Run, query_sort_key, read_run
from .hybrid import DEFAULT_RRF_K, FUSIONS, retriever_run_paths
from .lucene import DEFAULT_B, DEFAULT_K1, BM25Searcher

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)

DEFAULT_ALPHA = 0.45


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rerankinject.search``."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.search", description=__doc__.split("\n")[0])
    p.add_argument("--retriever", choices=["bm25", "dense", "hybrid"], default="bm25",
                   help="first-stage retriever (default bm25)")
    p.add_argument("--index", help="Lucene index folder (python -m rerankinject.index lucene ...); bm25, hybrid")
    p.add_argument("--dense-index", help="dense index folder (python -m rerankinject.index dense ...); dense, hybrid")
    p.add_argument("--encoder", help="query encoder folder overriding the one in the dense index's encoder.json")
    p.add_argument("--device", help="torch device of the query encoder (default: cuda when available, else cpu)")
    p.add_argument("--fusion", choices=FUSIONS, default="interpolate",
                   help="hybrid fusion: interpolate (alpha*BM25 + (1-alpha)*dense after --normalization), rrf, or "
                        "pyserini (HybridSearcher's alpha*sparse + dense; normalization != raw = its own)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                   help=f"hybrid weight of BM25 for interpolate, Pyserini's alpha for pyserini "
                        f"(default {DEFAULT_ALPHA}, tuned on SciFact train with minmax)")
    p.add_argument("--normalization", choices=PER_QUERY_KINDS, default="minmax-query",
                   help="per-query score normalisation before interpolation (default minmax-query, as Pyserini's "
                        "fusion; raw = none)")
    p.add_argument("--rrf-k", type=int, default=DEFAULT_RRF_K, help=f"RRF constant (default {DEFAULT_RRF_K})")
    p.add_argument("--min-fill", action="store_true",
                   help="fuse with Pyserini's min-fill for documents missing from one list instead of their exact "
                        "score (the per-retriever runs keep exact scores)")
    p.add_argument("--depth", type=int, default=None, help="hybrid: hits taken from each retriever (default --k)")
    p.add_argument("--topics", required=True, help="data set name (dl19, scifact-test, ...) or topics file")
    p.add_argument("--topics-format", choices=TOPIC_FORMATS, default="auto",
                   help="topics file format: trec (<top><num><title>...), tsv (qid<TAB>text, Pyserini/Anserini), "
                        "beir (queries.jsonl); default auto: detected")
    p.add_argument("--topic-field", choices=TOPIC_FIELDS, default="title",
                   help="TREC topic files: the field used as the query (default title)")
    p.add_argument("--output", required=True, help="output TREC run (.gz allowed); written atomically")
    p.add_argument("--k", type=int, default=1000, help="hits per query (default 1000; not with --rescore)")
    p.add_argument("--rescore", metavar="RUN",
                   help="bm25/dense: score every candidate of this TREC run exactly instead of searching (same "
                        "query-doc pairs, all kept; --k, --remove-query do not apply)")
    p.add_argument("--bm25-k1", type=float, default=DEFAULT_K1, help=f"BM25 k1 (default {DEFAULT_K1})")
    p.add_argument("--bm25-b", type=float, default=DEFAULT_B, help=f"BM25 b (default {DEFAULT_B})")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="search threads (default: all cores)")
    p.add_argument("--remove-query", action="store_true",
                   help="drop a hit whose doc id equals its query id (as Pyserini does for BEIR, where each query "
                        "is also a corpus document). RISK: in a collection whose query and doc ids merely look "
                        "alike (small integers) it drops real, possibly relevant, documents; the number dropped is "
                        "logged")
    p.add_argument("--tag", default=None, help="run tag (default: the retriever name)")
    p.add_argument("--data-root", help="data root for named topics")
    p.add_argument("--resume", action="store_true",
                   help="continue from <output>.partial (queries already done there are not searched again); "
                        "the final run is byte-identical to an uninterrupted one")
    p.add_argument("--shard", metavar="I/N", help="search only shard I of N (1-based; queries split by a stable "
                                                 "hash of their id); join shards with python -m rerankinject.merge")
    p.add_argument("--checkpoint-every", type=int, default=64, metavar="Q",
                   help="queries per search batch and checkpoint step (default 64)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _job_config(args: argparse.Namespace) -> dict:
    """What identifies a search job's output (a resume with anything else is refused); not --threads."""
    return {"tool": "search", "retriever": args.retriever, "index": job_path(args.index),
            "dense_index": job_path(args.dense_index), "encoder": job_path(args.encoder), "device": args.device,
            "fusion": args.fusion, "alpha": args.alpha, "normalization": args.normalization, "rrf_k": args.rrf_k,
            "min_fill": args.min_fill, "depth": args.depth, "topics": job_path(args.topics), "k": args.k,
            "bm25_k1": args.bm25_k1, "bm25_b": args.bm25_b, "remove_query": args.remove_query, "tag": args.tag,
            "shard": args.shard, "checkpoint_every": args.checkpoint_every, "rescore": job_path(args.rescore),
            "topics_format": args.topics_format, "topic_field": args.topic_field}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the search CLI."""
    parser = build_parser()
    args = parser.parse_args(argv)
    require_min(parser, args, 1, "k", "threads", "depth", "checkpoint_every")
    require_min(parser, args, 0, "bm25_k1", "rrf_k")
    if not 0 <= args.bm25_b <= 1:
        parser.error(f"--bm25-b must be in [0, 1], got {args.bm25_b}")
    if args.retriever in ("bm25", "hybrid") and not args.index:
        parser.error(f"--retriever {args.retriever} needs --index (a Lucene index)")
    if args.retriever in ("dense", "hybrid") and not args.dense_index:
        parser.error(f"--retriever {args.retriever} needs --dense-index (python -m rerankinject.index dense ...)")
    if not math.isfinite(args.alpha):
        parser.error(f"--alpha must be a finite number, got {args.alpha}")
    if args.fusion == "interpolate" and not 0 <= args.alpha <= 1:
        parser.error(f"--alpha must be in [0, 1] for --fusion interpolate, got {args.alpha}")
    if args.rescore and args.retriever == "hybrid":
        parser.error("--rescore works with --retriever bm25 or dense (fuse two rescored runs with "
                     "python -m rerankinject.interpolate)")
    shard = shard_flag(parser, args.shard)
    setup_logging(args.verbose)

    def body() -> int:
        topics = resolve_topics(args.topics, args.data_root, args.topics_format, args.topic_field)
        tag = args.tag or args.retriever
        given = None
        if args.rescore:
            given = read_run(require_file(args.rescore, "--rescore run"))
            unknown = sorted(set(given) - set(topics), key=query_sort_key)
            if unknown:
                raise DataError(f"{args.rescore}: {len(unknown)} run queries have no topic in {args.topics} "
                                f"(first: {unknown[0]!r})")
            topics = {q: topics[q] for q in given}
        qids = select_shard(topics, shard)
        if args.retriever in ("dense", "hybrid"):
            import torch

            torch.set_num_threads(args.threads)
            from .faiss import DenseSearcher

            dense = DenseSearcher(args.dense_index, model_path=args.encoder, device=args.device)
        if args.retriever in ("bm25", "dense"):
            single = dense if args.retriever == "dense" else BM25Searcher(args.index, k1=args.bm25_k1, b=args.bm25_b)

            def compute(chunk: list[str]) -> list[Run]:
                if given is not None:
                    return [single.rescore_run({q: given[q] for q in chunk}, topics, progress=False)]
                return [single.search_run({q: topics[q] for q in chunk}, k=args.k, threads=args.threads,
                                          remove_query=args.remove_query)]
            outputs = [(args.output, tag)]
        else:
            from .hybrid import HybridRetriever

            hybrid = HybridRetriever(BM25Searcher(args.index, k1=args.bm25_k1, b=args.bm25_b), dense)

            def compute(chunk: list[str]) -> list[Run]:
                r = hybrid.search_runs({q: topics[q] for q in chunk}, k=args.k, depth=args.depth,
                                       fusion=args.fusion, alpha=args.alpha, normalization=args.normalization,
                                       rrf_k=args.rrf_k, min_fill=args.min_fill, remove_query=args.remove_query,
                                       threads=args.threads)
                return [r.bm25, r.dense, r.fused]
            bm25_path, dense_path = retriever_run_paths(args.output)
            outputs = [(bm25_path, f"{tag}.bm25"), (dense_path, f"{tag}.dense"), (args.output, tag)]
        config = _job_config(args)
        ckpts = [QueryCheckpoint(path, {**config, "output": os.fspath(path)}, resume=args.resume)
                 for path, _ in outputs]
        try:
            t0 = time.perf_counter()
            n = run_in_chunks(ckpts, qids, args.checkpoint_every, compute)
            seconds = time.perf_counter() - t0
            for ckpt, (_, out_tag) in zip(ckpts, outputs, strict=True):  # the main output last
                ckpt.finish(out_tag)
        finally:
            for ckpt in ckpts:
                ckpt.close()
        if args.remove_query and given is None:
            searchers = [single] if args.retriever != "hybrid" else [hybrid.bm25, hybrid]
            dropped = sum(getattr(s, "removed_hits", 0) for s in searchers)
            logger.log(logging.WARNING if dropped else logging.INFO,
                       "--remove-query dropped %d hit(s) whose doc id equals their query id (%d queries searched "
                       "now)%s", dropped, n, "; check that this collection's queries are also its documents"
                       if dropped else "")
        if len(outputs) > 1:
            logger.info("per-retriever runs over the same candidates -> %s, %s", outputs[0][0], outputs[1][0])
        logger.info("%d queries%s (%d computed now, %d resumed) in %.2fs (%.1f q/s) -> %s", len(qids),
                    f" of shard {args.shard}" if shard else "", n, len(qids) - n, seconds,
                    n / max(seconds, 1e-9), args.output)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
