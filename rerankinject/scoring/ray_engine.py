"""The Ray engine: pairs scored by a pool of model replicas (Ray Data actors), behind the :class:`PairScorer` protocol.

:class:`RayPairScorer` takes the inputs the driver built (token ids from the checkpoint's ``InputBuilder``), cuts
each group into exactly the length-sorted batches of the local engine (:func:`~.batching.plan_batches`), and ships
them as Arrow blocks to ``map_batches`` over an ``ActorPoolStrategy`` of :class:`ScorerActor` (each loads the model
once, through the same :func:`~.factory.make_scorer`). Scores stream back in input order (Ray Data's
``preserve_order``) and each group is handed on as soon as all its batches are back, so the driver holds the scores
of the groups in flight only. Because every batch has the same members, order and padding as in the local engine,
the logits are the local ones (byte-identical on CPU at one intra-op thread per batch, as the tests check).

Start-up is lazy: constructing the scorer starts nothing, so a CLI checks its inputs before any Ray work.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from ..cluster import ChaosExit, RayOptions, actor_stage, init_ray, ordered_execution, plan_pool
from .batching import plan_batches
from .factory import BackendSpec, make_scorer
from .protocol import Inputs

__all__ = ["RayPairScorer", "ScorerActor", "PAIRS_PER_BLOCK"]

logger = logging.getLogger(__name__)

K = TypeVar("K")

PAIRS_PER_BLOCK = 512
"""About this many pairs per Ray block (the unit a replica takes at a time; a group is cut into several)."""


class ScorerActor:
    """One model replica: loads the checkpoint's scorer once and scores one planned batch per call.

    Args:
        model_dir: the checkpoint folder (must be readable on every node).
        backend: the local backend name (``torch``, ``onnx``, ...).
        device: ``cpu`` or ``cuda``.
        dtype: ``fp32``/``fp16``/``bf16``.
        threads: intra-op threads of this replica.
        pad_id: the tokenizer's pad id.
        chaos: the :attr:`~rerankinject.cluster.RayOptions.chaos` testing hook.
    """

    def __init__(self, model_dir: str, backend: str, device: str, dtype: str, threads: int, pad_id: int,
                 chaos: tuple[int, str] | None = None):
        self.scorer = make_scorer(BackendSpec(backend), model_dir, device, dtype, threads, 1, pad_id)
        self.chaos = ChaosExit(chaos)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Score each row (one planned batch: flat ``ids``/``types`` cut by ``lens``) as one forward pass."""
        self.chaos.tick()
        scores = []
        for lens, ids, types in zip(batch["lens"], batch["ids"], batch["types"], strict=True):
            cuts = np.cumsum(np.asarray(lens))[:-1]
            inputs = [(a.tolist(), b.tolist()) for a, b in zip(np.split(np.asarray(ids), cuts),
                                                                np.split(np.asarray(types), cuts), strict=True)]
            scores.append(np.asarray(self.scorer.predict(inputs, batch_size=len(inputs)), dtype=np.float64))
        return {"group": np.asarray(batch["group"]), "pos": list(batch["pos"]), "scores": scores}


