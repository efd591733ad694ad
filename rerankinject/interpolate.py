"""Baseline re-ranker: linear interpolation of first-stage and cross-encoder scores.

``score = alpha * norm(first stage) + (1 - alpha) * norm(cross-encoder)`` per query, with both runs normalised by
the same per-query normaliser (default ``minmax-query``; any kind of
:func:`~rerankinject.injection.normalize_scores`). ``alpha`` is given, or chosen on *tuning* queries (a first-stage
run and a cross-encoder run of queries disjoint from the test queries, with their qrels) by a grid search on
nDCG@10. Example::

    python -m rerankinject.interpolate --first runs/dl19.bm25.trec --ce runs/dl19.cat.trec \\
        --tune-first runs/dl20.bm25.trec --tune-ce runs/dl20.cat.trec --tune-qrels dl20 \\
        --output runs/dl19.interp.trec

Only documents in both runs are interpolated; documents only in the first-stage run (below the re-ranking
depth) follow them in their first-stage order. A document only in the cross-encoder run is an error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence

from .cli_common import run_cli, setup_logging
from .datasets import rel_level_for, resolve_qrels
from .errors import DataError
from .evaluate import evaluate_run, measures_for
from .injection import NORMALIZERS, Normalizer, normalize_scores
from .reranker import apply_depth
from .runs import Run, RunRecord, read_run, sort_hits, write_run

__all__ = ["interpolate_runs", "tune_alpha", "alpha_grid", "main", "build_parser"]

logger = logging.getLogger(__name__)


def alpha_grid(step: float = 0.05) -> list[float]:
    """``[0, step, 2*step, ..., 1]`` (rounded to 6 places)."""
    if not 0 < step <= 1:
        raise ValueError(f"alpha step must be in (0, 1], got {step}")
    n = int(round(1 / step))
    return [round(i / n, 6) for i in range(n + 1)]


def interpolate_runs(first: Mapping[str, Sequence[RunRecord]], ce: Mapping[str, Sequence[RunRecord]], alpha: float,
                     norm: Normalizer | str = "minmax-query") -> Run:
    """``alpha * norm(first) + (1 - alpha) * norm(ce)`` for each query of ``ce``.

    Args:
        first: first-stage run (raw scores).
        ce: cross-encoder run of the same queries (raw logits); its documents must be in ``first``.
        alpha: weight of the first stage, in [0, 1].
        norm: a :class:`Normalizer` or its kind (each query's scores of each run are normalised separately).

    Raises:
        ValueError: alpha out of range.
        DataError: a ``ce`` query or document missing from ``first``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    norm = norm if isinstance(norm, Normalizer) else Normalizer(norm)
    out: Run = {}
    for qid, ce_recs in ce.items():
        if qid not in first:
            raise DataError(f"query {qid!r} of the cross-encoder run is not in the first-stage run")
        f_recs = sort_hits(first[qid])
        f_score = {r.doc_id: r.score for r in f_recs}
        docs = [r.doc_id for r in ce_recs]
        absent = [d for d in docs if d not in f_score]
        if absent:
            raise DataError(f"query {qid!r}: doc {absent[0]!r} of the cross-encoder run is not in the first-stage "
                            f"run ({len(absent)} such docs)")
        nf = normalize_scores([f_score[d] for d in docs], norm)
        nc = normalize_scores([r.score for r in ce_recs], norm)
        ranked = sort_hits(RunRecord(qid, d, alpha * a + (1 - alpha) * b) for d, a, b in zip(docs, nf, nc, strict=True))
        in_ce = set(docs)
        out[qid] = apply_depth(qid, ranked, [r for r in f_recs if r.doc_id not in in_ce])
    return out


def tune_alpha(first: Mapping[str, Sequence[RunRecord]], ce: Mapping[str, Sequence[RunRecord]],
               qrels: Mapping[str, Mapping[str, int]], rel_level: int = 1, measure: str = "nDCG@10",
               grid: Sequence[float] | None = None,
               norm: Normalizer | str = "minmax-query") -> tuple[float, dict[float, float]]:
    """Pick alpha on tuning queries by grid search.

    Returns:
        ``(best alpha, {alpha: mean measure})``; ties go to the smallest alpha.
    """
    measures_for(rel_level, [measure])  # validates the name
    grid = list(grid) if grid is not None else alpha_grid()
    if not grid:
        raise ValueError("empty alpha grid")
    judged = {q: v for q, v in qrels.items() if q in ce}
    if not judged:
        raise DataError("no tuning query of the cross-encoder run has judgments in the tuning qrels")
    values = {a: evaluate_run(interpolate_runs(first, ce, a, norm), judged, rel_level, [measure])[measure]
              for a in grid}
    best = max(grid, key=lambda a: (values[a], -a))
    return best, values


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rerankinject.interpolate``."""
    p = argparse.ArgumentParser(prog="python -m rerankinject.interpolate", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--first", required=True, help="first-stage run (raw scores) of the test queries")
    p.add_argument("--ce", required=True, help="cross-encoder run of the test queries")
    p.add_argument("--output", required=True, help="interpolated TREC run, written atomically")
    p.add_argument("--alpha", type=float, help="weight of the first stage in [0, 1] (or tune it, see --tune-*)")
    p.add_argument("--tune-first", help="first-stage run of the tuning queries")
    p.add_argument("--tune-ce", help="cross-encoder run of the tuning queries")
    p.add_argument("--tune-qrels", help="qrels of the tuning queries (data set name or file)")
    p.add_argument("--tune-measure", default="nDCG@10", help="measure maximised when tuning (default nDCG@10)")
    p.add_argument("--alpha-step", type=float, default=0.05, help="grid step when tuning (default 0.05)")
    p.add_argument("--rel-level", type=int, default=None, help="binary relevance level for the tuning measure")
    p.add_argument("--norm", choices=NORMALIZERS, default="minmax-query",
                   help="per-query normaliser of both runs (default minmax-query)")
    p.add_argument("--tag", default="interp", help="run tag (default interp)")
    p.add_argument("--data-root", help="data root for named qrels")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the interpolation CLI."""
    parser = build_parser()
    args = parser.parse_args(argv)
    tune = [args.tune_first, args.tune_ce, args.tune_qrels]
    if args.alpha is None and not all(tune):
        parser.error("give --alpha, or --tune-first, --tune-ce and --tune-qrels to choose it on tuning queries")
    if args.alpha is not None and any(tune):
        parser.error("give either --alpha or the --tune-* flags, not both")
    if args.alpha is not None and not 0 <= args.alpha <= 1:
        parser.error(f"--alpha must be in [0, 1], got {args.alpha}")
    if not 0 < args.alpha_step <= 1:
        parser.error(f"--alpha-step must be in (0, 1], got {args.alpha_step}")
    try:
        measures_for(1, [args.tune_measure])
    except ValueError as e:
        parser.error(f"--tune-measure: {e}")
    setup_logging(args.verbose)

    def body() -> int:
        first, ce = read_run(args.first), read_run(args.ce)
        alpha = args.alpha
        if alpha is None:
            t_first, t_ce = read_run(args.tune_first), read_run(args.tune_ce)
            shared = sorted(set(t_ce) & set(ce))
            if shared:
                raise DataError(f"tuning and test queries overlap ({len(shared)} shared, e.g. {shared[0]!r}): "
                                f"alpha must be chosen on other queries than those it is tested on")
            qrels = resolve_qrels(args.tune_qrels, args.data_root)
            level = args.rel_level if args.rel_level is not None else rel_level_for(args.tune_qrels)
            alpha, values = tune_alpha(t_first, t_ce, qrels, level, args.tune_measure,
                                       alpha_grid(args.alpha_step), args.norm)
            logger.info("tuned alpha=%s (%s %.4f on %d tuning queries; alpha=0: %.4f, alpha=1: %.4f)", alpha,
                        args.tune_measure, values[alpha], len(t_ce), values[min(values)], values[max(values)])
        out = interpolate_runs(first, ce, alpha, args.norm)
        write_run(out, args.output, tag=args.tag)
        sys.stdout.write(f"alpha\t{alpha}\n")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
