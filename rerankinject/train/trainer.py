"""Training on the Hugging Face ``transformers.Trainer``: our collator, our losses, our re-ranking validation.

The library runs the loop: AdamW (our parameter groups: a head learning rate, no decay on biases and norms, frozen
word embeddings), linear warm-up and decay, gradient accumulation, bf16/fp16 on CUDA, checkpoints
(``output_dir/checkpoint-N``) and resume, and multi-process data parallelism (``torchrun --nproc_per_node N -m
rerankinject.train ...`` or ``accelerate launch -m rerankinject.train ...``; gloo on CPU). What it does not know
is here: groups are batched by length (:meth:`InjectionTrainer._get_train_sampler`), the loss is a
:class:`~rerankinject.train.losses.GroupLoss`, and evaluation re-ranks the validation queries through
:class:`~rerankinject.rerank.ScoreInjectReranker` (:class:`~rerankinject.train.validation.RerankSet`).

Layout of ``output_dir``:

* ``checkpoint-N/`` - the library's checkpoints (weights, optimizer, scheduler, RNG, ``trainer_state.json``), one
  per validation, the latest kept;
* ``best/`` - the model with the best validation nDCG@10 (loads in CrossEncoderModel, transformers and
  sentence-transformers), with ``training_args.json`` and ``validation_curve.json``;
* ``validation_curve.json`` and ``training_args.json`` at the top.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import transformers
from transformers.trainer_pt_utils import LengthGroupedSampler

from ..errors import DataError
from ..io.files import atomic_write, replace_dir
from .config import TrainConfig
from .examples import GroupDataset, InjectionCollator
from .losses import GroupLoss
from .stream import StreamedGroupDataset
from .validation import RerankSet

__all__ = ["InjectionTrainer", "ValidationCallback", "train_model", "CURVE_FILE", "ARGS_FILE", "last_checkpoint",
           "check_resumable"]

logger = logging.getLogger(__name__)

CURVE_FILE = "validation_curve.json"
ARGS_FILE = "training_args.json"


def _write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        fh.write(json.dumps(obj, indent=2) + "\n")


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder of a training run (None when there is none)."""
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(output_dir)
    return get_last_checkpoint(str(out)) if out.is_dir() else None


# config keys that steer a run but not what it learns: they may change between a pause and its resume
RUN_CONTROL_KEYS = frozenset({"output_dir", "stop_at_step", "threads", "resume", "dataloader_workers",
                              "eval_batch_size", "log_steps", "device", "cache_dir", "data_root", "test_dataset",
                              "test_sources", "test_depth"})


def check_resumable(cfg: TrainConfig) -> None:
    """Refuse to resume a checkpoint that a different training config wrote.

    ``output_dir`` with a ``checkpoint-N`` and the ``training_args.json`` of another config (another variant, data,
    teacher, loss, schedule ...) would otherwise be trained further as if it were this one's run.

    Raises:
        DataError: naming ``training_args.json`` and the keys that differ.
    """
    out = Path(cfg.output_dir)
    if not cfg.resume or last_checkpoint(out) is None or not (out / ARGS_FILE).is_file():
        return
    try:
        saved = json.loads((out / ARGS_FILE).read_text())
        if not isinstance(saved, dict):
            raise ValueError(f"a JSON {type(saved).__name__}, not a mapping of config keys")
    except (OSError, ValueError) as e:
        raise DataError(f"{out / ARGS_FILE}: unreadable ({e}); cannot check the checkpoint to resume") from None
    now = json.loads(json.dumps(cfg.to_dict()))  # as written: lists, not tuples
    # keys of both (a file older than a key knew only its default): what the run trains on and how
    differ = sorted(k for k in set(saved) & set(now) if k not in RUN_CONTROL_KEYS and saved[k] != now[k])
    if differ:
        shown = "; ".join(f"{k}: {saved[k]!r} there, {now[k]!r} here" for k in differ[:4])
        raise DataError(f"{out / ARGS_FILE}: {out} holds a checkpoint of another training config ({shown}"
                        f"{'; ...' if len(differ) > 4 else ''}); give a new output_dir, or resume: false to start over")


def effective_head_lr(cfg: TrainConfig, new_head: bool) -> float:
    """The learning rate the classification head (and pooler) trains at.

    Args:
        cfg: the training config (``head_lr``, ``head_lr_on_trained_head``, ``lr``).
        new_head: the head is new (not a trained cross-encoder's).

    Returns:
        ``head_lr`` for a new head (or with ``head_lr_on_trained_head``), else ``lr``.
    """
    return cfg.head_lr if (cfg.head_lr and (new_head or cfg.head_lr_on_trained_head)) else cfg.lr


