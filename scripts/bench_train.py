"""Training throughput: the retired hand-written loop vs the Hugging Face Trainer path, same pairs, interleaved.

    python scripts/bench_train.py [--config scripts/configs/scifact_bm25cat.yaml] [--steps 24] [--rounds 2]

Both train the same model (all-MiniLM-L6-v2 + new head, the config's recipe) on the same training pairs with the
same optimiser settings, each run in a FRESH process (so peak RSS is the trainer's own), alternating old / new
``--rounds`` times. Reported: (query, passage) inputs per second over the timed steps (the first ``--warmup`` steps
are not timed), peak RSS, the loss of the first and last logged steps, and new/old ratios. "old" is the loop that
``rerankinject.train`` used until 2026-12-03 (commit 3d112e4), reproduced step for step below: per-text token
cache, pairs in shuffled order padded to the batch's longest, one forward/backward per micro-batch, a host sync per
micro-batch. "new" is :func:`rerankinject.train.trainer.train_model`: pre-tokenised, length-bucketed groups,
``transformers.Trainer``. ``--no-bucketing`` runs the new path in a random (unbucketed) order.

The same-loss-curve check: ``--same-order`` feeds the new path the old loop's batches (its shuffled pair order) with
the old loop's schedule (no warm-up, linear decay over the config's max_steps), and ``--no-dropout`` switches the
model's dropout off in both, so the two trainers compute the same steps and their per-step losses can be compared
directly (the summary prints the largest per-step difference).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _old_order(seed: int, n: int) -> list[int]:
    """The old loop's pair order of its first epoch."""
    order = list(range(n))
    random.Random(f"epoch:{seed}:0").shuffle(order)
    return order


def _setup(config: str, threads: int, max_length: int | None, no_dropout: bool = False):  # pairs, pairwise loss
    import torch

    from rerankinject.scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel
    from rerankinject.train.config import load_config
    from rerankinject.train.pipeline import make_recipe, prepare

    torch.set_num_threads(threads)
    cfg = load_config(config, {"threads": threads, "max_length": max_length, "loss": "pairwise", "label_weight": 0.0})
    torch.manual_seed(cfg.seed)
    prep = prepare(cfg)
    ce = CrossEncoderModel(DEFAULT_INIT_MODEL(), recipe=make_recipe(cfg), device="cpu", threads=threads)
    if no_dropout:
        for m in ce.model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
    return cfg, prep, ce


