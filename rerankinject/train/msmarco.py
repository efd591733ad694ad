"""The MS MARCO-style training set built from ``msmarco-train`` (dev-small text) and one Lucene index.

MS MARCO's training triples and full corpus are not available here; what is: 6,980 dev-small queries with one
relevant passage each (no passage id, RocketQA/Tevatron title prefix), 600 of them with their labelled Anserini
BM25 top 20, and the 24,884 passages the TREC DL first-stage runs retrieved. :func:`build_msmarco_training_set`
turns them into a local data set folder (``dataset.json``, see :func:`rerankinject.datasets.load_local_dataset`):

* ``collection.tsv`` - every passage present: the DL passages, the labelled top-20 passages (MS MARCO pids) and
  the positives (a positive equal to a known passage - after dropping the ``"- "`` no-title prefix - takes its
  pid, else the id ``devpos-<qid>``; a title prefix cannot be told apart from the text and stays);
* ``queries.tsv`` (6,980) and ``qrels.txt`` (the positives at grade 1; the labelled top-20 with their labels);
* ``lucene/`` - one Lucene index over that collection (Anserini defaults);
* ``run.bm25.trec`` - BM25 top ``k`` of every query from that index: hard negatives and the BM25 score injected
  in training;
* ``run.bm25-<dl19|dl20>.trec`` - the official DL BM25 top-100 candidates re-scored EXACTLY with the same index,
  so that a model tested on DL sees BM25 on the scale it was trained on.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..datasets.registry import LOCAL_SPEC, load_dataset
from ..errors import DataError
from ..io.files import atomic_write, open_text
from ..io.formats import document_text, read_collection, read_queries
from ..io.runs import read_run, write_run

__all__ = ["build_msmarco_training_set", "strip_no_title"]

logger = logging.getLogger(__name__)


def strip_no_title(text: str) -> str:
    """Drop the ``"- "`` prefix RocketQA/Tevatron put before passages without a title."""
    return text[2:] if text.startswith("- ") else text


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def _read_jsonl(path: Path) -> list[dict]:
    out = []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid JSON: {e.msg}") from None
    return out


def build_msmarco_training_set(out_dir: str | os.PathLike, data_root: str | os.PathLike | None = None, k: int = 100,
                               threads: int = 2, test_sets: tuple[str, ...] = ("dl19", "dl20")) -> Path:
    """Write the training set folder (see the module doc); steps whose output exists are skipped.

    Args:
        out_dir: the folder to write (a local data set: pass it wherever a data set name is accepted).
        data_root: the shared data root (default: the usual search).
        k: BM25 depth of the training run.
        threads: Lucene search threads.
        test_sets: DL data sets whose official BM25 candidates are re-scored with the index.

    Returns:
        ``out_dir``.
    """
    from ..index.lucene import build_lucene_index
    from ..search.lucene import BM25Searcher

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = load_dataset("msmarco-train", data_root)
    collection, queries, qrels_path = out / "collection.tsv", out / "queries.tsv", out / "qrels.txt"
    if not (out / LOCAL_SPEC).is_file():
        docs: dict[str, str] = {}
        by_text: dict[str, str] = {}

        def add(doc_id: str, text: str) -> str:
            """Add a passage under its MS MARCO pid (MS MARCO has duplicate texts under different pids)."""
            text = _clean(text)
            if doc_id in docs and docs[doc_id] != text:
                raise DataError(f"passage id {doc_id!r} has two different texts in the shared data")
            docs[doc_id] = text
            by_text.setdefault(text, doc_id)
            return doc_id

        dl = load_dataset(test_sets[0] if test_sets else "dl19", data_root)
        for doc in read_collection(dl.corpus_path).values():
            add(doc.doc_id, document_text(doc))
        qtext: dict[str, str] = {}
        qrels: dict[str, dict[str, int]] = {}
        for rec in _read_jsonl(train.extra_path("bm25top20")):
            qid = str(rec["qid"])
            qtext[qid] = _clean(rec["query"])
            pid = add(str(rec["pid"]), rec["passage"])
            qrels.setdefault(qid, {})[pid] = max(int(rec["label"]), qrels.get(qid, {}).get(pid, 0))
        matched = 0
        for rec in _read_jsonl(train.extra_path("query_positive")):
            qid = str(rec["qid"])
            qtext[qid] = _clean(rec["query"])
            for i, text in enumerate(rec["pos"]):
                text = _clean(strip_no_title(text))
                known = by_text.get(text)
                matched += known is not None
                pid = known or add(f"devpos-{qid}" + (f"-{i}" if i else ""), text)
                qrels.setdefault(qid, {})[pid] = 1
        logger.info("%d passages (%d positives matched a known passage), %d queries", len(docs), matched,
                    len(qtext))
        with atomic_write(collection) as fh:
            for d, t in docs.items():
                fh.write(f"{d}\t{t}\n")
        with atomic_write(queries) as fh:
            for q, t in qtext.items():
                fh.write(f"{q}\t{t}\n")
        with atomic_write(qrels_path) as fh:
            for q, by_doc in qrels.items():
                for d, g in by_doc.items():
                    fh.write(f"{q} 0 {d} {g}\n")
        spec = {"name": "msmarco-train-local", "description": "MS MARCO dev-small training text, one Lucene index "
                "over every MS MARCO passage in the shared data", "topics": "queries.tsv", "qrels": "qrels.txt",
                "corpus": "collection.tsv", "runs": {"bm25": "run.bm25.trec"}, "rel_level": 1}
        with atomic_write(out / LOCAL_SPEC) as fh:
            fh.write(json.dumps(spec, indent=2) + "\n")
    index_dir = out / "lucene"
    if not (index_dir / "rerankinject.json").is_file():
        build_lucene_index(collection, index_dir, threads=threads)
    searcher = BM25Searcher(index_dir)
    topics = read_queries(queries)
    run_path = out / "run.bm25.trec"
    if not run_path.is_file():
        write_run(searcher.search_run(topics, k=k, threads=threads), run_path, tag="bm25-msmarco-local")
    for name in test_sets:
        path = out / f"run.bm25-{name}.trec"
        if not path.is_file():
            ds = load_dataset(name, data_root)
            rescored = searcher.rescore_run(read_run(ds.run_path("bm25")), ds.topics())
            write_run(rescored, path, tag="bm25-msmarco-local")
    return out
