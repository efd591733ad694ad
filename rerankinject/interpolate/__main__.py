"""``python -m rerankinject.interpolate``: the interpolation baseline of a first-stage and a cross-encoder run.

Example::

    python -m rerankinject.interpolate --first runs/dl19.bm25.trec --ce runs/dl19.cat.trec \\
        --tune-first runs/dl20.bm25.trec --tune-ce runs/dl20.cat.trec --tune-qrels dl20 \\
        --output runs/dl19.interp.trec

Both runs are normalised per query (``--norm``, default ``minmax-query``, as Pyserini's fusion); ``alpha`` is given
or tuned on queries disjoint from the test queries (:mod:`rerankinject.interpolate.baseline`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..cli import require_min, run_cli, setup_logging
from ..datasets.registry import rel_level_for, resolve_qrels
from ..errors import DataError
from ..evaluate.measures import measures_for
from ..injection.normalize import PER_QUERY_KINDS
from ..io.runs import Run, read_run, write_run
from .baseline import alpha_grid, interpolate_runs, tune_alpha

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)



def _reranked_part(run: Run, depth: int | None) -> Run:
    """Each query's top ``depth`` hits of a run from ``read_run`` (ranked by (-score, doc id)); all for None."""
    return run if depth is None else {q: recs[:depth] for q, recs in run.items()}


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
    p.add_argument("--norm", choices=PER_QUERY_KINDS, default="minmax-query",
                   help="per-query normaliser of both runs (default minmax-query)")
    p.add_argument("--depth", type=int, default=None,
                   help="interpolate only each query's top DEPTH of the cross-encoder runs (--ce, --tune-ce): the "
                        "depth they were re-ranked to, as `rerank --depth` writes the rest of the candidates below "
                        "them; those follow in first-stage order (default: every document)")
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
    require_min(parser, args, 1, "depth")
    if not 0 < args.alpha_step <= 1:
        parser.error(f"--alpha-step must be in (0, 1], got {args.alpha_step}")
    try:
        measures_for(1, [args.tune_measure])
    except ValueError as e:
        parser.error(f"--tune-measure: {e}")
    setup_logging(args.verbose)

    def body() -> int:
        first, ce = read_run(args.first), _reranked_part(read_run(args.ce), args.depth)
        alpha = args.alpha
        if alpha is None:
            t_first, t_ce = read_run(args.tune_first), _reranked_part(read_run(args.tune_ce), args.depth)
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
