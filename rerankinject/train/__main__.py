"""Training CLI: ``python -m rerankinject.train --config scripts/configs/scifact_bm25cat.yaml [--lr 1e-4 ...]``.

Every scalar config key can be overridden by a flag (``max_steps`` -> ``--max-steps``); nested keys (sources,
teacher, bounds, bm25added, test_sources, missing_score) are set in the file. ``--test`` re-ranks the configured
test run with the best model once training is done; ``--test-only`` does only that; ``--validation-only`` re-ranks
the validation queries held out from training (to tune, e.g., the interpolation baseline on them); with either,
``--model DIR`` re-ranks with another trained model than ``output_dir/best`` (e.g. a shipped one).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cli import run_cli, setup_logging

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)


def _flag_type(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    base = args[0]
    if base is bool:
        return lambda v: {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[v.lower()]
    return base if base in (int, float, str) else str


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (one flag per scalar config key)."""
    from .config import SCALAR_FIELDS

    p = argparse.ArgumentParser(prog="python -m rerankinject.train", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML config (scripts/configs/*.yaml; 'extends: base.yaml' starts from another)")
    p.add_argument("--test", action="store_true", help="after training, re-rank the test run once with the best model")
    p.add_argument("--test-only", action="store_true", help="only re-rank the test run with output_dir/best")
    p.add_argument("--validation-only", action="store_true",
                   help="only re-rank the validation queries (held out from training) with output_dir/best (or "
                        "--model) at test_depth; writes output_dir/validation.<dataset>.trec (e.g. to tune "
                        "interpolation)")
    p.add_argument("--model", metavar="DIR",
                   help="with --test-only or --validation-only: re-rank with this trained model folder instead of "
                        "output_dir/best (the run still goes to output_dir)")
    p.add_argument("-v", "--verbose", action="store_true")
    hints = typing.get_type_hints(__import__("rerankinject.train.config", fromlist=["TrainConfig"]).TrainConfig)
    for name in SCALAR_FIELDS:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=_flag_type(hints[name]), default=None,
                       metavar=name.upper(), help=f"config key {name}")
    return p


def _check_split(parser: argparse.ArgumentParser, cfg: Any, model: Path) -> None:
    """Refuse ``--validation-only --model`` when the config draws another validation split than the model held out.

    The split is made from ``dataset`` (or ``val_dataset``), ``val_queries`` and ``seed``; with other values the
    "validation" queries could be ones the model trained on. The model's ``training_args.json`` records them.
    """
    args_file = model / "training_args.json"
    if not args_file.is_file():
        return
    trained = json.loads(args_file.read_text())
    differ = [k for k in ("dataset", "val_dataset", "val_queries", "seed")
              if k in trained and trained[k] != getattr(cfg, k)]
    if differ:
        parser.error(f"--model {model} held out another validation split: "
                     + ", ".join(f"{k} {trained[k]!r} there, {getattr(cfg, k)!r} in the config" for k in differ))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the training CLI."""
    from .config import SCALAR_FIELDS

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except KeyError as e:  # a bad boolean value
        parser.error(f"expected true/false, got {e}")
    if not args.config and not args.dataset:
        parser.error("give --config FILE.yaml (or at least --dataset and the sources in a config)")
    if args.validation_only and (args.test or args.test_only):
        parser.error("--validation-only cannot be combined with --test or --test-only")
    if args.model is not None:
        if not (args.validation_only or args.test_only):
            parser.error("--model picks the model of --test-only or --validation-only "
                         "(training writes output_dir/best)")
        if not args.model or not (Path(args.model) / "config.json").is_file():
            parser.error(f"--model {args.model!r}: not a trained model folder (no config.json)")
        if args.output_dir is None:
            parser.error("--model needs --output-dir (the run would overwrite the config's output_dir's own)")
    setup_logging(args.verbose)

    def body() -> int:
        from . import evaluate_test, load_config, rerank_validation, train_from_config

        overrides = {k: getattr(args, k) for k in SCALAR_FIELDS}
        cfg = load_config(args.config, overrides)
        if args.validation_only and args.model:
            _check_split(parser, cfg, Path(args.model))
        if args.validation_only:
            sys.stdout.write(json.dumps(rerank_validation(cfg, args.model), indent=2) + "\n")
            return 0
        if (args.test or args.test_only) and not cfg.test_dataset:
            parser.error("--test needs test_dataset and test_sources in the config")
        if not args.test_only:
            curve = train_from_config(cfg)
            logger.info("best validation nDCG@10 %s at step %s", curve["best_score"], curve["best_step"])
        if args.test or args.test_only:
            result = evaluate_test(cfg, args.model)
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main(None if len(sys.argv) > 1 else ["--help"]))
