"""Build the results tables and plots of docs/results.md from the run files the experiment scripts wrote.

    python scripts/results_table.py [--results docs/results] [--doc docs/results.md]

Every number comes from a TREC run under ``docs/results/<data set>/`` (tracked in git, gzipped; a row file named
``@NAME`` is the data set's bundled first-stage run NAME, read from the shared data) evaluated with
rerankinject.evaluate (the same code as ``python -m rerankinject.evaluate``): nDCG@10, MRR@10, MAP, R@100, and a
two-sided paired t-test against CAT with Bonferroni correction (``†``). Rows whose run file is missing are listed as
"not run". Wall times come from ``docs/results/times.tsv`` (written by ``timed`` in scripts/experiments/common.sh),
training curves from the trainer states kept in ``docs/results/training/``. The generated part of the document lies
between the ``tables:begin``/``tables:end`` markers; the text around them is kept. Plots (PNG) go to docs/:
per-query nDCG@10 of BM25CAT minus CAT, and nDCG@10 against re-ranking cost (depth k of the BM25 top-100 that is
re-ranked; a cross-encoder scores each pair alone, so the depth-k run is the depth-100 scores of the top k, the rest
in BM25 order).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.datasets.registry import load_dataset  # noqa: E402
from rerankinject.evaluate.measures import compare_runs, evaluate_run, paired_ttest, per_query  # noqa: E402
from rerankinject.io.runs import RunRecord, read_run  # noqa: E402

logger = logging.getLogger("results_table")

MEASURES = ("nDCG@10", "MRR@10", "MAP", "R@100")
BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"

REFERENCE_ROWS = [
    ("BM25", "@bm25", "first stage: Anserini BM25 (k1 0.9, b 0.4) over the full MS MARCO corpus (official run)"),
    ("BM25 (local index)", "bm25-local.trec.gz", "the same candidates scored by our Lucene index over the 43k MS MARCO "
                                                 "passages in the shared data (the BM25 that the MS MARCO models see)"),
    ("dense (MiniLM)", "dense-minilm.trec.gz", "all-MiniLM-L6-v2 cosine of every BM25 top-100 candidate, exact (dense "
                                               "re-scoring: the full corpus is not here)"),
    ("hybrid (BM25 + MiniLM)", "hybrid-minilm.trec.gz", "min-max interpolation per query of the two rows above, "
                                                        "alpha tuned on the other DL year"),
    ("TAS-B", "@tasb", "reference dense run (full corpus)"),
    ("SPLADE++ ED", "@spladepp", "reference learned-sparse run (full corpus)"),
]
FIRST_STAGE_ROWS = [REFERENCE_ROWS[i] for i in (0, 2, 3)]
MSMARCO_ROWS = [
    ("teacher (BM25 + MiniLM, 0.5 / 0.5)", "msmarco-teacher-equal.trec.gz", "the training teacher of rounds 3-6 "
                                                                            "ranking the test candidates: pool-index "
                                                                            "BM25 and MiniLM, per-query min-max, "
                                                                            "equal weights"),
    ("teacher (0.1 / 0.9, tuned on dev)", "msmarco-teacher-tuned.trec.gz", "the same with the BM25 weight tuned on "
                                                                           "the dev validation set (200 dev-small "
                                                                           "queries), the tuned-teacher models' "
                                                                           "teacher"),
    ("CAT", "msmarco-cat.trec.gz", "MiniLM-L6 CE trained MS MARCO-style (clean set: title-free positives, BM25 + "
                                   "MiniLM hard negatives; listwise KL to the BM25 + MiniLM teacher + label term, "
                                   "1000 steps), no injection"),
    ("BM25CAT", "msmarco-bm25cat.trec.gz", "same training, BM25 of the local index injected as text"),
    ("CAT (1800 steps)", "msmarco-cat-long.trec.gz", "CAT's recipe trained 1,800 steps instead of 1,000 (57,600 "
                                                     "inputs), the best-validation checkpoint"),
    ("CAT (1800 steps, last)", "msmarco-cat-long-last.trec.gz", "the same run's final checkpoint (step 1,800)"),
    ("DPRCAT (from scratch)", "msmarco-dprcat-scratch.trec.gz", "same training as CAT (1000 steps from "
                                                                "all-MiniLM-L6-v2), our MiniLM cosine injected"),
    ("BM25DPRCAT (from scratch)", "msmarco-bm25dprcat-scratch.trec.gz", "same training as CAT, BM25 and our MiniLM "
                                                                        "cosine injected"),
    ("BM25DPRCAT (1800 steps)", "msmarco-bm25dprcat-long.trec.gz", "BM25DPRCAT (from scratch) trained 1,800 steps: "
                                                                   "CAT (1800 steps)' partner, best-validation "
                                                                   "checkpoint"),
    ("BM25DPRCAT (1800 steps, last)", "msmarco-bm25dprcat-long-last.trec.gz", "the same run's final checkpoint (step "
                                                                             "1,800)"),
    ("DPRCAT (upgrade of CAT)", "msmarco-dprcat.trec.gz", "CAT upgraded: +250 steps with our MiniLM cosine injected "
                                                          "(exact)"),
    ("BM25DPRCAT (upgrade of CAT)", "msmarco-bm25dprcat.trec.gz", "CAT upgraded: +250 steps with BM25 and MiniLM "
                                                                  "injected"),
    ("BM25DPRCAT (gentle upgrade)", "msmarco-bm25dprcat-gentle.trec.gz", "CAT upgraded: +200 steps with BM25 and "
                                                                         "MiniLM injected, lr 1e-5, no new warm-up"),
    ("bm25added", "msmarco-bm25added.trec.gz", "CAT + 250 steps of Margin-MSE on (3 x teacher + 10 x BM25/50) / 4, "
                                               "CAT input"),
    ("CAT + 250 steps (control)", "msmarco-cat-more.trec.gz", "CAT trained 250 more steps as CAT: the upgrades' "
                                                              "control (same data, loss, schedule)"),
    ("CAT (+ pseudo-labelled queries)", "msmarco-cat-pl.trec.gz", "CAT's recipe, steps and compute on the clean set "
                                                                  "plus 4,592 dev-small queries whose teacher top 1 "
                                                                  "is a training-only label (6,838 training queries "
                                                                  "instead of 2,246; their true positive is not in "
                                                                  "the pool)"),
    ("CAT (tuned teacher)", "msmarco-cat-tuned.trec.gz", "CAT's recipe with the teacher's BM25 weight tuned on "
                                                         "the dev validation set (0.1 instead of 0.5), validated "
                                                         "there (its 200 queries leave training); its best "
                                                         "checkpoint is the last (step 1,000)"),
    ("BM25DPRCAT (tuned teacher)", "msmarco-bm25dprcat-tuned.trec.gz", "BM25DPRCAT (from scratch) with the same "
                                                                       "tuned teacher and validation, best "
                                                                       "checkpoint"),
    ("BM25DPRCAT (tuned teacher, last)", "msmarco-bm25dprcat-tuned-last.trec.gz", "the same run's final checkpoint "
                                                                                 "(step 1,000)"),
    ("BM25CAT (tuned teacher)", "msmarco-bm25cat-tuned.trec.gz", "BM25CAT with CAT (tuned teacher)'s teacher, "
                                                                 "validation and schedule; its best checkpoint is "
                                                                 "the last (step 1,000)"),
    ("CAT (tuned teacher, length-matched)", "msmarco-cat-lm.trec.gz", "CAT (tuned teacher) trained on the "
                                                                      "length-matched clean set (negatives kept to "
                                                                      "the positives' lengths), best checkpoint"),
    ("CAT (tuned teacher, length-matched, last)", "msmarco-cat-lm-last.trec.gz", "the same run's final checkpoint "
                                                                                 "(step 1,000)"),
    ("DPRCAT (tuned teacher)", "msmarco-dprcat-tuned.trec.gz", "DPRCAT (from scratch) with CAT (tuned teacher)'s "
                                                               "teacher, validation and schedule; its best "
                                                               "checkpoint is the last (step 1,000)"),
    ("CAT (tuned teacher, seed 43)", "msmarco-cat-tuned-seed43.trec.gz", "CAT (tuned teacher) with another seed (43: "
                                                                         "other negatives, batch order and head "
                                                                         "initialisation); its best checkpoint is "
                                                                         "the last (step 1,000)"),
    ("DPRCAT (tuned teacher, seed 43)", "msmarco-dprcat-tuned-seed43.trec.gz", "DPRCAT (tuned teacher) with seed 43 "
                                                                               "(CAT (tuned teacher, seed 43)'s "
                                                                               "partner), best checkpoint"),
    ("DPRCAT (tuned teacher, seed 43, last)", "msmarco-dprcat-tuned-seed43-last.trec.gz", "the same run's final "
                                                                                         "checkpoint (step 1,000)"),
    ("BM25CAT (tuned teacher, seed 43)", "msmarco-bm25cat-tuned-seed43.trec.gz", "BM25CAT (tuned teacher) with "
                                                                                 "seed 43; its best checkpoint is the "
                                                                                 "last (step 1,000)"),
    ("BM25DPRCAT (tuned teacher, seed 43)", "msmarco-bm25dprcat-tuned-seed43.trec.gz", "BM25DPRCAT (tuned teacher) "
                                                                                       "with seed 43, best "
                                                                                       "checkpoint"),
    ("BM25DPRCAT (tuned teacher, seed 43, last)", "msmarco-bm25dprcat-tuned-seed43-last.trec.gz", "the same run's "
                                                                                                 "final checkpoint "
                                                                                                 "(step 1,000)"),
    ("interpolation BM25 + CAT", "msmarco-interp.trec.gz", "min-max per query, alpha tuned on the other DL year"),
]
FOLD_ROWS = [
    ("CAT", "fold-cat.trec.gz", "trained on the other DL year only (positives from its BM25 top 100)"),
    ("BM25CAT", "fold-bm25cat.trec.gz", "BM25 injected"),
    ("DPRCAT", "fold-dprcat.trec.gz", "our MiniLM dense score injected (exact for every candidate)"),
    ("BM25DPRCAT", "fold-bm25dprcat.trec.gz", "BM25 and our MiniLM dense score injected"),
    ("DPRCAT (TAS-B)", "fold-dprcat_tasb.trec.gz", "TAS-B score injected; query minimum where TAS-B's top 100 lacks "
                                                   "the candidate"),
    ("BM25DPRCAT (TAS-B)", "fold-bm25dprcat_tasb.trec.gz", "BM25 and TAS-B injected (same missing-score policy)"),
    ("bm25added", "fold-bm25added.trec.gz", "Margin-MSE on (3 x ensemble teacher + 10 x BM25/50) / 4, CAT input"),
    ("interpolation BM25 + CAT", "fold-interp.trec.gz", "min-max per query, alpha tuned on the CAT model's validation "
                                                        "queries (training year)"),
]
SCIFACT_ROWS = [
    ("BM25", "bm25.trec.gz", "Anserini BM25 (k1 0.9, b 0.4), full SciFact corpus"),
    ("dense (MiniLM)", "dense.trec.gz", "all-MiniLM-L6-v2, faiss flat, full corpus"),
    ("hybrid", "hybrid.trec.gz", "min-max interpolation, alpha 0.45 tuned on train"),
    ("dense re-scoring (MiniLM)", "dense-minilm.trec.gz", "the MiniLM cosine of every BM25 top-100 candidate (the "
                                                          "DPR score that DPRCAT sees; BM25's top 100 re-scored)"),
    ("CAT", "cat.trec.gz", "trained on SciFact train, BM25 top-100 re-ranked"),
    ("BM25CAT", "bm25cat.trec.gz", "trained on SciFact train, BM25 top-100 re-ranked"),
    ("DPRCAT", "dprcat.trec.gz", "our MiniLM dense score injected (exact for every candidate)"),
    ("BM25DPRCAT", "bm25dprcat.trec.gz", "BM25 and our MiniLM dense score injected"),
    ("bm25added", "bm25added.trec.gz", "Margin-MSE on (3 x SciFact CAT teacher + 10 x BM25/50) / 4, CAT input"),
    ("interpolation BM25 + CAT", "interp.trec.gz", "min-max per query, alpha tuned on the validation queries"),
    ("hybrid top-20 re-ranked by BM25DPRCAT", "hybrid-bm25dprcat.top20.trec.gz", "trained on SciFact train's "
                                                                                "hybrid top 100 (listwise, 1 + 7 "
                                                                                "negatives), BM25 and MiniLM "
                                                                                "injected; the demo's model and run"),
    ("hybrid top-100 re-ranked by BM25DPRCAT", "hybrid-bm25dprcat.top100.trec.gz", "the same model re-ranking the "
                                                                                  "hybrid's whole top 100"),
    ("hybrid + BM25DPRCAT (interpolation)", "hybrid-bm25dprcat-interp.top20.trec.gz",
     "the hybrid and the demo's model over the re-ranked top 20, per-query min-max, alpha 0.3 tuned on the model's 40 "
     "validation queries; the demo's last row"),
    ("hybrid top-20 re-ranked by BM25DPRCAT (MS MARCO -> SciFact)", "hybrid-bm25dprcat-msmarco.top20.trec.gz",
     "the demo's recipe started from the MS MARCO-style BM25DPRCAT (tuned teacher, seed 42), not all-MiniLM-L6-v2"),
    ("hybrid top-20 re-ranked by BM25DPRCAT (MS MARCO seed 43 -> SciFact)",
     "hybrid-bm25dprcat-msmarco-seed43.top20.trec.gz", "the same, started from the seed-43 MS MARCO-style BM25DPRCAT"),
    ("hybrid top-20 re-ranked by BM25DPRCAT (MS MARCO DPRCAT -> SciFact)",
     "hybrid-bm25dprcat-msmarco-dprcat.top20.trec.gz", "the same, started from the MS MARCO-style DPRCAT (BM25 new)"),
    ("hybrid top-20 re-ranked by BM25DPRCAT (seed 43)", "hybrid-bm25dprcat-seed43.top20.trec.gz",
     "the demo's recipe (from all-MiniLM-L6-v2) with seed 43: the control's spread"),
    ("hybrid + BM25DPRCAT (MS MARCO -> SciFact)", "hybrid-bm25dprcat-msmarco-interp.top20.trec.gz",
     "interpolation as above, alpha tuned on the same validation queries (0.05)"),
    ("hybrid + BM25DPRCAT (MS MARCO seed 43 -> SciFact)", "hybrid-bm25dprcat-msmarco-seed43-interp.top20.trec.gz",
     "interpolation as above (alpha 0.15)"),
    ("hybrid + BM25DPRCAT (MS MARCO DPRCAT -> SciFact)", "hybrid-bm25dprcat-msmarco-dprcat-interp.top20.trec.gz",
     "interpolation as above (alpha 0.05)"),
    ("hybrid + BM25DPRCAT (seed 43)", "hybrid-bm25dprcat-seed43-interp.top20.trec.gz",
     "interpolation as above, alpha tuned on the seed-43 model's own validation queries (0.35)"),
    ("hybrid top-20 re-ranked by BM25DPRCAT (MS MARCO, zero-shot)", "msmarco-bm25dprcat-tuned.hybrid-top20.trec.gz",
     "the MS MARCO-style BM25DPRCAT (tuned teacher, seed 42) as it is, max_length 160"),
    ("CAT (MS MARCO, zero-shot)", "msmarco-cat.trec.gz", "the DL models, BM25 top-20 re-ranked"),
    ("BM25CAT (MS MARCO, zero-shot)", "msmarco-bm25cat.trec.gz", "the DL models, BM25 top-20 re-ranked"),
]
TABLES = {
    "dl19-msmarco": ("dl19", "TREC DL 2019 (43 judged queries): MS MARCO-style training, BM25 top-100 re-ranked",
                     REFERENCE_ROWS + MSMARCO_ROWS),
    "dl20-msmarco": ("dl20", "TREC DL 2020 (54 judged queries): MS MARCO-style training, BM25 top-100 re-ranked",
                     REFERENCE_ROWS + MSMARCO_ROWS),
    "dl19-fold": ("dl19", "TREC DL 2019: models trained on DL20 only", FIRST_STAGE_ROWS + FOLD_ROWS),
    "dl20-fold": ("dl20", "TREC DL 2020: models trained on DL19 only", FIRST_STAGE_ROWS + FOLD_ROWS),
    "scifact": ("scifact", "SciFact test (300 queries): full pipeline (every run cut at depth 100)", SCIFACT_ROWS),
}
QRELS = {"dl19": "dl19", "dl20": "dl20", "scifact": "scifact-test"}
POOLED_ROWS = ["CAT", "BM25CAT", "DPRCAT (from scratch)", "BM25DPRCAT (from scratch)"]
"""The like-for-like MS MARCO-style variants (same data, loss, schedule, steps; only the injection differs)."""
POOLED_REFS = ["dense (MiniLM)", "hybrid (BM25 + MiniLM)"]
TUNED_ROWS = ["CAT (tuned teacher)", "BM25CAT (tuned teacher)", "DPRCAT (tuned teacher)", "BM25DPRCAT (tuned teacher)",
              "CAT (tuned teacher, length-matched)", "CAT (tuned teacher, seed 43)",
              "BM25CAT (tuned teacher, seed 43)", "DPRCAT (tuned teacher, seed 43)",
              "BM25DPRCAT (tuned teacher, seed 43)"]
"""The tuned-teacher models (same teacher, validation, schedule, steps): injection, the length-matched data, or
another seed."""


def _fmt(v: float, p: float | None) -> str:
    return f"{v:.4f}" + ("†" if p is not None and p < 0.05 else "")


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def table(key: str, res: Path) -> tuple[str, dict, dict]:
    """The Markdown table ``key`` of :data:`TABLES`, its runs ``{row: run}`` and evaluations ``{row: Comparison}``."""
    folder, title, rows = TABLES[key]
    ds = load_dataset(QRELS[folder])
    qrels, level = ds.qrels(), ds.rel_level
    paths = {label: run_file(ds, res / folder, f) for label, f, _ in rows}
    present = {label: read_run(path) for label, path in paths.items() if path is not None}
    lines = [f"### {title}", ""]
    if not present:
        return "\n".join(lines + ["(no run files yet)", ""]), present, {}
    # significance against CAT; without a CAT row, against the first CAT-like row (e.g. the zero-shot CAT)
    baseline = "CAT" if "CAT" in present else next((lab for lab in present if lab.startswith("CAT")), None)
    results = {c.name: c for c in compare_runs(present, qrels, level, baseline, MEASURES)}
    dense = next((lab for lab in ("dense re-scoring (MiniLM)", "dense (MiniLM)") if lab in present), None)
    vs_dense = {c.name: c for c in compare_runs(present, qrels, level, dense, MEASURES)} if dense else {}
    lines += ["| run | " + " | ".join(MEASURES) + " | what |", "|---" * (len(MEASURES) + 2) + "|"]
    for label, _file, what in rows:
        if label not in results:
            lines.append(f"| {label} | " + " | ".join("-" for _ in MEASURES) + f" | not run ({what}) |")
            continue
        c = results[label]
        cells = [_fmt(c.means[m], (c.p_values or {}).get(m)) for m in MEASURES]
        dp = (vs_dense[label].p_values or {}).get("nDCG@10") if label in vs_dense else None
        if dp is not None and dp < 0.05:
            cells[0] += "‡"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {what} |")
    if baseline:
        n = len(present) - 1
        lines.append("")
        lines.append(f"† two-sided paired t-test against {baseline} over the {len(qrels)} judged queries, Bonferroni-"
                     f"corrected for the {n} runs compared, p < 0.05. Binary measures at grade >= {level}.")
        if dense:
            lines.append(f"‡ nDCG@10 significantly different from the bi-encoder row '{dense}' (same test).")
    lines.append("")
    return "\n".join(lines), present, results


def pooled_table(res: Path, rows: list[str] = POOLED_ROWS,
                 title: str = "the like-for-like MS MARCO-style variants") -> str:
    """nDCG@10 over DL19 and DL20 TOGETHER (97 judged queries, query ids prefixed by year): each of ``rows`` against
    the first (paired t-test, Bonferroni over the others) and against the bi-encoder and the hybrid (paired t-test
    each, uncorrected). Empty until every run exists."""
    loaded = _pooled_runs(res, rows + POOLED_REFS)
    if loaded is None:
        return ""
    runs, qrels, level = loaded
    m, base = ("nDCG@10",), rows[0]
    vs_cat = {c.name: c for c in compare_runs({lab: runs[lab] for lab in rows}, qrels, level, base, m)}
    lines = [f"### TREC DL 2019 + 2020 together (97 judged queries): {title}", "",
             f"| run | nDCG@10 | p vs {base} (Bonferroni) | p vs bi-encoder | p vs hybrid |", "|---|---|---|---|---|"]
    for label in rows + POOLED_REFS:
        if label in vs_cat:
            c = vs_cat[label]
            p_cat = "-" if c.p_values is None else _p(c.p_values['nDCG@10'])
            refs = [compare_runs({label: runs[label], ref: runs[ref]}, qrels, level, ref, m)[0] for ref in POOLED_REFS]
            lines.append(f"| {label} | {c.means['nDCG@10']:.4f} | {p_cat} | "
                         + " | ".join(_p(r.p_values['nDCG@10']) for r in refs) + " |")
        else:
            mean = compare_runs({label: runs[label]}, qrels, level, None, m)[0].means["nDCG@10"]
            lines.append(f"| {label} (reference) | {mean:.4f} | | | |")
    lines += ["", f"Two-sided paired t-tests over the 97 queries; against {base} Bonferroni-corrected for the "
                  f"{len(rows) - 1} variants; against the bi-encoder and the hybrid uncorrected.", ""]
    return "\n".join(lines)


def _pooled_runs(res: Path, labels: list[str], extra: dict[str, str] | None = None) -> tuple[dict, dict, int] | None:
    """The runs of MS MARCO-style table rows ``labels`` (or of ``extra``: label -> run file name) over DL19 and DL20
    together (query ids prefixed by year), the pooled qrels and the relevance level; None while a run is missing."""
    files = {label: f for label, f, _ in REFERENCE_ROWS + MSMARCO_ROWS} | (extra or {})
    runs: dict[str, dict] = {}
    qrels: dict[str, dict] = {}
    level = 1
    for year in ("dl19", "dl20"):
        ds = load_dataset(QRELS[year])
        level = ds.rel_level
        qrels.update({f"{year}:{q}": v for q, v in ds.qrels().items()})
        for label in labels:
            path = run_file(ds, res / year, files[label]) if label in files else None
            if path is None:
                return None
            runs.setdefault(label, {}).update({f"{year}:{q}": [RunRecord(f"{year}:{q}", r.doc_id, r.score)
                                                                for r in recs] for q, recs in read_run(path).items()})
    return runs, qrels, level


TEACHER_PAIRS = [("CAT (tuned teacher)", "CAT"), ("BM25CAT (tuned teacher)", "BM25CAT"),
                 ("DPRCAT (tuned teacher)", "DPRCAT (from scratch)"),
                 ("BM25DPRCAT (tuned teacher)", "BM25DPRCAT (from scratch)")]
"""Each model trained with the teacher tuned on the dev set, and its equal-weight-teacher counterpart."""


def teacher_table(res: Path) -> str:
    """nDCG@10 over DL19 + DL20 of each tuned-teacher model against its equal-weight counterpart (paired t-test,
    Bonferroni over the pairs) and against the bi-encoder (uncorrected). Empty until every run exists."""
    labels = [x for pair in TEACHER_PAIRS for x in pair] + POOLED_REFS[:1]
    loaded = _pooled_runs(res, labels)
    if loaded is None:
        return ""
    runs, qrels, level = loaded
    m, dense = ("nDCG@10",), POOLED_REFS[0]
    lines = ["### TREC DL 2019 + 2020 together: the teacher tuned on the dev set vs equal weights", "",
             "| model | nDCG@10 tuned teacher | nDCG@10 equal weights | p (Bonferroni) | p tuned vs bi-encoder |",
             "|---|---|---|---|---|"]
    for new, old in TEACHER_PAIRS:
        c_new, c_old = compare_runs({new: runs[new], old: runs[old]}, qrels, level, old, m)
        p = min(1.0, c_new.p_values["nDCG@10"] * len(TEACHER_PAIRS))
        p_dense = compare_runs({new: runs[new], dense: runs[dense]}, qrels, level, dense, m)[0].p_values["nDCG@10"]
        lines.append(f"| {new} | {c_new.means['nDCG@10']:.4f} | {c_old.means['nDCG@10']:.4f} ({old}) | {_p(p)} | "
                     f"{_p(p_dense)} |")
    mean = compare_runs({dense: runs[dense]}, qrels, level, None, m)[0].means["nDCG@10"]
    lines += ["", f"Bi-encoder ({dense}) over the same 97 queries: {mean:.4f}. Two-sided paired t-tests.", ""]
    return "\n".join(lines)


SEED_FAMILY = ["CAT", "BM25CAT", "DPRCAT", "BM25DPRCAT"]
"""The tuned-teacher family: each variant ``V`` has rows ``V (tuned teacher)`` (seed 42) and ``V (tuned teacher, seed
43)``; ``msmarco-<v>-tuned[-seed43]-interp.trec.gz`` is BM25 + that model (alpha tuned on the other year)."""


def seed_table(res: Path) -> str:
    """The tuned-teacher family over its two seeds: per variant, nDCG@10 per year and pooled (DL19 + DL20) of each seed
    and of the seed mean, and paired t-tests of the per-query SEED MEAN (the mean of the two seeds' nDCG@10 for each
    query) against CAT's seed mean (Bonferroni over the three injected variants), the bi-encoder and the hybrid
    (uncorrected). Empty until every run exists."""
    seeds = {v: (f"{v} (tuned teacher)", f"{v} (tuned teacher, seed 43)") for v in SEED_FAMILY}
    interp = {f"BM25 + {v}": (f"{a} + BM25", f"{b} + BM25") for v, (a, b) in seeds.items()}
    extra = {f"{lab} + BM25": f"msmarco-{v.lower()}-tuned{sfx}-interp.trec.gz"
             for v, pair in seeds.items() for lab, sfx in zip(pair, ("", "-seed43"), strict=True)}
    loaded = _pooled_runs(res, [lab for pair in seeds.values() for lab in pair] + list(extra) + POOLED_REFS, extra)
    if loaded is None:
        return ""
    runs, qrels, level = loaded
    pq = {lab: per_query(run, qrels, level, ("nDCG@10",))["nDCG@10"] for lab, run in runs.items()}
    mean_pq = {v: {q: (pq[a][q] + pq[b][q]) / 2 for q in qrels} for v, (a, b) in (seeds | interp).items()}
    mean_pq.update({ref: pq[ref] for ref in POOLED_REFS})

    def avg(values: dict[str, float], year: str | None = None) -> float:
        picked = [x for q, x in values.items() if year is None or q.startswith(f"{year}:")]
        return sum(picked) / len(picked)

    lines = ["### TREC DL 2019 + 2020: the tuned-teacher family over two seeds (42 and 43)", "",
             "| model | DL19 seed 42 / 43 / mean | DL20 seed 42 / 43 / mean | pooled mean | p vs CAT (Bonferroni) | "
             "p vs bi-encoder | p vs hybrid |", "|---|---|---|---|---|---|---|"]
    for block in (seeds, interp):
        first = next(iter(block))
        for v, (a, b) in block.items():
            years = [f"{avg(pq[a], y):.4f} / {avg(pq[b], y):.4f} / **{avg(mean_pq[v], y):.4f}**"
                     for y in ("dl19", "dl20")]
            p_cat = "-" if v == first else \
                _p(min(1.0, paired_ttest(mean_pq[v], mean_pq[first]) * (len(block) - 1)))
            refs = " | ".join(_p(paired_ttest(mean_pq[v], mean_pq[ref])) for ref in POOLED_REFS)
            lines.append(f"| {v} | {years[0]} | {years[1]} | {avg(mean_pq[v]):.4f} | {p_cat} | {refs} |")
    for ref in POOLED_REFS:
        lines.append(f"| {ref} (reference) | {avg(pq[ref], 'dl19'):.4f} | {avg(pq[ref], 'dl20'):.4f} | "
                     f"{avg(pq[ref]):.4f} | | | |")
    lines += ["", "Same teacher (BM25 0.1 / MiniLM 0.9, tuned on runs/msmarco-devval), data, schedule and 1,000 steps; "
                  "seed 43 draws other negatives, batch order and head initialisation. Each model's best-validation "
                  "checkpoint. BM25 + V: the interpolation baseline of each of V's two models (official BM25 run, "
                  "per-query min-max, alpha tuned on the other DL year; `msmarco-<v>-tuned[-seed43]-interp`). The "
                  "tests compare per-query seed means (the mean of the two seeds' nDCG@10 for each of the 97 "
                  "queries): two-sided paired t-tests, against CAT (for BM25 + V: BM25 + CAT) Bonferroni-corrected "
                  "for the 3 injected variants of each block, against the bi-encoder and the hybrid uncorrected. "
                  "Two seeds estimate the seed-to-seed spread poorly: the p-values count only query-to-query "
                  "variation of the seed means, not the variation between seeds.", ""]
    return "\n".join(lines)


SCIFACT_FAMILY = {"CAT": "hybrid-cat", "BM25CAT": "hybrid-bm25cat", "DPRCAT": "hybrid-dprcat",
                  "BM25DPRCAT": "hybrid-bm25dprcat-repro"}
"""The like-for-like SciFact family over the hybrid first stage (scifact_hybrid_<v>.yaml: the demo's recipe and seed,
only the injected scores differ): ``scifact/<name>.top20.trec.gz`` re-ranks the test hybrid top 20,
``<name>-interp.top20.trec.gz`` is the hybrid + that model (alpha tuned on its validation queries)."""
SCIFACT_SEED43 = {"CAT": "hybrid-cat-seed43", "BM25CAT": "hybrid-bm25cat-seed43",
                  "BM25DPRCAT": "hybrid-bm25dprcat-seed43"}
"""The family members trained again with seed 43 (the seed-mean blocks appear once all of them exist)."""
SCIFACT_FAMILY_REFS = {"hybrid": "hybrid.trec.gz", "dense re-scoring (MiniLM)": "dense-minilm.trec.gz",
                       "BM25DPRCAT (shipped, 2026-12-03)": "hybrid-bm25dprcat.top20.trec.gz",
                       "hybrid + BM25DPRCAT (shipped)": "hybrid-bm25dprcat-interp.top20.trec.gz"}


def scifact_family_table(res: Path) -> str:
    """The SciFact family over the hybrid first stage: per variant, nDCG@10 and MRR@10 of the model re-ranking the test
    hybrid top 20 and of the hybrid + that model, with paired t-tests against CAT (for hybrid + V: hybrid + CAT;
    Bonferroni over the injected variants of each block), the hybrid and the bi-encoder (uncorrected); when the seed-43
    models exist, the same for the per-query means of the two seeds. Empty until every seed-42 run exists."""
    ds = load_dataset(QRELS["scifact"])
    qrels, level = ds.qrels(), ds.rel_level
    folder = res / "scifact"
    blocks = [{v: [f"{n}.top20.trec.gz"] for v, n in SCIFACT_FAMILY.items()},
              {f"hybrid + {v}": [f"{n}-interp.top20.trec.gz"] for v, n in SCIFACT_FAMILY.items()}]
    if all(run_file(ds, folder, f"{n}{x}.top20.trec.gz") for n in SCIFACT_SEED43.values() for x in ("", "-interp")):
        blocks += [{f"{pre}{v}, seeds 42 + 43": [f"{SCIFACT_FAMILY[v]}{x}.top20.trec.gz", f"{n}{x}.top20.trec.gz"]
                    for v, n in SCIFACT_SEED43.items()} for x, pre in (("", ""), ("-interp", "hybrid + "))]
    refs = {lab: [f] for lab, f in SCIFACT_FAMILY_REFS.items()}
    refs |= {f"{v}, last checkpoint": [f"{n}-last.top20.trec.gz"] for v, n in SCIFACT_FAMILY.items()
             if run_file(ds, folder, f"{n}-last.top20.trec.gz")}  # when validation chose an earlier checkpoint
    files = {lab: fs for block in blocks for lab, fs in block.items()} | refs
    paths = {lab: [run_file(ds, folder, f) for f in fs] for lab, fs in files.items()}
    if any(p is None for ps in paths.values() for p in ps):
        return ""
    scores = {}
    for lab, ps in paths.items():  # per query, the mean over the label's runs (its seeds)
        each = [per_query(read_run(path), qrels, level, ("nDCG@10", "MRR@10")) for path in ps]
        scores[lab] = {m: {q: sum(e[m][q] for e in each) / len(each) for q in qrels} for m in ("nDCG@10", "MRR@10")}
    ndcg = {lab: sc["nDCG@10"] for lab, sc in scores.items()}

    def mean(lab: str, m: str = "nDCG@10") -> float:
        return sum(scores[lab][m].values()) / len(scores[lab][m])

    ref_labels = ("hybrid", "dense re-scoring (MiniLM)")
    lines = ["### SciFact test (300 queries): the like-for-like family over the hybrid first stage", "",
             "| model | nDCG@10 | MRR@10 | p vs CAT (Bonferroni) | p vs hybrid | p vs bi-encoder |",
             "|---|---|---|---|---|---|"]
    for block in blocks:
        first = next(iter(block))
        for lab in block:
            p_cat = "-" if lab == first else _p(min(1.0, paired_ttest(ndcg[lab], ndcg[first]) * (len(block) - 1)))
            p_refs = " | ".join(_p(paired_ttest(ndcg[lab], ndcg[r])) for r in ref_labels)
            lines.append(f"| {lab} | {mean(lab):.4f} | {mean(lab, 'MRR@10'):.4f} | {p_cat} | {p_refs} |")
    for lab in refs:  # a last checkpoint is tested against the hybrid and the bi-encoder too
        p_refs = [_p(paired_ttest(ndcg[lab], ndcg[r])) if "last" in lab else "" for r in ref_labels]
        cells = [f"{lab} (reference)", f"{mean(lab):.4f}", f"{mean(lab, 'MRR@10'):.4f}", "", *p_refs]
        lines.append("|" + "|".join(f" {c} " if c else " " for c in cells) + "|")
    lines += ["", "Each model: the demo's recipe (`scripts/configs/scifact_hybrid_<v>.yaml`; BM25DPRCAT: "
                  "`scifact_hybrid_bm25dprcat-repro.yaml`): all-MiniLM-L6-v2 with a new head, SciFact train's hybrid "
                  "top 100, listwise over 1 positive + 7 negatives, 240 steps (7,680 inputs), max_length 224, seed 42 "
                  "(the same 40 validation queries); only the injected scores differ. Each re-ranks the test "
                  "queries' hybrid top 20 (best-validation checkpoint); hybrid + V: per-query min-max over that top "
                  "20, alpha tuned on V's own validation queries. The shipped BM25DPRCAT (trained 2026-12-03 with the "
                  "same config) is a reference. \"seeds 42 + 43\": the per-query mean of the seed-42 model and its "
                  "seed-43 twin (`scifact_hybrid_<v>-seed43.yaml`; BM25DPRCAT: `scifact_hybrid_bm25dprcat-seed43.yaml`"
                  "; seed 43 also draws other validation queries). Two-sided paired t-tests over the 300 queries; "
                  "against CAT (for hybrid + V: hybrid + CAT) Bonferroni-corrected for the injected variants of each "
                  "block; against the hybrid and the bi-encoder (MiniLM re-scoring of the BM25 top 100) uncorrected. "
                  "Two seeds estimate the seed spread poorly: the tests count query-to-query variation only.", ""]
    return "\n".join(lines)


def fold_rounds_table(res: Path) -> str:
    """The fold models before and after the training-signal fix: the first round's runs (``<year>/first-round/``: all
    judged positives, a missing BM25 filled with the query's minimum) against today's (positives only from the BM25
    top 100), nDCG@10 per test year, paired t-test of each variant's new run against its old one."""
    lines = ["### DL folds: first round vs positives from the BM25 top 100", "",
             "| model | DL19 first round | DL19 now | p | DL20 first round | DL20 now | p |",
             "|---|---|---|---|---|---|---|"]
    found = False
    judged = {year: (ds.qrels(), ds.rel_level) for year, ds in ((y, load_dataset(QRELS[y])) for y in ("dl19", "dl20"))}
    for label, name, _ in FOLD_ROWS:
        cells = []
        for year, (qrels, level) in judged.items():
            old, new = res / year / "first-round" / name, res / year / name
            if not (old.is_file() and new.is_file()):
                cells += ["-", "-", "-"]
                continue
            found = True
            c_old, c_new = compare_runs({"old": read_run(old), "new": read_run(new)}, qrels, level, "old",
                                        ("nDCG@10",))
            cells += [f"{c_old.means['nDCG@10']:.4f}", f"{c_new.means['nDCG@10']:.4f}",
                      _p(c_new.p_values['nDCG@10'])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Two-sided paired t-test of the new run against the first round's, per year (one comparison each).",
              ""]
    return "\n".join(lines) if found else ""