def _blocks(group: int, inputs: Inputs, batch_size: int) -> Iterator[Any]:
    """The Arrow blocks of one group: one row per planned batch, about :data:`PAIRS_PER_BLOCK` pairs a block."""
    import pyarrow as pa

    batches = plan_batches([len(ids) for ids, _ in inputs], batch_size)
    rows_per_block = max(1, PAIRS_PER_BLOCK // batch_size)
    for start in range(0, len(batches), rows_per_block):
        part = batches[start:start + rows_per_block]
        yield pa.table({
            "group": pa.array([group] * len(part), pa.int64()),
            "pos": pa.array([np.asarray(b, dtype=np.int64) for b in part], pa.list_(pa.int64())),
            "lens": pa.array([np.fromiter((len(inputs[i][0]) for i in b), np.int32, len(b)) for b in part],
                             pa.list_(pa.int32())),
            "ids": pa.array([np.fromiter(itertools.chain.from_iterable(inputs[i][0] for i in b), np.int32)
                             for b in part], pa.list_(pa.int32())),
            "types": pa.array([np.fromiter(itertools.chain.from_iterable(inputs[i][1] for i in b), np.int8)
                               for b in part], pa.list_(pa.int8())),
        })


class RayPairScorer:
    """A :class:`~rerankinject.scoring.PairScorer` whose batches run on a Ray actor pool.

    Args:
        spec: the local backend every replica uses (no cascade: its heads need whole queries).
        model_dir: the checkpoint folder, readable at the same path on every node.
        dtype: the replicas' precision.
        pad_id: the tokenizer's pad id.
        options: cluster address, replicas, GPUs per replica, retries and restarts.
    """

    def __init__(self, spec: BackendSpec, model_dir: str | os.PathLike, dtype: str, pad_id: int,
                 options: RayOptions):
        if spec.exact_head:
            raise ValueError("the two-precision cascade (--exact-head) does not run on the Ray engine yet; "
                             "use --engine local")
        if spec.onnx and options.gpus_per_replica:
            raise ValueError(f"backend {spec.name} runs on CPU only; use --gpus-per-replica 0 or --backend torch")
        self.spec, self.model_dir, self.dtype, self.pad_id, self.options = spec, str(model_dir), dtype, pad_id, options
        self.backend = f"ray:{spec.name}"

    def predict(self, inputs: Inputs, batch_size: int = 32, progress: bool = False,
                groups: Sequence[Sequence[str]] | None = None) -> list[float]:
        """Raw logits of ``inputs`` in input order (one Ray Data job; prefer :meth:`score_groups` for a run)."""
        if not inputs:
            return []
        return next(iter(self.score_groups([(None, inputs)], batch_size)))[1]

    def score_groups(self, items: Iterable[tuple[K, Inputs]], batch_size: int = 32) -> Iterator[tuple[K, list[float]]]:
        """Score many groups of inputs in one Ray Data job; yield ``(key, logits)`` per group, in the given order.

        Each group is batched exactly as ``predict(inputs, batch_size)`` of the local backend would batch it. The
        inputs go to the object store as they come (the driver keeps only keys and sizes); a group is yielded as soon
        as all its batches are back.
        """
        import ray

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        resources = init_ray(self.options)
        plan = plan_pool(resources, self.options.replicas, self.options.gpus_per_replica)
        keys: list[K] = []
        sizes: list[int] = []
        refs = []
        for key, inputs in items:
            refs += [ray.put(block) for block in _blocks(len(keys), inputs, batch_size)]
            keys.append(key)
            sizes.append(len(inputs))
        logger.info("ray: %d pairs in %d groups, %d blocks; %d replica(s) x %.3g CPU, %g GPU, %d thread(s)",
                    sum(sizes), len(keys), len(refs), plan.replicas, plan.cpus, plan.gpus, plan.threads)
        pending: dict[int, tuple[np.ndarray, list[int]]] = {}
        nxt = 0

        def ready() -> Iterator[tuple[K, list[float]]]:
            nonlocal nxt
            while nxt < len(keys) and (sizes[nxt] == 0 or (nxt in pending and pending[nxt][1][0] == 0)):
                out = pending.pop(nxt)[0].tolist() if sizes[nxt] else []
                yield keys[nxt], out
                nxt += 1

        if refs:
            with ordered_execution():
                ds = ray.data.from_arrow_refs(refs)
                ds = actor_stage(ds, ScorerActor, plan, self.options, {
                    "model_dir": self.model_dir, "backend": self.spec.name, "device": self.options.device,
                    "dtype": self.dtype, "threads": plan.threads, "pad_id": self.pad_id,
                    "chaos": self.options.chaos})
                for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    for g, pos, scores in zip(batch["group"], batch["pos"], batch["scores"], strict=True):
                        g = int(g)
                        buf = pending.setdefault(g, (np.empty(sizes[g], dtype=np.float64), [sizes[g]]))
                        buf[0][np.asarray(pos)] = scores
                        buf[1][0] -= len(pos)
                    yield from ready()
        yield from ready()
        if nxt != len(keys):
            raise RuntimeError(f"the Ray job returned scores for {nxt} of {len(keys)} groups")
