"""Build the CLEAN MS MARCO-style training set: title-free positives, hard negatives from BM25 and the bi-encoder,
exact first-stage scores for every training document, and the DL candidates scored by the same indexes.

    python scripts/prepare_msmarco.py                       # the pool, its Lucene index, BM25 runs (runs/msmarco-train)
    python -m rerankinject.index dense --collection runs/msmarco-train/collection.tsv \\
        --index runs/msmarco-train/dense --normalize      # the pool's MiniLM index
    python scripts/build_msmarco_clean.py                   # -> runs/msmarco-clean (a local data set folder)

Why (issue "re-rankers that beat their starting point"):
1. 72% of the dev-small positives carry a RocketQA/Tevatron title prefix that no DL passage has. A positive is kept
   only when its text is title-free: the "- " (no title) ones with the prefix dropped, and titled ones whose text
   after the title IS a pool passage (an MS MARCO passage the DL runs or the labelled BM25 top 20 hold: matched by
   dropping 1..40 leading words). Every other titled text leaves the pool too, so no titled text is left anywhere.
2. Negatives come from BM25 (the pool's Lucene index) AND the bi-encoder (all-MiniLM-L6-v2 over the pool), the top
   ``--depth`` of each, without the query's judged positives.
3. Every candidate (positives included) carries its EXACT BM25 and dense score from those indexes: no query minimum
   stands in for a missing score.
Writes ``run.bm25.trec``, ``run.dense.trec`` (exact raw scores, the same candidates), ``run.hybrid.trec`` (their
per-query min-max interpolation, alpha 0.5: the candidate order negatives are sampled from), ``split.json``
(training / validation queries) and, for testing, ``run.bm25-dl1?.trec`` / ``run.dense-dl1?.trec`` (the official
DL BM25 top 100, exact scores from the same two indexes).

``--pseudo-label`` (with another ``--out``, e.g. runs/msmarco-clean-pl) also keeps the dev-small queries whose only
positive was dropped (titled, no pool passage): their candidates are mined the same way and ``qrels.pseudo.txt``
labels the teacher's (the hybrid's) top 1 of each, for the trainer's ``train_only_qrels``. ``qrels.txt``, the split
and every labelled query's candidates and scores are those of the plain build; the extra queries follow them in
``queries.tsv`` and carry no judgment, so they train (distillation) but never validate.

``--length-match`` (with another ``--out``, e.g. runs/msmarco-clean-lm) removes the LENGTH shortcut left after the
title one: over the small pool, BM25 and the bi-encoder retrieve negatives longer than the positives (median 54 vs
48-50 words; the surface probe's length features alone separate them at AUC 0.59, on the real dev-small BM25 top 20
at 0.49). Each negative candidate is kept with a probability proportional to (share of positives) / (share of
negatives) of its length bin, scaled so the most under-represented bin keeps all (seeded), so the kept negatives
have the positives' length distribution; the scores of the kept candidates are unchanged (the hybrid's per-query
min-max is recomputed over them).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.cli import run_cli, setup_logging  # noqa: E402
from rerankinject.datasets.registry import load_dataset  # noqa: E402
from rerankinject.io.files import atomic_write  # noqa: E402
from rerankinject.io.formats import read_collection, read_qrels, read_queries  # noqa: E402
from rerankinject.io.runs import RunRecord, read_run, write_run  # noqa: E402
from rerankinject.search.hybrid import fuse_runs  # noqa: E402
from rerankinject.train.msmarco import _clean, _read_jsonl  # noqa: E402

logger = logging.getLogger("build_msmarco_clean")


def clean_positives(pool_text: dict[str, str], records: list[dict]) -> tuple[dict[str, str], dict[str, int]]:
    """``{qid: pool doc id or 'devpos-<qid>'}`` of the title-free positives and the count of each case."""
    by_text = {t: d for d, t in pool_text.items()}
    out, counts = {}, {"no-title": 0, "title-stripped-matched": 0, "titled-dropped": 0, "untitled-matched": 0}
    for rec in records:
        qid, text = str(rec["qid"]), _clean(rec["pos"][0])
        if text.startswith("- "):
            body = text[2:]
            out[qid] = by_text.get(body, f"devpos-{qid}")
            counts["untitled-matched" if body in by_text else "no-title"] += 1
            continue
        words = text.split(" ")
        hit = next((by_text[" ".join(words[k:])] for k in range(1, min(40, len(words) - 5))
                    if " ".join(words[k:]) in by_text), None)
        if hit is not None:
            out[qid] = hit
            counts["title-stripped-matched"] += 1
        else:
            counts["titled-dropped"] += 1
    return out, counts


LENGTH_BINS = (20, 30, 40, 50, 60, 70, 80, 100, 130)
"""Upper word-count edges of the length bins of ``--length-match`` (the last bin is open)."""


def length_match(cands: dict[str, list[str]], qrels: dict[str, dict[str, int]], texts: dict[str, str],
                 seed: int) -> tuple[dict[str, list[str]], list[float]]:
    """Drop negative candidates at random so that the kept ones have the positives' length distribution.

    Returns the kept candidates (positives all kept, order unchanged) and each bin's keep probability.
    """
    def length_bin(d: str) -> int:
        n = len(texts[d].split())
        return next((i for i, edge in enumerate(LENGTH_BINS) if n < edge), len(LENGTH_BINS))

    pos, neg = [0] * (len(LENGTH_BINS) + 1), [0] * (len(LENGTH_BINS) + 1)
    for q, docs in cands.items():
        for d in docs:
            (pos if qrels.get(q, {}).get(d, 0) >= 1 else neg)[length_bin(d)] += 1
    ratio = [(p / sum(pos)) / (n / sum(neg)) if n else 0.0 for p, n in zip(pos, neg, strict=True)]
    keep = [r / max(ratio) for r in ratio]
    rng = random.Random(f"length-match:{seed}")
    kept = {q: [d for d in docs if qrels.get(q, {}).get(d, 0) >= 1 or rng.random() < keep[length_bin(d)]]
            for q, docs in cands.items()}
    return kept, keep


def pool_parser(description: str, out: str) -> argparse.ArgumentParser:
    """The options of the scripts that build on the pool: --pool, --dense-index, --out, --seed, --data-root."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--pool", default=str(ROOT / "runs" / "msmarco-train"), help="output of prepare_msmarco.py")
    p.add_argument("--dense-index", default=None, help="the pool's dense index (default: POOL/dense)")
    p.add_argument("--out", default=str(ROOT / "runs" / out))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data-root")
    return p


