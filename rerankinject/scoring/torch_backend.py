"""The torch backend: a Hugging Face sequence-classification model scoring length-sorted, padded batches."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .batching import pad_batch, score_by_length
from .protocol import Inputs

__all__ = ["TorchScorer", "pick_device"]


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but CUDA is not available")
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchScorer:
    """Score inputs with the torch weights of a checkpoint folder (fp32 weights; fp16/bf16 autocast on CUDA).

    Args:
        model_dir: the checkpoint folder.
        device: ``cpu`` or ``cuda`` (resolved by :func:`pick_device`).
        dtype: ``fp32``, ``fp16`` or ``bf16`` (the latter two on CUDA only).
        threads: CPU threads in all (default: all cores).
        workers: batches scored concurrently, each on ``threads // workers`` intra-op threads.
        pad_id: the tokenizer's pad token id.
    """

    backend = "torch"

    def __init__(self, model_dir: str | os.PathLike, device: str, dtype: str, threads: int | None, workers: int,
                 pad_id: int):
        import torch
        from transformers import AutoModelForSequenceClassification

        self.device, self.dtype, self.threads, self.workers, self.pad_id = device, dtype, threads, workers, pad_id
        if device == "cpu" and threads:
            torch.set_num_threads(threads)
        # fp32 weights whatever the checkpoint stores (a fp16 checkpoint is widened; CUDA uses autocast)
        self.model: Any = AutoModelForSequenceClassification.from_pretrained(str(Path(model_dir)), num_labels=1,
                                                                             dtype=torch.float32)
        self.model.to(device)
        self.model.eval()

    def predict(self, inputs: Inputs, batch_size: int = 32, progress: bool = False,
                groups: Sequence[Sequence[str]] | None = None) -> list[float]:
        """Raw logits in input order; batches are formed by length (dynamic padding)."""
        import torch

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
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
