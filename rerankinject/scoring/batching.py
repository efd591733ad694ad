"""Batching shared by every scoring backend: dynamic padding and length-sorted batches, concurrent on CPU."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from tqdm.auto import tqdm

__all__ = ["pad_arrays", "pad_batch", "default_workers", "plan_batches", "score_by_length"]

logger = logging.getLogger(__name__)


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


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """The batches of :func:`score_by_length`: input positions sorted by length (stable), cut every ``batch_size``.

    Any engine that scores these batches (same members, same order) pads and scores exactly as the local one.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def score_by_length(inputs: Sequence[tuple[list[int], list[int]]], batch_size: int,
                    score_batch: Callable[[list[tuple[list[int], list[int]]]], list[float]], workers: int = 1,
                    progress: bool = False, desc: str = "score") -> list[float]:
    """Score inputs in length-sorted batches (dynamic padding is then small), ``workers`` batches at a time.

    The one batching loop of every backend: ``score_batch`` gets a list of (input_ids, token_type_ids) of similar
    length and returns one float per item; the result is in input order.
    """
    chunks = plan_batches([len(ids) for ids, _ in inputs], batch_size)
    out = [0.0] * len(inputs)
    with tqdm(total=len(inputs), desc=desc, unit="pair", disable=not progress, mininterval=2) as bar:
        scored = _map_batches(lambda idx: score_batch([inputs[i] for i in idx]), chunks, min(workers, len(chunks)))
        for idx, scores in zip(chunks, scored, strict=True):
            for i, v in zip(idx, scores, strict=True):
                out[i] = float(v)
            bar.update(len(idx))
    return out