def run_old(config: str, steps: int, warmup: int, threads: int, max_length: int | None,
            no_dropout: bool = False, forward_only: bool = False) -> dict:
    """The retired loop (3d112e4 rerankinject/training/trainer.py), its per-step work only.

    ``forward_only``: the same batches scored in inference mode (no gradient, no optimiser step): the speed of
    inference on the training inputs, the reference a training step (forward + backward, about 3 forward passes)
    is bounded by.
    """
    import torch

    from rerankinject.io.formats import document_text
    from rerankinject.scoring.batching import pad_batch
    from rerankinject.train.examples import render_pairs
    from rerankinject.train.losses import pair_loss
    from rerankinject.train.trainer import param_groups

    cfg, prep, ce = _setup(config, threads, max_length, no_dropout)
    rendered = render_pairs(ce.recipe, prep.table, prep.candidates, prep.pairs, cfg.val_depth)
    opt = torch.optim.AdamW(param_groups(ce.model, cfg), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / max(1, cfg.max_steps or steps)))
    order = _old_order(cfg.seed, len(prep.pairs))
    cache: dict = {}

    def tokens(kind, key, text):
        ids = cache.get((kind, key))
        if ids is None:
            ids = cache[(kind, key)] = list(ce.tokenizer(text, add_special_tokens=False)["input_ids"])[
                : ce.recipe.max_length]
        return ids

    def encode(qid, doc):
        q = tokens("q", qid, prep.queries[qid])
        p = tokens("d", doc, document_text(prep.corpus[doc]))
        return ce.builder.build(q, p, rendered.get((qid, doc), {}))

    ce.model.train(not forward_only)
    losses, t_start, pos = [], None, 0
    for step in range(steps):
        if step == warmup:
            t_start = time.perf_counter()
        batch = [prep.pairs[order[(pos + i) % len(order)]] for i in range(cfg.batch_size)]
        pos += cfg.batch_size
        inputs = [encode(p.qid, p.pos_id) for p in batch] + [encode(p.qid, p.neg_id) for p in batch]
        if forward_only:
            with torch.inference_mode():
                ce.model(**pad_batch(inputs, ce.pad_id))
            continue
        logits = ce.model(**pad_batch(inputs, ce.pad_id)).logits[:, 0].float()
        loss = pair_loss(cfg.loss, logits[:len(batch)], logits[len(batch):])
        loss.backward()
        losses.append(float(loss.detach()))
        torch.nn.utils.clip_grad_norm_(ce.model.parameters(), cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - t_start
    return {"inputs": (steps - warmup) * cfg.batch_size * 2, "seconds": seconds, "losses": losses}


def run_new(config: str, steps: int, warmup: int, threads: int, max_length: int | None, bucketing: bool,
            same_order: bool = False, no_dropout: bool = False) -> dict:
    """:func:`train_model` on the same pairs (no validation), timed from the end of step ``warmup``.

    ``same_order``: the old loop's batches and schedule (its pair order as the sampler, no warm-up, linear decay
    over the config's max_steps, paused after ``steps``).
    """
    import tempfile

    import transformers

    from rerankinject.train import trainer as tr
    from rerankinject.train.pipeline import build_dataset

    cfg, prep, ce = _setup(config, threads, max_length, no_dropout)
    marks: dict = {}

    class Clock(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: D102
            if state.global_step == warmup:
                marks["t0"] = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: D102
            if logs and "loss" in logs:
                marks.setdefault("losses", []).append(float(logs["loss"]))

        def on_train_end(self, args, state, control, **kw):  # noqa: D102
            marks["t1"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        from dataclasses import replace

        c = replace(cfg, output_dir=out, max_steps=steps, eval_at_start=False, log_steps=1, stop_at_step=None,
                    eval_steps=10 ** 6)
        if same_order:
            order = _old_order(cfg.seed, len(prep.pairs))
            tr.InjectionTrainer._get_train_sampler = lambda self, train_dataset=None: order
            c = replace(c, max_steps=cfg.max_steps or steps, stop_at_step=steps, warmup_ratio=0.0, warmup_steps=0)
        ds = build_dataset(c, ce, prep.pairs, prep.queries, prep.corpus, prep.table, prep.candidates)
        if not bucketing:
            ds.lengths = [0] * len(ds)  # a stable sort on equal lengths keeps the random permutation
        tr.train_model(c, ce, ds, None, callbacks=[Clock()])
    return {"inputs": (steps - warmup) * cfg.batch_size * 2, "seconds": marks["t1"] - marks["t0"],
            "losses": marks.get("losses", [])}


def child(args: argparse.Namespace) -> None:
    if args.which in ("old", "infer"):
        r = run_old(args.config, args.steps, args.warmup, args.threads, args.max_length, args.no_dropout,
                    forward_only=args.which == "infer")
    else:
        r = run_new(args.config, args.steps, args.warmup, args.threads, args.max_length, not args.no_bucketing,
                    args.same_order, args.no_dropout)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write("RESULT " + json.dumps(r) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(ROOT / "scripts" / "configs" / "scifact_bm25cat.yaml"))
    p.add_argument("--steps", type=int, default=24)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--no-bucketing", action="store_true", help="new path: a random order without length groups")
    p.add_argument("--same-order", action="store_true",
                   help="new path: the old loop's batches and schedule (the same-loss-curve check)")
    p.add_argument("--no-dropout", action="store_true", help="both: dropout off (deterministic steps)")
    p.add_argument("--inference", action="store_true",
                   help="also time inference (forward only) on the old loop's batches: the bound of a training step")
    p.add_argument("--which", choices=["old", "new", "infer"], help=argparse.SUPPRESS)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    if args.which:
        child(args)
        return 0
    rows = []
    for r in range(args.rounds):
        for which in ("old", "new", "infer") if args.inference else ("old", "new"):
            cmd = [sys.executable, __file__, "--which", which, "--config", args.config, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--threads", str(args.threads)]
            if args.max_length:
                cmd += ["--max-length", str(args.max_length)]
            cmd += [f for f in ("--no-bucketing", "--same-order", "--no-dropout")
                    if getattr(args, f[2:].replace("-", "_"))]
            out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                sys.stderr.write(out.stderr[-3000:])
                return 1
            res = json.loads(line[7:])
            res.update(which=which, round=r, pairs_per_s=res["inputs"] / res["seconds"])
            rows.append(res)
            loss = f", loss {res['losses'][0]:.3f} -> {res['losses'][-1]:.3f}" if res["losses"] else ""
            sys.stdout.write(f"round {r} {which}: {res['pairs_per_s']:.2f} inputs/s, peak RSS "
                             f"{res['peak_rss_mb']:.0f} MB{loss}\n")
            sys.stdout.flush()
    old = [x["pairs_per_s"] for x in rows if x["which"] == "old"]
    new = [x["pairs_per_s"] for x in rows if x["which"] == "new"]
    ratios = [n / o for o, n in zip(old, new, strict=True)]
    sys.stdout.write(f"new/old inputs/s per round: {', '.join(f'{x:.2f}x' for x in ratios)}; "
                     f"mean old {sum(old) / len(old):.2f}, new {sum(new) / len(new):.2f} inputs/s\n")
    summary: dict = {"rows": rows, "ratios": ratios}
    if args.inference:
        infer = [x["pairs_per_s"] for x in rows if x["which"] == "infer"]
        summary["new_over_inference"] = [n / i for n, i in zip(new, infer, strict=True)]
        sys.stdout.write(f"new training / inference inputs/s per round: "
                         f"{', '.join(f'{x:.2f}' for x in summary['new_over_inference'])}\n")
    if args.same_order:  # per-step losses of each (old, new) round, step by step
        olds, news = ([x for x in rows if x["which"] == w] for w in ("old", "new"))
        diffs = [max(abs(a - b) for a, b in zip(o["losses"], n["losses"], strict=True))
                 for o, n in zip(olds, news, strict=True)]
        summary["max_step_loss_diff"] = diffs
        sys.stdout.write(f"largest per-step loss difference old vs new per round: "
                         f"{', '.join(f'{d:.2e}' for d in diffs)}\n")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
