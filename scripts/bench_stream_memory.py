"""Peak memory of the streamed MS MARCO training path at two training-file sizes (it must not grow with lines).

Writes a synthetic MS MARCO in the official formats under ``--work`` (``collection.tsv`` of ``--passages`` short
passages, ``queries.train.tsv``, and Hofstätter's teacher file ``pos_score neg_score qid pid_pos pid_neg`` with
``--sizes`` lines each), then, for each size, in FRESH processes:

1. ``prepare``: ``python -m rerankinject.train.preprocess --teacher ... --no-scores`` (reader + id checks + chunked
   writer + join into ``examples.jsonl.gz``; ``--bm25-index`` adds one Lucene search per query and chunk, which is
   too slow for 2M lines on a 2-core machine: pass ``--bm25-index`` to score the first ``--bm25-limit`` lines);
2. ``dataset``: build :class:`~rerankinject.train.stream.StreamedGroupDataset` (line index, token stores, lengths)
   and make one pass over it in the trainer's order (:class:`EpochLengthGroupedSampler`, batches of 16 through
   :class:`InjectionCollator`).

Each process reports its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``); the table compares the sizes.

    python scripts/bench_stream_memory.py --work /tmp/stream-bench --sizes 100000 2000000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger("bench_stream_memory")


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def generate(work: Path, passages: int, queries: int, sizes: Sequence[int], seed: int = 0) -> None:
    """Synthetic collection, queries and teacher files (streamed to disk; skipped when present)."""
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    coll = work / "collection.tsv"
    if not coll.is_file():
        with open(coll, "w", encoding="utf-8") as fh:
            for pid in range(passages):
                fh.write(f"{pid}\t{' '.join(rng.choices(vocab, k=rng.randint(8, 40)))}\n")
    qfile = work / "queries.train.tsv"
    if not qfile.is_file():
        with open(qfile, "w", encoding="utf-8") as fh:
            for q in range(queries):
                fh.write(f"{100000 + q}\t{' '.join(rng.choices(vocab, k=rng.randint(3, 8)))}\n")
    for n in sizes:
        path = work / f"teacher.{n}.tsv"
        if path.is_file():
            continue
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for _ in range(n):
                fh.write(f"{rng.uniform(-2, 12):.4f}\t{rng.uniform(-12, 4):.4f}\t{100000 + rng.randrange(queries)}\t"
                         f"{rng.randrange(passages)}\t{rng.randrange(passages)}\n")
        os.replace(tmp, path)


def worker_prepare(args: argparse.Namespace) -> dict:
    """One prepare run (this process); its peak RSS."""
    from rerankinject.train.preprocess import main as prepare_main

    argv = ["--collection", str(args.work / "collection.tsv"), "--queries", str(args.work / "queries.train.tsv"),
            "--teacher", str(args.work / f"teacher.{args.size}.tsv"), "--output", args.output, "--no-progress"]
    if args.bm25_index:
        argv += ["--bm25-index", args.bm25_index, "--limit", str(args.bm25_limit)]
    else:
        argv.append("--no-scores")
    t0 = time.perf_counter()
    rc = prepare_main(argv)
    if rc:
        raise SystemExit(rc)
    return {"seconds": time.perf_counter() - t0}


def worker_dataset(args: argparse.Namespace) -> dict:
    """Build the streamed dataset and make one pass over it in training order (this process); its peak RSS."""
    from transformers import AutoTokenizer

    from rerankinject.injection.inputs import InputBuilder
    from rerankinject.injection.recipe import recipe_for_variant
    from rerankinject.scoring.model import DEFAULT_INIT_MODEL
    from rerankinject.train.examples import InjectionCollator
    from rerankinject.train.stream import StreamedGroupDataset
    from rerankinject.train.trainer import EpochLengthGroupedSampler

    tok = AutoTokenizer.from_pretrained(DEFAULT_INIT_MODEL())
    variant = "BM25CAT" if args.bm25_index else "CAT"
    builder = InputBuilder(recipe_for_variant(variant, max_length=160), tok)
    t0 = time.perf_counter()
    ds = StreamedGroupDataset(args.output, args.work / "queries.train.tsv", args.work / "collection.tsv", builder,
                              cache_dir=Path(args.output).with_name(Path(args.output).name + ".cache"),
                              progress=False)
    built = time.perf_counter() - t0
    rss_built = _peak_rss_mib()
    collate = InjectionCollator(tok.pad_token_id)
    batch, n, tokens = [], 0, 0
    for i in EpochLengthGroupedSampler(16, ds.lengths, seed=1):
        batch.append(ds[i])
        if len(batch) == 16:
            tokens += int(collate(batch)["attention_mask"].sum())
            n += len(batch)
            batch = []
    if batch:
        n += len(batch)
        tokens += int(collate(batch)["attention_mask"].sum())
    return {"groups": n, "tokens": tokens, "build_seconds": built, "pass_seconds": time.perf_counter() - t0 - built,
            "peak_rss_after_build_mib": rss_built}


def run_worker(step: str, size: int, args: argparse.Namespace, output: Path) -> dict:
    """Run one step in a fresh Python process; its JSON result."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", step, "--size", str(size), "--work",
           str(args.work), "--output", str(output)]
    if args.bm25_index:
        cmd += ["--bm25-index", args.bm25_index, "--bm25-limit", str(args.bm25_limit)]
    logger.info("%s", " ".join(cmd))
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/stream-bench"), help="folder for the synthetic files")
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 2_000_000], help="training lines per file")
    p.add_argument("--passages", type=int, default=50_000)
    p.add_argument("--queries", type=int, default=20_000)
    p.add_argument("--bm25-index", help="score BM25 from this Lucene index of the collection (first --bm25-limit "
                                        "lines only); default --no-scores")
    p.add_argument("--bm25-limit", type=int, default=20_000)
    p.add_argument("--worker", choices=("prepare", "dataset"), help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--output", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if any(n < 1 for n in args.sizes):
        p.error("--sizes must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.worker:
        result = worker_prepare(args) if args.worker == "prepare" else worker_dataset(args)
        result["peak_rss_mib"] = _peak_rss_mib()
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    generate(args.work, args.passages, args.queries, args.sizes)
    rows = []
    for n in args.sizes:
        out = args.work / f"examples.{n}.jsonl.gz"
        prep = run_worker("prepare", n, args, out)
        data = run_worker("dataset", n, args, out)
        rows.append((n, prep, data))
        logger.info("%d lines: prepare %s, dataset %s", n, prep, data)
    base = rows[0]
    lines = ["| training lines | prepare peak RSS (MiB) | prepare s | dataset build+pass peak RSS (MiB) | "
             "build s | pass s | vs first row (prepare / dataset) |", "|---|---|---|---|---|---|---|"]
    for n, prep, data in rows:
        lines.append(f"| {n:,} | {prep['peak_rss_mib']:.0f} | {prep['seconds']:.0f} | {data['peak_rss_mib']:.0f} | "
                     f"{data['build_seconds']:.0f} | {data['pass_seconds']:.0f} | "
                     f"{prep['peak_rss_mib'] / base[1]['peak_rss_mib'] - 1:+.1%} / "
                     f"{data['peak_rss_mib'] / base[2]['peak_rss_mib'] - 1:+.1%} |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