def param_groups(model: Any, cfg: TrainConfig, new_head: bool = True) -> list[dict[str, Any]]:
    """AdamW groups: no weight decay on biases and norms; ``head_lr`` for new head parameters; frozen embeddings.

    ``head_lr`` applies to the classifier (and pooler) when the head is new; when training starts from a trained
    cross-encoder (its head kept), the head learns at ``lr`` like the rest unless ``head_lr_on_trained_head``.
    """
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    head_keys = ("classifier", "pooler")
    lr_head = effective_head_lr(cfg, new_head)
    groups: dict[tuple[bool, bool], list[Any]] = {}
    for n, p in model.named_parameters():
        if cfg.freeze_embeddings and "word_embeddings" in n:
            p.requires_grad_(False)
            continue
        key = (any(k in n for k in head_keys), any(k in n for k in no_decay))
        groups.setdefault(key, []).append(p)
    return [{"params": ps, "weight_decay": 0.0 if nd else cfg.weight_decay, "lr": lr_head if head else cfg.lr}
            for (head, nd), ps in sorted(groups.items())]


class EpochLengthGroupedSampler(LengthGroupedSampler):
    """:class:`transformers.trainer_pt_utils.LengthGroupedSampler` reseeded by ``set_epoch`` (seed + epoch).

    The order is that of ``transformers``' ``get_length_grouped_indices`` (the same permutation, megabatches of 50
    batches sorted by length with a stable sort, the longest group first), computed with numpy arrays instead of
    Python lists: about 16 bytes a group, so that an epoch over tens of millions of groups does not hold lists of
    Python ints (``lengths`` may be a memory-mapped array).
    """

    def __init__(self, batch_size: int, lengths: Sequence[int] | np.ndarray, seed: int):
        import torch

        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration the permutation of ``epoch``."""
        self.generator.manual_seed(self.seed * 100_003 + epoch)

    def __iter__(self) -> Iterator[int]:
        import torch

        lengths = self.lengths
        n = len(lengths)
        mult = min(n // (self.batch_size * 4), 50) or 1
        size = mult * self.batch_size
        perm = torch.randperm(n, generator=self.generator).numpy()
        for start in range(0, n, size):  # sort each megabatch by length, longest first, ties in permutation order
            mb = perm[start:start + size]
            keys = -np.asarray(lengths[mb] if isinstance(lengths, np.ndarray) else [lengths[i] for i in mb],
                               dtype=np.int64)
            perm[start:start + size] = mb[np.argsort(keys, kind="stable")]
        firsts = perm[::size]
        first_lengths = [int(lengths[int(i)]) for i in firsts]
        top = int(torch.argmax(torch.tensor(first_lengths)).item())
        perm[0], perm[top * size] = perm[top * size], perm[0]
        for i in perm:
            yield int(i)


class InjectionTrainer(transformers.Trainer):
    """``transformers.Trainer`` with group losses, length-bucketed batches and re-ranking validation.

    Args:
        ce: the :class:`~rerankinject.scoring.CrossEncoderModel` being trained (``ce.model`` is the module).
        new_head: the classification head is new (``head_lr`` applies to it); False when starting from a trained
            cross-encoder, whose head is kept.
        cfg: the training configuration.
        group_loss: the loss over ``(B, G)`` scores.
        val_set: validation queries (None: no validation).
        **kwargs: ``transformers.Trainer`` arguments (``args``, ``train_dataset``, ``data_collator``, ...).
    """

    def __init__(self, *, ce: Any, cfg: TrainConfig, group_loss: GroupLoss, val_set: RerankSet | None,
                 new_head: bool = True, **kwargs: Any):
        super().__init__(model=ce.model, **kwargs)
        self.ce, self.cfg, self.group_loss, self.val_set, self.new_head = ce, cfg, group_loss, val_set, new_head

    def create_optimizer(self, model: Any = None) -> Any:
        """AdamW over :func:`param_groups` (a head learning rate, frozen embeddings)."""
        import torch

        if self.optimizer is None:
            self.optimizer = torch.optim.AdamW(param_groups(model or self.model, self.cfg, self.new_head),
                                               lr=self.cfg.lr)
        return self.optimizer

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """Length-grouped random batches (megabatches of 50 batches sorted by length).

        The order of an epoch depends only on the seed and the epoch, so a resumed run sees the data an
        uninterrupted one sees.
        """
        ds = train_dataset if train_dataset is not None else self.train_dataset
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        global_batch = self.args.train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
        return EpochLengthGroupedSampler(global_batch, ds.lengths, seed)

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        """The group loss of one batch (the positive is column 0 of each group)."""
        group = int(inputs.pop("group_size"))
        teacher, bm25 = inputs.pop("teacher", None), inputs.pop("bm25", None)
        logits = model(**inputs).logits[:, 0].float().view(-1, group)
        loss = self.group_loss(logits, teacher=teacher, bm25=bm25)
        return (loss, logits) if return_outputs else loss

    def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None,
                 metric_key_prefix: str = "eval") -> dict[str, float]:
        """nDCG@10 of re-ranking the validation queries with the current weights (the inference path)."""
        if self.val_set is None:
            return {}
        t0 = time.perf_counter()
        score = self.val_set.evaluate(self.ce, self.cfg.eval_batch_size)
        metrics = {f"{metric_key_prefix}_nDCG@10": score, f"{metric_key_prefix}_seconds": time.perf_counter() - t0}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


class ValidationCallback(transformers.TrainerCallback):
    """Keeps the validation curve, saves ``best/`` on improvement, stops early, pauses at ``stop_at_step``.

    The step-0 validation (``eval_at_start``) is a reference only: the untrained model (a new, random head) is never
    the best model, and early stopping counts only validations after training started.
    """

    def __init__(self, cfg: TrainConfig, ce: Any, out: Path, first_stage_score: float | None, group_size: int,
                 resumed_step: int = 0):
        self.cfg, self.ce, self.out, self.group_size = cfg, ce, out, group_size
        self.curve: dict[str, Any] = {"metric": "nDCG@10", "first_stage_score": first_stage_score,
                                      "best_step": None, "best_score": None, "evaluations": [], "train_loss": [],
                                      "total_steps": None, "stopped_early": False, "group_size": group_size,
                                      "pairs_seen": 0, "seconds": 0.0}
        old = out / CURVE_FILE
        if resumed_step and old.is_file():  # continue the curve of the interrupted run, up to its checkpoint
            prev = json.loads(old.read_text())
            prev["evaluations"] = [e for e in prev.get("evaluations", []) if e["step"] <= resumed_step]
            prev["train_loss"] = [x for x in prev.get("train_loss", []) if x["step"] <= resumed_step]
            best = [e for e in prev["evaluations"] if e["step"] > 0]
            top = max(best, key=lambda e: (e["nDCG@10"], -e["step"]), default=None)
            prev["best_step"], prev["best_score"] = (top["step"], top["nDCG@10"]) if top else (None, None)
            self.curve.update({k: v for k, v in prev.items() if k in self.curve})
        self.bad_evals = 0
        self.t0 = time.perf_counter() - float(self.curve.get("seconds") or 0.0)

    def _pairs(self, state: Any, args: Any) -> int:
        """Training inputs (query-document pairs) seen so far, over all processes."""
        return state.global_step * args.train_batch_size * args.gradient_accumulation_steps * \
            args.world_size * self.group_size

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:  # noqa: D102
        self.curve["total_steps"] = state.max_steps

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:  # noqa: D102
        if logs and "loss" in logs:
            self.curve["train_loss"].append({"step": state.global_step, "loss": float(logs["loss"]),
                                             "lr": float(logs.get("learning_rate", 0.0))})

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None,  # noqa: D102
                    **kwargs: Any) -> None:
        score = (metrics or {}).get("eval_nDCG@10")
        if score is None:
            return
        c, step = self.curve, state.global_step
        last = c["evaluations"][-1]["step"] if c["evaluations"] else -1
        recent = [x["loss"] for x in c["train_loss"] if x["step"] > last]
        c["seconds"] = round(time.perf_counter() - self.t0, 1)
        c["pairs_seen"] = self._pairs(state, args)
        c["evaluations"].append({"step": step, "epoch": state.epoch, "nDCG@10": score,
                                 "train_loss": (sum(recent) / len(recent)) if recent else None,
                                 "pairs_seen": c["pairs_seen"], "seconds": c["seconds"]})
        trained = step > 0
        improved = trained and (c["best_score"] is None or score > c["best_score"])
        if improved:
            c["best_score"], c["best_step"], self.bad_evals = score, step, 0
            if state.is_world_process_zero:
                self._save_best()
        elif trained:
            self.bad_evals += 1
        note = (" (untrained reference)" if not trained else " (best)" if improved
                else f" (best {c['best_score']:.4f} at step {c['best_step']})")
        logger.info("validation step %d: nDCG@10 %.4f%s (%d pairs seen, %.0fs)", step, score, note,
                    c["pairs_seen"], c["seconds"])
        if self.cfg.patience and self.bad_evals >= self.cfg.patience:
            c["stopped_early"] = True
            control.should_training_stop = True
            logger.info("early stopping at step %d: no improvement in %d validations", step, self.cfg.patience)
        if state.is_world_process_zero:
            _write_json(self.out / CURVE_FILE, c)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:  # noqa: D102
        if self.cfg.stop_at_step and state.global_step >= self.cfg.stop_at_step:
            control.should_evaluate = control.should_save = control.should_training_stop = True

    def _save_best(self) -> None:
        folder = self.out / "best"
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.ce.save(tmp)
        _write_json(tmp / ARGS_FILE, self.cfg.to_dict())
        _write_json(tmp / CURVE_FILE, self.curve)
        replace_dir(tmp, folder)


def training_arguments(cfg: TrainConfig, validate: bool) -> transformers.TrainingArguments:
    """The ``TrainingArguments`` of a config (CPU or CUDA, precision, schedule, checkpoints, seeds)."""
    import torch

    cuda = torch.cuda.is_available() and not (cfg.device or "").startswith("cpu")
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision != "fp32" and not cuda:
        raise ValueError(f"precision {precision} needs CUDA; use fp32 or auto on CPU")
    steps = cfg.max_steps or -1
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1  # torchrun / accelerate launch
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else cfg.warmup_ratio
    return transformers.TrainingArguments(
        output_dir=cfg.output_dir, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.lr, weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm, num_train_epochs=cfg.epochs, max_steps=steps, lr_scheduler_type="linear",
        warmup_steps=warmup, logging_steps=cfg.log_steps, eval_strategy="steps" if validate else "no",
        eval_steps=cfg.eval_steps, eval_on_start=cfg.eval_at_start and validate, save_strategy="steps",
        save_steps=cfg.eval_steps, save_total_limit=1, seed=cfg.seed, data_seed=cfg.seed, bf16=precision == "bf16",
        fp16=precision == "fp16", use_cpu=not cuda, ddp_backend="gloo" if distributed and not cuda else None,
        dataloader_num_workers=cfg.dataloader_workers, remove_unused_columns=False, report_to=[],
        disable_tqdm=False, log_level="warning", save_only_model=False, ddp_find_unused_parameters=False)


def train_model(cfg: TrainConfig, ce: Any, dataset: GroupDataset | StreamedGroupDataset, val_set: RerankSet | None,
                first_stage_score: float | None = None, new_head: bool = True,
                callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train ``ce`` on ``dataset`` (resuming from the newest checkpoint when ``cfg.resume``); the validation curve.

    ``dataset`` is any map-style dataset of groups with ``lengths``, ``group_size`` and ``has_teacher``: the
    in-memory :class:`GroupDataset` or the file-backed :class:`StreamedGroupDataset`. ``callbacks`` are extra
    ``transformers.TrainerCallback`` objects (e.g. a benchmark's clock).
    """
    check_resumable(cfg)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    args = training_arguments(cfg, val_set is not None)
    resume = last_checkpoint(out) if cfg.resume else None
    resumed_step = int(Path(resume).name.split("-")[-1]) if resume else 0
    group_loss = GroupLoss(cfg.loss, dataset.group_size, has_teacher=dataset.has_teacher,
                           temperature=cfg.temperature, label_weight=cfg.label_weight,
                           bm25added={k: v for k, v in cfg.bm25added.items() if k != "source"})
    callback = ValidationCallback(cfg, ce, out, first_stage_score, dataset.group_size, resumed_step)
    trainer = InjectionTrainer(ce=ce, cfg=cfg, group_loss=group_loss, val_set=val_set, args=args,
                               new_head=new_head, train_dataset=dataset,
                               eval_dataset=[0] if val_set is not None else None,
                               data_collator=InjectionCollator(ce.pad_id), callbacks=[callback, *(callbacks or [])])
    if trainer.is_world_process_zero():
        _write_json(out / ARGS_FILE, cfg.to_dict())
    logger.info("training %s: %d groups of %d, batch %d x accum %d x %d processes, loss %s, lr %g (head %g, %s)",
                ce.recipe.variant, len(dataset), dataset.group_size, cfg.batch_size, cfg.grad_accum,
                args.world_size, cfg.loss, cfg.lr, effective_head_lr(cfg, new_head), "new" if new_head else "trained")
    if resume:
        logger.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    state = trainer.state
    if state.global_step < state.max_steps and not callback.curve["stopped_early"]:
        logger.info("paused at step %d of %d (stop_at_step); run again without it to resume", state.global_step,
                    state.max_steps)
    if val_set is None and trainer.is_world_process_zero():  # no validation: the last model is the result
        callback._save_best()
    callback.curve["pairs_seen"] = callback._pairs(state, args)
    if trainer.is_world_process_zero():
        _write_json(out / CURVE_FILE, callback.curve)
    return callback.curve