def run_file(ds, folder: Path, name: str) -> Path | None:
    """The run file of a row: ``@NAME`` is the data set's bundled run NAME, else ``folder/name``; None if absent."""
    if name.startswith("@"):
        return ds.run_path(name[1:])
    return folder / name if (folder / name).is_file() else None


def depth_cut(first: dict, reranked: dict, k: int) -> dict:
    """The run a depth-``k`` re-ranking gives: the top k of ``first`` ordered by the re-ranked scores, then the rest."""
    out = {}
    for q, recs in first.items():
        top = [r.doc_id for r in recs[:k]]
        ce = {r.doc_id: r.score for r in reranked.get(q, [])}
        order = sorted(top, key=lambda d: (-ce[d], d)) + [r.doc_id for r in recs[k:]]
        out[q] = [RunRecord(q, d, float(len(order) - i)) for i, d in enumerate(order)]
    return out


def read_times(res: Path) -> list[dict]:
    path = res / "times.tsv"
    if not path.is_file():
        return []
    with open(path) as fh:
        return [dict(zip(("job", "seconds", "machine", "date"), row, strict=False))
                for row in csv.reader(fh, delimiter="\t") if row]


def seconds_per_pair(times: list[dict], job: str, pairs: int) -> float | None:
    rows = [t for t in times if t["job"] == job]
    return float(rows[-1]["seconds"]) / pairs if rows else None


