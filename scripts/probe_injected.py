"""Probe an injected score of a training set: does it mean in training what it means at test time?

    python scripts/probe_injected.py scripts/configs/dl19_bm25cat.yaml scripts/configs/dl20_bm25cat.yaml
    python scripts/probe_injected.py scripts/configs/msmarco_bm25dprcat-scratch.yaml --source dpr --policies index

For each config, the training pairs are built exactly as ``python -m rerankinject.train`` builds them (same split,
negatives, seed) once per missing-score policy of the probed source (``--policies``, default ``min`` then
``index``): a judged positive that the run lacks gets the query's minimum (``min``, the old fold models) or its
exact score from the index (``index``); and once with positives only from the candidate run's top
``--positive-depth`` (config ``positive_depth``: no positive needs a stand-in). Reported per row: how many
positives were filled in, the median injected value (the rendered integer the model reads) of the training
positives and negatives, and the pairwise accuracy of that value alone (share of (positive, negative) pairs where
the positive's value is higher, ties count half). The same figures for the TEST set's candidates (the config's
test sources: judged positives vs the other candidates, nothing filled in) show what the value means at test time.
A training signal that points the other way (accuracy below 0.5 while the test's is above) teaches the model that
a low score means relevant; one far stronger than at test time teaches it to trust the score too much.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.datasets.registry import load_dataset  # noqa: E402
from rerankinject.train.config import load_config  # noqa: E402
from rerankinject.train.data import ScoreTable  # noqa: E402
from rerankinject.train.pipeline import make_recipe, prepare  # noqa: E402


def _value(recipe, source: str, raw: float) -> int:
    """The injected (rendered) value of one raw score; the bounds are global, so one score renders alone."""
    return int(recipe.render_pairs([{source: raw}])[0][source])


def _summary(pos: list[int], neg: list[int], pairs: list[tuple[int, int]]) -> dict:
    acc = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / max(1, len(pairs))
    return {"positives": len(pos), "negatives": len(neg), "median_pos": statistics.median(pos) if pos else None,
            "median_neg": statistics.median(neg) if neg else None, "pairwise_accuracy": round(acc, 3)}


RECIPE_OF = {"bm25": "BM25CAT", "dpr": "DPRCAT"}


def training_side(config: str, source: str, policy: str, positive_depth: int | None) -> dict:
    """The injected values of one source over the config's training pairs under one missing-score policy (and
    positives only from the candidates' top ``positive_depth``, when given)."""
    cfg = load_config(config)
    other = {s: p for s, p in (cfg.missing_score.items() if isinstance(cfg.missing_score, dict)
                               else [("*", cfg.missing_score)]) if s != source}
    cfg = dataclasses.replace(cfg, missing_score={**other, source: policy}, positive_depth=positive_depth)
    prep = prepare(cfg)
    recipe = make_recipe(dataclasses.replace(cfg, variant=RECIPE_OF[source]))
    by_pos = {(pr.qid, pr.pos_id): _value(recipe, source, pr.pos_scores[source]) for pr in prep.pairs}
    by_neg = {(pr.qid, pr.neg_id): _value(recipe, source, pr.neg_scores[source]) for pr in prep.pairs}
    pairs = [(by_pos[pr.qid, pr.pos_id], by_neg[pr.qid, pr.neg_id]) for pr in prep.pairs]
    out = _summary(list(by_pos.values()), list(by_neg.values()), pairs)
    out["filled_in"] = prep.table.filled.get(source, 0)
    return out


def test_side(config: str, source: str, dataset: str, run: str) -> dict:
    """The injected values of one source over a test set's candidates: judged positives vs the other candidates."""
    cfg = load_config(config)
    ds = load_dataset(dataset, cfg.data_root)
    table = ScoreTable.from_config({source: run}, ds, "error", ds.topics())
    recipe = make_recipe(dataclasses.replace(cfg, variant=RECIPE_OF[source]))
    qrels, level = ds.qrels(), ds.rel_level
    pos, neg, pairs = [], [], []
    for qid, scores in table.runs[source].items():
        judged = qrels.get(qid, {})
        if not any(g >= level for g in judged.values()):
            continue
        p = [_value(recipe, source, s) for d, s in scores.items() if judged.get(d, 0) >= level]
        n = [_value(recipe, source, s) for d, s in scores.items() if judged.get(d, 0) < level]
        pos += p
        neg += n
        pairs += [(a, b) for a in p for b in n]
    return _summary(pos, neg, pairs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("configs", nargs="+", help="training configs with the probed source")
    ap.add_argument("--source", default="bm25", choices=sorted(RECIPE_OF), help="the injected source to probe")
    ap.add_argument("--policies", default="min,index", help="missing-score policies of the source to compare")
    ap.add_argument("--positive-depth", type=int, default=100,
                    help="the last training row: positives only from the candidates' top N (config positive_depth)")
    ap.add_argument("--test", action="append", default=[], metavar="DATASET=RUN",
                    help="a test set and its run of the source (repeatable; default: the config's test_dataset "
                         "and test_sources)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tests = [t.split("=", 1) for t in args.test]
    if any(len(t) != 2 for t in tests):
        ap.error("--test takes DATASET=RUN")
    result = {}
    for config in args.configs:
        cfg = load_config(config)
        if args.source not in cfg.sources:
            ap.error(f"{config}: has no {args.source!r} source")
        rows = {f"train (missing: {policy})": training_side(config, args.source, policy, None)
                for policy in args.policies.split(",")}
        rows[f"train (positive_depth {args.positive_depth})"] = training_side(config, args.source, "index",
                                                                             args.positive_depth)
        spec = cfg.test_sources.get(args.source)
        for dataset, run in tests or ([(cfg.test_dataset, spec)] if cfg.test_dataset and spec else []):
            rows[f"test ({dataset} candidates)"] = test_side(config, args.source, dataset, run)
        result[config] = rows
        print(f"{config}: trained on {cfg.dataset}; injected {args.source}")
        print("| set | positives | negatives | positives filled in | median injected value pos / neg | "
              "pairwise accuracy of the value alone |")
        print("|---|---|---|---|---|---|")
        for name, r in rows.items():
            print(f"| {name} | {r['positives']} | {r['negatives']} | {r.get('filled_in', '-')} | "
                  f"{r['median_pos']} / {r['median_neg']} | {r['pairwise_accuracy']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
