"""Probe a training set for surface shortcuts: can a classifier tell positives from negatives WITHOUT the query?

    python scripts/probe_shortcut.py runs/msmarco-train runs/msmarco-clean

For each data set folder (a local data set: collection, qrels, and a candidate run), positives are the judged
relevant documents and negatives the candidate run's other documents (top ``--depth``). A logistic regression on
query-free surface features of the passage text (length in words and characters, capitalised first word, share of
capitalised words in the first 8, URL, non-ASCII characters, digits, final punctuation, a colon or dash in the first
10 words, first words repeated later as a title's are) is fitted on half of the queries and scored on the
other half: the AUC of positives vs negatives. 0.5 = no shortcut. The same probe on two feature groups says what
separates: the TITLE features alone (capitalised head, colon or dash in the head, repeated head) and the LENGTH
features alone (words, characters, mean word length). Positives are judged at the data set's relevance level.
Probing a TEST-like set as well (the dev-small BM25 top 20 of runs/msmarco-devval, ``dl19``/``dl20`` with ``--run
bm25``) gives the surface signal that real MS MARCO data carry, against which a training set's residual is read.
Prints one line per data set (and writes JSON with --json).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.datasets.registry import load_dataset  # noqa: E402
from rerankinject.io.formats import read_collection  # noqa: E402
from rerankinject.io.runs import read_run  # noqa: E402

URL = re.compile(r"https?://|www\.")


def features(text: str) -> list[float]:
    """Query-free surface features of a passage."""
    words = text.split()
    first = words[:8]
    n = max(1, len(words))
    return [
        np.log1p(len(words)), np.log1p(len(text)),
        float(bool(words) and words[0][:1].isupper()),
        sum(w[:1].isupper() for w in first) / max(1, len(first)),
        float(bool(URL.search(text))),
        np.log1p(sum(ord(c) > 127 for c in text)),
        sum(c.isdigit() for c in text) / max(1, len(text)),
        float(text.rstrip()[-1:] in ".!?") if text.strip() else 0.0,
        float(any((":" in w) or (w in ("-", "|")) for w in words[:10])),
        sum(len(w) for w in words) / n,
        _repeated_head(words),
    ]


# indices into features(): what a title prefix changes, and how long a passage is
GROUPS = {"title": [2, 3, 8, 10], "length": [0, 1, 9]}


def _repeated_head(words: list[str]) -> float:
    """Share of the first 5 words (lower-cased, 4+ letters) that come back later: a title repeats its words."""
    head = [w.lower().strip(",.:;()") for w in words[:5]]
    head = [w for w in head if len(w) >= 4]
    rest = {w.lower().strip(",.:;()") for w in words[5:]}
    return sum(w in rest for w in head) / max(1, len(head))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks of ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 3000, lr: float = 0.1, l2: float = 1e-3) -> np.ndarray:
    """Class-balanced logistic regression by gradient descent on standardised features; returns weights + bias."""
    w = np.zeros(x.shape[1] + 1)
    xb = np.hstack([x, np.ones((len(x), 1))])
    weight = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        w -= lr * (xb.T @ ((p - y) * weight) + l2 * w)
    return w


def _labelled_halves(folder: str, run_name: str, depth: int, seed: int,
                     negatives: int | None = None) -> tuple[dict, int, tuple[list, list]]:
    """The judged queries of ``folder``'s run, shuffled with ``seed`` and halved; per query its examples: the judged
    relevant documents (label 1) and the run's other top-``depth`` documents (label 0; the first ``negatives``).

    Returns the corpus, the number of queries and the two halves (lists of per-query ``[(doc, label)]``).
    """
    ds = load_dataset(folder)
    qrels, corpus, run = ds.qrels(), read_collection(ds.corpus_path), read_run(ds.run_path(run_name))
    level = ds.rel_level
    qids = sorted(q for q in run if any(g >= level for g in qrels.get(q, {}).values()))
    random.Random(seed).shuffle(qids)

    def examples(q: str) -> list[tuple[str, int]]:
        rel = {d for d, g in qrels[q].items() if g >= level and d in corpus}
        negs = [r.doc_id for r in run[q][:depth] if r.doc_id not in rel and qrels[q].get(r.doc_id, 0) < level]
        return [*((d, 1) for d in rel), *((d, 0) for d in negs[:negatives])]

    half = len(qids) // 2
    return corpus, len(qids), ([examples(q) for q in qids[:half]], [examples(q) for q in qids[half:]])


def probe(folder: str, run_name: str, depth: int, seed: int) -> dict:
    """The held-out AUC of the surface classifier on one training set folder."""
    corpus, n_queries, halves = _labelled_halves(folder, run_name, depth, seed)
    data = []
    for part in halves:
        pairs = [e for per_query in part for e in per_query]
        data.append((np.array([features(corpus[d].text) for d, _ in pairs], dtype=float),
                     np.array([label for _, label in pairs], dtype=float)))
    (x_tr, y_tr), (x_te, y_te) = data
    held, train = _fit_auc(x_tr, y_tr, x_te, y_te)
    out = {"folder": folder, "queries": n_queries, "test_positives": int(y_te.sum()),
           "test_negatives": int((1 - y_te).sum()), "auc_heldout": held, "auc_train": train}
    for name, cols in GROUPS.items():
        out[f"auc_heldout_{name}"] = _fit_auc(x_tr[:, cols], y_tr, x_te[:, cols], y_te)[0]
    return out


def _fit_auc(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray) -> tuple[float, float]:
    """(held-out AUC, training AUC) of the logistic regression fitted on the standardised training features."""
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-9
    w = fit_logistic((x_tr - mu) / sd, y_tr)

    def score(x: np.ndarray) -> np.ndarray:
        return np.hstack([(x - mu) / sd, np.ones((len(x), 1))]) @ w

    return round(auc(score(x_te), y_te), 4), round(auc(score(x_tr), y_tr), 4)


def probe_model(folder: str, run_name: str, depth: int, seed: int, model: str, max_pairs: int = 3000) -> dict:
    """AUC of a cross-encoder scoring the held-out passages with an EMPTY query (what it believes of the text alone).

    A model that learned "this kind of text is relevant" ranks positives above negatives without the query.
    """
    from rerankinject.scoring.model import CrossEncoderModel

    corpus, _, (_, held_out) = _labelled_halves(folder, run_name, depth, seed, negatives=5)
    texts, labels = [], []
    for per_query in held_out:
        for d, label in per_query:
            texts.append(corpus[d].text)
            labels.append(label)
        if len(texts) >= max_pairs:
            break
    ce = CrossEncoderModel(model, device="cpu")
    rendered = [{s: "0" for s in ce.recipe.sources}] * len(texts)  # injected scores held constant
    scores = ce.predict(ce.builder.encode("", texts, rendered), batch_size=64)
    return {"folder": folder, "model": model, "pairs": len(texts),
            "auc_empty_query": round(auc(np.array(scores), np.array(labels, dtype=float)), 4)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folders", nargs="+", help="data sets: local folders (dataset.json) or names (dl19, dl20)")
    p.add_argument("--run", default=None, help="candidate run name (default: hybrid if the folder has it, else bm25)")
    p.add_argument("--depth", type=int, default=30)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--model", action="append", default=[],
                   help="also probe a cross-encoder: held-out passages scored with an empty query (repeatable)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    results = []
    for f in args.folders:
        runs = load_dataset(f).spec.runs or {}
        name = args.run or next((r for r in ("hybrid", "bm25-full") if r in runs), "bm25")
        r = probe(f, name, args.depth, args.seed)
        results.append(r)
        sys.stdout.write(f"{f}\truns={name}\tqueries={r['queries']}\tAUC held-out={r['auc_heldout']:.3f}\t"
                         f"(train {r['auc_train']:.3f}; {r['test_positives']} pos / {r['test_negatives']} neg)\t"
                         f"title feat. {r['auc_heldout_title']:.3f}\tlength feat. {r['auc_heldout_length']:.3f}\n")
        for m in args.model:
            r = probe_model(f, name, args.depth, args.seed, m)
            results.append(r)
            sys.stdout.write(f"{f}\tmodel={m}\tempty-query AUC={r['auc_empty_query']:.3f} ({r['pairs']} passages)\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
