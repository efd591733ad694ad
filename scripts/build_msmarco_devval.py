"""Build a NON-saturated validation set for the MS MARCO-style models: labelled dev-small queries, full-corpus BM25.

    python scripts/build_msmarco_devval.py          # -> runs/msmarco-devval (a local data set folder)

The trainer's own validation split (100 held-out queries of runs/msmarco-clean re-ranked in their hybrid top 20)
is saturated: the hybrid first stage already scores 0.91 nDCG@10 on it, every model validates at 0.89-0.92 from
step 250 on, and its best checkpoint did not predict DL19/DL20. The shared data hold the Anserini BM25 top 20 over
the FULL MS MARCO corpus of 600 dev-small queries with the MS MARCO labels; re-ranking that is the MS MARCO dev task
(BM25 alone about 0.47 nDCG@10 on the queries with a positive in the top 20): it is far from saturated and its
candidates come, like the DL test candidates, from a full-corpus BM25 the pool index did not produce.

``--queries`` of the queries with a labelled positive in their top 20 are drawn (``--seed``); a training config
names the folder as ``val_dataset`` and the trainer leaves these queries out of training (most of them are
training queries of runs/msmarco-clean). Written, like a test set: ``run.bm25-full.trec`` (the Anserini order; the
file has no score, so the score is 21 - rank: it orders the candidates and is never injected), ``run.bm25.trec`` and
``run.dense.trec`` (every candidate's EXACT BM25 and MiniLM score from the pool's two indexes: the injected scores,
on the training scale), ``qrels.txt`` (the official dev-small judgments of these queries), ``queries.tsv``,
``collection.tsv`` (the candidates' pool texts) and ``dataset.json``.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from build_msmarco_clean import pool_parser, write_local_set  # noqa: E402  (this folder: the pool scripts' common options)

from rerankinject.cli import run_cli, setup_logging  # noqa: E402
from rerankinject.datasets.registry import load_dataset  # noqa: E402
from rerankinject.errors import DataError  # noqa: E402
from rerankinject.io.files import atomic_write  # noqa: E402
from rerankinject.io.formats import read_collection  # noqa: E402
from rerankinject.io.runs import RunRecord, write_run  # noqa: E402
from rerankinject.train.msmarco import _read_jsonl  # noqa: E402

logger = logging.getLogger("build_msmarco_devval")


def main(argv: list[str] | None = None) -> int:
    p = pool_parser(__doc__.split("\n")[0], "msmarco-devval")
    p.add_argument("--queries", type=int, default=200, help="validation queries drawn (of those with a positive)")
    args = p.parse_args(argv)
    if args.queries < 1:
        p.error("--queries must be >= 1")
    setup_logging()

    def job() -> int:
        from rerankinject.search.faiss import DenseSearcher
        from rerankinject.search.lucene import BM25Searcher

        t0 = time.perf_counter()
        pool, out = Path(args.pool), Path(args.out)
        train = load_dataset("msmarco-train", args.data_root)
        path = train.extra_path("bm25top20")
        texts = {d: doc.text for d, doc in read_collection(pool / "collection.tsv").items()}
        queries: dict[str, str] = {}
        ranked: dict[str, dict[int, str]] = {}
        labelled: set[str] = set()
        for i, rec in enumerate(_read_jsonl(path), start=1):
            qid, pid, rank = str(rec["qid"]), str(rec["pid"]), int(rec["bm25_rank"])
            if pid not in texts:
                raise DataError(f"{path}:{i}: passage {pid} is not in the pool {pool / 'collection.tsv'} "
                                f"(re-run scripts/prepare_msmarco.py)")
            if rank in ranked.setdefault(qid, {}):
                raise DataError(f"{path}:{i}: query {qid} has rank {rank} twice")
            queries[qid], ranked[qid][rank] = rec["query"], pid
            if int(rec["label"]) > 0:
                labelled.add(qid)
        if args.queries > len(labelled):
            raise DataError(f"--queries {args.queries}: only {len(labelled)} queries of {path} have a labelled "
                            f"positive in their top 20")
        chosen = sorted(random.Random(args.seed).sample(sorted(labelled), args.queries))
        official = train.qrels()
        qrels = {q: official[q] for q in chosen if q in official}
        for q in chosen:
            pos = {d for d, g in qrels.get(q, {}).items() if g >= 1}
            if not pos & set(ranked[q].values()):
                raise DataError(f"{path}: query {q}'s labelled positive is not judged relevant in the official "
                                f"dev-small qrels")
        first = {q: [RunRecord(q, ranked[q][r], float(len(ranked[q]) + 1 - r)) for r in sorted(ranked[q])]
                 for q in chosen}
        topics = {q: queries[q] for q in chosen}
        exact_b = BM25Searcher(pool / "lucene").rescore_run(first, topics, progress=False)
        exact_d = DenseSearcher(args.dense_index or pool / "dense").rescore_run(first, topics, progress=False)
        out.mkdir(parents=True, exist_ok=True)
        docs = sorted({r.doc_id for recs in first.values() for r in recs})
        write_local_set(out, {d: texts[d] for d in docs}, topics, {q: dict(sorted(qrels[q].items())) for q in chosen})
        write_run(first, out / "run.bm25-full.trec", tag="anserini-bm25-rank")
        write_run(exact_b, out / "run.bm25.trec", tag="bm25-pool")
        write_run(exact_d, out / "run.dense.trec", tag="minilm-pool")
        spec = {"name": out.name, "description": f"{len(chosen)} labelled dev-small queries: full-corpus "
                "BM25 top 20 (Anserini order), exact pool BM25 and MiniLM scores", "topics": "queries.tsv",
                "qrels": "qrels.txt", "corpus": "collection.tsv", "rel_level": 1,
                "runs": {"bm25-full": "run.bm25-full.trec", "bm25": "run.bm25.trec", "dense": "run.dense.trec"}}
        with atomic_write(out / "dataset.json") as fh:
            fh.write(json.dumps(spec, indent=2) + "\n")
        logger.info("%d validation queries (of %d with a labelled positive), %d candidates -> %s in %.0fs",
                    len(chosen), len(labelled), sum(len(r) for r in first.values()), out, time.perf_counter() - t0)
        return 0

    return run_cli(job)


if __name__ == "__main__":
    sys.exit(main())
