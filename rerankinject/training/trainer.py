"""The training loop: AdamW with linear warm-up/decay, gradient accumulation, validation, checkpoints, resume.

Layout of ``output_dir``:

* ``checkpoint/`` - the latest state (weights, tokenizer, ``injection.json``, ``optimizer.pt``, ``scheduler.pt``,
  ``rng.pt``, ``trainer_state.json`` with step, epoch, data position, best score and patience,
  ``training_args.json``, ``validation_curve.json``); written at every validation, replaced atomically;
* ``best/`` - the model with the best validation nDCG@10 (loads in CrossEncoderModel, transformers and
  sentence-transformers), with ``training_args.json`` and ``validation_curve.json``;
* ``validation_curve.json`` and ``training_args.json`` at the top.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..cross_encoder import pad_batch
from ..fileio import atomic_write, replace_dir
from ..formats import Document, document_text
from .config import TrainConfig
from .data import Pair, ScoreTable
from .losses import bm25added_labels, pair_loss
from .validation import RerankSet

__all__ = ["Trainer", "STATE_FILE", "CURVE_FILE", "ARGS_FILE"]

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
CURVE_FILE = "validation_curve.json"
ARGS_FILE = "training_args.json"


def _write_json(path: Path, obj: Any) -> None:
    with atomic_write(path) as fh:
        fh.write(json.dumps(obj, indent=2) + "\n")


class Trainer:
    """Train a :class:`~rerankinject.cross_encoder.CrossEncoderModel` on (query, positive, negative) pairs.

    Args:
        cfg: the training configuration.
        ce: the model to train (its ``.model`` is updated in place; its recipe and builder make the inputs).
        pairs: training pairs with raw scores (and teacher scores for distillation losses).
        queries: query texts by id.
        corpus: documents by id.
        table: raw first-stage scores (renders the injected scores over each query's candidates).
        val_set: validation queries encoded for re-ranking (None: no validation, the last model is kept).
    """

    def __init__(self, cfg: TrainConfig, ce: Any, pairs: Sequence[Pair], queries: Mapping[str, str],
                 corpus: Mapping[str, Document], table: ScoreTable, val_set: RerankSet | None = None):
        import torch

        self.cfg = cfg
        self.ce = ce
        self.pairs = list(pairs)
        self.queries = queries
        self.corpus = corpus
        self.val_set = val_set
        self.out = Path(cfg.output_dir)
        self.device = ce.device
        self.steps_per_epoch = math.ceil(len(self.pairs) / (cfg.batch_size * cfg.grad_accum))
        self.total_steps = cfg.max_steps or cfg.epochs * self.steps_per_epoch
        warmup = cfg.warmup_steps if cfg.warmup_steps is not None else int(cfg.warmup_ratio * self.total_steps)
        self.warmup_steps = min(warmup, self.total_steps)
        self.precision = self._precision(cfg.precision)
        self._rendered = self._render_all(table)
        self._tok_cache: dict[tuple[str, str], list[int]] = {}
        self.optimizer = torch.optim.AdamW(self._param_groups(ce.model), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.state: dict[str, Any] = {"step": 0, "epoch": 0, "position": 0, "best_score": None, "best_step": None,
                                      "bad_evals": 0, "evaluations": [], "train_loss": [], "seconds": 0.0,
                                      "stopped_early": False}
        self.first_stage_score: float | None = None

    # --- set-up ---------------------------------------------------------------------------------------------
    def _precision(self, wanted: str) -> str:
        import torch

        cuda = str(self.device).startswith("cuda")
        if wanted == "auto":
            return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
        if wanted != "fp32" and not cuda:
            raise ValueError(f"precision {wanted} needs CUDA (training on {self.device}); use fp32 or auto")
        return wanted

    def _param_groups(self, model: Any) -> list[dict[str, Any]]:
        """AdamW groups: no weight decay on biases and norms; ``head_lr`` for head and pooler; frozen embeddings."""
        cfg = self.cfg
        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
        head_keys = ("classifier", "pooler")
        groups: dict[tuple[bool, bool], list[Any]] = {}
        for n, p in model.named_parameters():
            if cfg.freeze_embeddings and "word_embeddings" in n:
                p.requires_grad_(False)
                continue
            key = (any(k in n for k in head_keys), any(k in n for k in no_decay))
            groups.setdefault(key, []).append(p)
        return [{"params": ps, "weight_decay": 0.0 if nd else cfg.weight_decay,
                 "lr": (cfg.head_lr or cfg.lr) if head else cfg.lr}
                for (head, nd), ps in sorted(groups.items())]

    def _lr_factor(self, step: int) -> float:
        if self.warmup_steps and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        rest = max(1, self.total_steps - self.warmup_steps)
        return max(0.0, (self.total_steps - step) / rest)

    def _render_all(self, table: ScoreTable) -> dict[tuple[str, str], dict[str, str]]:
        """Rendered injected scores of every (query, doc) of the pairs.

        Global normalisers see each score alone; per-query ones (``minmax-query``, ``zscore-query``, ``sum``) see
        the query's candidate-run documents (those every source scored) plus the pair documents, as at inference.
        """
        recipe = self.ce.recipe
        if not recipe.sources:
            return {}
        per_query = any(n.kind in ("minmax-query", "zscore-query", "sum") for n in recipe.normalizers.values())
        candidates = self.cfg.candidates or next(iter(self.cfg.sources))
        docs_by_q: dict[str, dict[str, None]] = {}
        for p in self.pairs:
            docs_by_q.setdefault(p.qid, {}).update({p.pos_id: None, p.neg_id: None})
        out = {}
        for qid, docs in docs_by_q.items():
            ids = list(docs)
            if per_query:
                ranked = [d for d in table.ranked(candidates, qid)
                          if all(d in table.runs[s].get(qid, {}) for s in recipe.sources)]
                ids = list(dict.fromkeys([*ranked, *ids]))
            raw = {s: {d: table.score(s, qid, d) for d in ids} for s in recipe.sources}
            for d, r in zip(ids, recipe.render_query(raw, ids), strict=True):
                if d in docs:
                    out[(qid, d)] = r
        return out

    # --- batches --------------------------------------------------------------------------------------------
    def _order(self, epoch: int) -> list[int]:
        order = list(range(len(self.pairs)))
        random.Random(f"epoch:{self.cfg.seed}:{epoch}").shuffle(order)
        return order

    def _next_micro_batch(self) -> list[Pair]:
        """The next ``batch_size`` pairs of the current epoch's shuffled order (advances the data position)."""
        st = self.state
        if st["position"] >= len(self.pairs):
            st["epoch"] += 1
            st["position"] = 0
        if st.get("_order_epoch") != st["epoch"]:
            self._cur_order = self._order(st["epoch"])
            st["_order_epoch"] = st["epoch"]
        idx = self._cur_order[st["position"]: st["position"] + self.cfg.batch_size]
        st["position"] += len(idx)
        return [self.pairs[i] for i in idx]

    def _tokens(self, kind: str, key: str, text: str) -> list[int]:
        ids = self._tok_cache.get((kind, key))
        if ids is None:
            ids = list(self.ce.tokenizer(text, add_special_tokens=False)["input_ids"])[: self.ce.recipe.max_length]
            self._tok_cache[(kind, key)] = ids
        return ids

    def _encode(self, qid: str, doc: str) -> tuple[list[int], list[int]]:
        q = self._tokens("q", qid, self.queries[qid])
        p = self._tokens("d", doc, document_text(self.corpus[doc]))
        return self.ce.builder.build(q, p, self._rendered.get((qid, doc), {}))

    def _batch_loss(self, batch: Sequence[Pair]) -> Any:
        import torch

        inputs = [self._encode(p.qid, p.pos_id) for p in batch] + [self._encode(p.qid, p.neg_id) for p in batch]
        tensors = {k: v.to(self.device) for k, v in pad_batch(inputs, self.ce.pad_id).items()}
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            with torch.autocast("cuda", dtype=dtype):
                logits = self.ce.model(**tensors).logits[:, 0]
        else:
            logits = self.ce.model(**tensors).logits[:, 0]
        logits = logits.float()
        s_pos, s_neg = logits[: len(batch)], logits[len(batch):]
        if self.cfg.loss in ("bce", "pairwise"):
            return pair_loss(self.cfg.loss, s_pos, s_neg)
        t_pos = torch.tensor([p.t_pos for p in batch], dtype=torch.float32, device=self.device)
        t_neg = torch.tensor([p.t_neg for p in batch], dtype=torch.float32, device=self.device)
        if self.cfg.loss == "bm25added":
            opts = dict(self.cfg.bm25added)
            src = opts.pop("source", "bm25")
            b_pos = torch.tensor([p.pos_scores[src] for p in batch], dtype=torch.float32, device=self.device)
            b_neg = torch.tensor([p.neg_scores[src] for p in batch], dtype=torch.float32, device=self.device)
            t_pos, t_neg = bm25added_labels(t_pos, b_pos, **opts), bm25added_labels(t_neg, b_neg, **opts)
        return pair_loss(self.cfg.loss, s_pos, s_neg, t_pos, t_neg)

    # --- validation and checkpoints -------------------------------------------------------------------------
    def validate(self) -> float | None:
        """Re-rank the validation queries; record the score; save ``best/`` on improvement. None without a set."""
        if self.val_set is None:
            return None
        t0 = time.perf_counter()
        score = self.val_set.evaluate(self.ce, self.cfg.eval_batch_size)
        st = self.state
        recent = [x["loss"] for x in st["train_loss"] if x["step"] > (st["evaluations"][-1]["step"]
                                                                      if st["evaluations"] else -1)]
        entry = {"step": st["step"], "epoch": st["epoch"], "nDCG@10": score,
                 "train_loss": (sum(recent) / len(recent)) if recent else None,
                 "lr": self.scheduler.get_last_lr()[0], "seconds": round(st["seconds"], 1)}
        st["evaluations"].append(entry)
        # the step-0 validation (eval_at_start) is a reference only: the untrained model (a new, random head) is
        # never the best model, and early stopping counts only validations after training started
        trained = st["step"] > 0
        improved = trained and (st["best_score"] is None or score > st["best_score"])
        if improved:
            st["best_score"], st["best_step"], st["bad_evals"] = score, st["step"], 0
            self._save_model(self.out / "best")
        elif trained:
            st["bad_evals"] += 1
        if not trained:
            note = " (untrained reference)"
        elif improved:
            note = " (best)"
        else:
            note = f" (best {st['best_score']:.4f} at step {st['best_step']})"
        logger.info("validation step %d: nDCG@10 %.4f%s (%d queries, %.0fs)", st["step"], score, note,
                    self.val_set.n_queries, time.perf_counter() - t0)
        return score

    def curve(self) -> dict[str, Any]:
        """The validation curve and the training-loss log (what ``validation_curve.json`` holds)."""
        st = self.state
        return {"metric": "nDCG@10", "first_stage_score": self.first_stage_score,
                "best_step": st["best_step"], "best_score": st["best_score"],
                "evaluations": st["evaluations"], "train_loss": st["train_loss"], "total_steps": self.total_steps,
                "stopped_early": st["stopped_early"]}

    def _save_model(self, folder: Path) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.ce.save(tmp)
        _write_json(tmp / ARGS_FILE, self.cfg.to_dict())
        _write_json(tmp / CURVE_FILE, self.curve())
        replace_dir(tmp, folder)

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint/`` (model, optimiser, scheduler, RNG, data position, curve) atomically."""
        import torch

        folder = self.out / "checkpoint"
        tmp = folder.with_name("checkpoint.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.ce.save(tmp)
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
        if self.scaler is not None:
            torch.save(self.scaler.state_dict(), tmp / "scaler.pt")
        rng = {"python": random.getstate(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / "rng.pt")
        _write_json(tmp / STATE_FILE, {k: v for k, v in self.state.items() if not k.startswith("_")})
        _write_json(tmp / ARGS_FILE, self.cfg.to_dict())
        _write_json(tmp / CURVE_FILE, self.curve())
        replace_dir(tmp, folder)
        _write_json(self.out / CURVE_FILE, self.curve())
        return folder

    def load_checkpoint(self, folder: str | Path) -> None:
        """Restore optimiser, scheduler, RNG and the data position (the weights were loaded with the model)."""
        import torch

        folder = Path(folder)
        self.optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=self.device))
        self.scheduler.load_state_dict(torch.load(folder / "scheduler.pt"))
        if self.scaler is not None and (folder / "scaler.pt").is_file():
            self.scaler.load_state_dict(torch.load(folder / "scaler.pt"))
        rng = torch.load(folder / "rng.pt", weights_only=False)
        random.setstate(rng["python"])
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.state.update(json.loads((folder / STATE_FILE).read_text()))
        logger.info("resumed from %s at step %d (epoch %d, pair %d)", folder, self.state["step"],
                    self.state["epoch"], self.state["position"])

    # --- the loop -------------------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Train until ``max_steps``/``epochs`` or early stopping; returns the validation curve."""
        import torch

        cfg, st = self.cfg, self.state
        self.out.mkdir(parents=True, exist_ok=True)
        _write_json(self.out / ARGS_FILE, cfg.to_dict())
        logger.info("training %s: %d pairs, %d steps (%d per epoch), batch %d x accum %d, lr %g, warm-up %d, "
                    "loss %s, %s on %s", self.ce.recipe.variant, len(self.pairs), self.total_steps,
                    self.steps_per_epoch, cfg.batch_size, cfg.grad_accum, cfg.lr, self.warmup_steps, cfg.loss,
                    self.precision, self.device)
        if st["step"] == 0 and not st["evaluations"] and cfg.eval_at_start:
            self.validate()
            self.save_checkpoint()
        self.ce.model.train()
        window: list[float] = []
        t_start = time.perf_counter() - st["seconds"]
        bar = tqdm(total=self.total_steps, initial=st["step"], desc="train", unit="step", mininterval=5)
        stop_at = min(cfg.stop_at_step or self.total_steps, self.total_steps)
        while st["step"] < stop_at and not st["stopped_early"]:
            step_loss = 0.0
            for _ in range(cfg.grad_accum):
                loss = self._batch_loss(self._next_micro_batch()) / cfg.grad_accum
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                else:
                    loss.backward()
                step_loss += float(loss.detach())
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.ce.model.parameters(), cfg.max_grad_norm)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            st["step"] += 1
            st["seconds"] = time.perf_counter() - t_start
            window.append(step_loss)
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.4f}")
            if st["step"] % cfg.log_steps == 0 or st["step"] == self.total_steps:
                mean = sum(window) / len(window)
                st["train_loss"].append({"step": st["step"], "loss": mean})
                logger.info("step %d/%d loss %.4f lr %.3g epoch %d", st["step"], self.total_steps, mean,
                            self.scheduler.get_last_lr()[0], st["epoch"])
                window = []
            if st["step"] % cfg.eval_steps == 0 or st["step"] in (self.total_steps, stop_at):
                self.validate()
                if cfg.patience and st["bad_evals"] >= cfg.patience:
                    st["stopped_early"] = True
                    logger.info("early stopping at step %d: no improvement in %d validations", st["step"],
                                cfg.patience)
                self.save_checkpoint()
                self.ce.model.train()
        bar.close()
        if st["step"] < self.total_steps and not st["stopped_early"]:
            logger.info("paused at step %d of %d (stop_at_step); run again without it to resume", st["step"],
                        self.total_steps)
        if self.val_set is None:  # no validation: the last model is the result
            self._save_model(self.out / "best")
        _write_json(self.out / CURVE_FILE, self.curve())
        return self.curve()