def plots(loaded: dict, evaluated: dict, docs: Path, times: list[dict]) -> list[str]:
    """Write the PNG plots; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    sets = [n for n in ("dl19-msmarco", "dl20-msmarco", "dl19-fold", "dl20-fold", "scifact")
            if {"CAT", "BM25CAT"} <= set(loaded.get(n, {}))]
    if sets:
        fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.6), squeeze=False)
        for ax, name in zip(axes[0], sets, strict=True):
            pq = {lab: evaluated[name][lab].per_query["nDCG@10"] for lab in ("CAT", "BM25CAT")}
            diffs = sorted((pq["BM25CAT"][q] - pq["CAT"][q] for q in pq["CAT"]), reverse=True)
            ax.bar(range(len(diffs)), diffs, color=["tab:green" if d > 0 else "tab:red" for d in diffs])
            ax.axhline(0, color="black", lw=0.6)
            wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
            ax.set_title(f"{name}: BM25CAT - CAT ({wins} up, {losses} down)")
            ax.set_xlabel("query (sorted)")
            ax.set_ylabel("nDCG@10 difference")
        fig.tight_layout()
        fig.savefig(docs / "results_per_query.png", dpi=110)
        plt.close(fig)
        made.append("results_per_query.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    drew = False
    for name, table, job in (("dl19", "dl19-msmarco", "rerank-dl19-msmarco-"), ("dl20", "dl20-msmarco",
                             "rerank-dl20-msmarco-"), ("scifact", "scifact", "rerank-scifact-")):
        runs = loaded.get(table, {})
        if "BM25" not in runs:
            continue
        ds = load_dataset(QRELS[name])
        first = {q: recs for q, recs in runs["BM25"].items()}
        n_pairs = sum(min(100, len(r)) for r in first.values())
        for lab, style in (("CAT", "--"), ("BM25CAT", "-")):
            if lab not in runs:
                continue
            spp = seconds_per_pair(times, job + lab.lower(), n_pairs)
            if spp is None:
                continue
            xs, ys = [], []
            for k in (0, 5, 10, 20, 30, 50, 100):
                xs.append(k * spp)
                ys.append(evaluate_run(depth_cut(first, runs[lab], k), ds.qrels(), ds.rel_level,
                                       ["nDCG@10"])["nDCG@10"])
            ax.plot(xs, ys, style, marker="o", label=f"{name} {lab}")
            drew = True
    if drew:
        ax.set_xlabel("re-ranking seconds per query (depth k = 0, 5, 10, 20, 30, 50, 100; this CPU)")
        ax.set_ylabel("nDCG@10")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(docs / "results_cost.png", dpi=110)
        made.append("results_cost.png")
    plt.close(fig)
    return made


def training_rows(res: Path) -> list[str]:
    """One row per trained model (its validation curve kept in ``res/training``): steps, pairs seen, minutes, the
    first stage's nDCG@10 on its validation set (how saturated that set is), best validation nDCG@10 and the curve
    (step-0 = the untrained model, a reference)."""
    out = []
    for state in sorted((res / "training").glob("*.json")):
        st = json.loads(state.read_text())
        if "evaluations" not in st:  # a probe's or a benchmark's figures, not a trainer state
            continue
        evals = st["evaluations"]
        steps = st.get("step") or max((e["step"] for e in evals), default=0)
        pairs = st.get("pairs_seen")
        curve = [f"{e['step']}: {e['nDCG@10']:.4f}" for e in evals]
        first = st.get("first_stage_score")
        out.append(f"| {state.stem} | {steps} | {pairs if pairs is not None else '-'} | "
                   f"{(st.get('seconds') or 0) / 60:.1f} | {'-' if first is None else f'{first:.4f}'} | "
                   f"{st.get('best_score') or 0:.4f} "
                   f"(step {st.get('best_step')}) | {', '.join(curve)} |")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default=str(ROOT / "docs" / "results"))
    p.add_argument("--doc", default=str(ROOT / "docs" / "results.md"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    res, doc = Path(args.results), Path(args.doc)
    loaded, evaluated = {}, {}
    parts = [BEGIN, "", "_Generated by `python scripts/results_table.py` from the run files in docs/results; "
                        "do not edit between the markers._", ""]
    for name in TABLES:
        text, present, results = table(name, res)
        parts.append(text)
        loaded[name], evaluated[name] = present, results
    parts += [extra for extra in (pooled_table(res), teacher_table(res),
                                  pooled_table(res, TUNED_ROWS, "the tuned-teacher models"), seed_table(res),
                                  scifact_family_table(res), fold_rounds_table(res)) if extra]
    times = read_times(res)
    made = plots(loaded, evaluated, doc.parent, times)
    parts += [f"![{m}]({m})" for m in made] + [""]
    rows = training_rows(res)
    if rows:
        parts += ["### Training", "", "| model | steps | pairs seen | minutes | first stage on validation | "
                                    "best validation nDCG@10 | validation curve |", "|---|---|---|---|---|---|---|",
                  *rows, ""]
    if times:
        parts += ["### Wall times", "", "| job | seconds | machine | finished (UTC) |", "|---|---|---|---|"]
        parts += [f"| {t['job']} | {t['seconds']} | {t['machine']} | {t['date']} |" for t in times] + [""]
    parts.append(END)
    generated = "\n".join(parts)
    text = doc.read_text() if doc.is_file() else f"# Results\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc}: missing the {BEGIN} / {END} markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(head + generated + tail)
    logger.info("wrote %s (%d plots)", doc, len(made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