def write_local_set(out: Path, texts: dict[str, str], queries: dict[str, str],
                    qrels: dict[str, dict[str, int]]) -> None:
    """``collection.tsv``, ``queries.tsv`` and ``qrels.txt`` of a local data set folder, in the mappings' order."""
    with atomic_write(out / "collection.tsv") as fh:
        for d, text in texts.items():
            fh.write(f"{d}\t{text}\n")
    with atomic_write(out / "queries.tsv") as fh:
        for q, text in queries.items():
            fh.write(f"{q}\t{text}\n")
    with atomic_write(out / "qrels.txt") as fh:
        for q, by_doc in qrels.items():
            for d, g in by_doc.items():
                fh.write(f"{q} 0 {d} {g}\n")


def main(argv: list[str] | None = None) -> int:
    p = pool_parser(__doc__.split("\n")[0], "msmarco-clean")
    p.add_argument("--depth", type=int, default=30, help="negatives mined from each retriever's top DEPTH")
    p.add_argument("--val-queries", type=int, default=200)
    p.add_argument("--pseudo-label", action="store_true",
                   help="also mine the queries without a title-free positive; label their hybrid top 1 in "
                        "qrels.pseudo.txt (training-only)")
    p.add_argument("--length-match", action="store_true",
                   help="drop negatives at random so their length distribution is the positives' (write to "
                        "another --out, e.g. runs/msmarco-clean-lm)")
    args = p.parse_args(argv)
    if args.depth < 1 or args.val_queries < 1:
        p.error("--depth and --val-queries must be >= 1")
    setup_logging()

    def job() -> int:
        from rerankinject.search.faiss import DenseSearcher
        from rerankinject.search.lucene import BM25Searcher

        t0 = time.perf_counter()
        pool, out = Path(args.pool), Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        train = load_dataset("msmarco-train", args.data_root)
        collection = read_collection(pool / "collection.tsv")
        texts = {d: doc.text for d, doc in collection.items()}
        pool_text = {d: t for d, t in texts.items() if not d.startswith("devpos-")}
        positives, counts = clean_positives(pool_text, _read_jsonl(train.extra_path("query_positive")))
        logger.info("positives: %s", counts)
        # the clean collection: every pool passage plus the title-free positives that are not pool passages
        keep = set(pool_text) | {d for d in positives.values() if d.startswith("devpos-")}
        old_qrels = read_qrels(pool / "qrels.txt")
        queries = read_queries(pool / "queries.tsv")
        qrels: dict[str, dict[str, int]] = {}
        for qid, by_doc in old_qrels.items():
            for d, g in by_doc.items():
                if d in keep and not d.startswith("devpos-"):
                    qrels.setdefault(qid, {})[d] = g  # the labelled BM25 top 20 (MS MARCO passages)
        for qid, d in positives.items():
            qrels.setdefault(qid, {})[d] = 1
        judged = sorted(q for q, by in qrels.items() if any(g >= 1 for g in by.values()))
        bm25 = BM25Searcher(pool / "lucene")
        dense = DenseSearcher(args.dense_index or pool / "dense")
        extra = sorted(q for q in queries if q not in qrels) if args.pseudo_label else []
        mined = [*judged, *extra]
        topics = {q: queries[q] for q in mined}
        logger.info("%d training queries with a title-free positive (+%d to pseudo-label); mining negatives",
                    len(judged), len(extra))
        run_b = bm25.search_run(topics, k=args.depth + 20, threads=2, progress=True)
        run_d = dense.search_run(topics, k=args.depth + 20, progress=True)
        cands: dict[str, list[str]] = {}
        for q in mined:
            pos = [d for d, g in qrels.get(q, {}).items() if g >= 1]
            negs = [r.doc_id for r in run_b.get(q, []) if r.doc_id in keep][: args.depth]
            negs += [r.doc_id for r in run_d.get(q, []) if r.doc_id in keep][: args.depth]
            cands[q] = list(dict.fromkeys([*pos, *(d for d in negs if qrels.get(q, {}).get(d, 0) < 1)]))
        if args.length_match:
            before = sum(len(c) for c in cands.values())
            cands, keep_prob = length_match(cands, qrels, texts, args.seed)
            logger.info("length match: keep probability per bin (< %s words, more) %s: %d of %d candidates kept",
                        ", ".join(map(str, LENGTH_BINS)), " ".join(f"{k:.2f}" for k in keep_prob),
                        sum(len(c) for c in cands.values()), before)
        cand_run = {q: [RunRecord(q, d, 0.0) for d in ds] for q, ds in cands.items()}
        exact_b = bm25.rescore_run(cand_run, topics, progress=True)
        exact_d = dense.rescore_run(cand_run, topics, progress=True)
        hybrid = fuse_runs(exact_b, exact_d, fusion="interpolate", alpha=0.5, normalization="minmax-query")
        write_local_set(out, {d: texts[d] for d in sorted(keep)}, {q: queries[q] for q in mined},
                        {q: qrels[q] for q in judged})
        if extra:  # the teacher's (the hybrid's) top 1: a training-only pseudo-label
            with atomic_write(out / "qrels.pseudo.txt") as fh:
                for q in extra:
                    if hybrid.get(q):
                        fh.write(f"{q} 0 {min(hybrid[q], key=lambda r: (-r.score, r.doc_id)).doc_id} 1\n")
        write_run(exact_b, out / "run.bm25.trec", tag="bm25-exact")
        write_run(exact_d, out / "run.dense.trec", tag="minilm-exact")
        write_run(hybrid, out / "run.hybrid.trec", tag="hybrid-0.5")
        rng = random.Random(args.seed)
        order = list(judged)
        rng.shuffle(order)
        split = {"validation": sorted(order[: args.val_queries]), "train": sorted(order[args.val_queries:])}
        with atomic_write(out / "split.json") as fh:
            fh.write(json.dumps(split) + "\n")
        for name in ("dl19", "dl20"):
            ds = load_dataset(name, args.data_root)
            first = read_run(ds.run_path("bm25"))
            write_run(bm25.rescore_run(first, ds.topics(), progress=False), out / f"run.bm25-{name}.trec",
                      tag="bm25-pool")
            write_run(dense.rescore_run(first, ds.topics(), progress=False), out / f"run.dense-{name}.trec",
                      tag="minilm-pool")
        spec = {"name": out.name, "description": "MS MARCO dev-small training text without title shortcut; BM25 + "
                "MiniLM hard negatives" + (" (length-matched)" if args.length_match else "") + "; exact scores",
                "topics": "queries.tsv",
                "qrels": "qrels.txt", "corpus": "collection.tsv", "rel_level": 1,
                "runs": {"bm25": "run.bm25.trec", "dense": "run.dense.trec", "hybrid": "run.hybrid.trec"}}
        with atomic_write(out / "dataset.json") as fh:
            fh.write(json.dumps(spec, indent=2) + "\n")
        n = sum(len(c) for c in cands.values())
        logger.info("%d queries (%d pseudo-labelled), %d candidates (%.1f per query, %d positives) -> %s in %.0fs",
                    len(mined), len(extra), n, n / len(mined),
                    sum(1 for q in judged for g in qrels[q].values() if g >= 1), out, time.perf_counter() - t0)
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
