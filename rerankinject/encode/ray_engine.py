"""Dense encoding on Ray: the index's shards encoded by a pool of encoder replicas (Ray Data actors).

Each row is one checkpoint shard of the dense index build (its texts); a replica encodes it with the same
:meth:`TextEncoder.encode <rerankinject.encode.encoder.TextEncoder.encode>` call the local build makes, so the
embeddings equal the local ones within float tolerance (the same batches; only the intra-op thread count may
differ). Shards stream back as they finish, so the caller checkpoints each one at once (resumable as locally).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from ..cluster import ChaosExit, RayOptions, actor_stage, init_ray, ordered_execution, plan_pool
from .encoder import EncoderSettings, TextEncoder

__all__ = ["EncoderActor", "encode_shards"]

logger = logging.getLogger(__name__)


class EncoderActor:
    """One encoder replica: loads the bi-encoder once and encodes one shard of texts per call.

    Args:
        settings: the index's :class:`EncoderSettings` as a dict (model folder readable on every node).
        device: ``cpu`` or ``cuda``.
        batch_size: texts per forward pass.
        threads: torch intra-op threads of this replica.
        chaos: the :attr:`~rerankinject.cluster.RayOptions.chaos` testing hook.
    """

    def __init__(self, settings: dict[str, Any], device: str, batch_size: int, threads: int,
                 chaos: tuple[int, str] | None = None):
        import torch

        if device == "cpu":
            torch.set_num_threads(threads)
        self.encoder = TextEncoder.from_settings(EncoderSettings(**settings), device=device, batch_size=batch_size)
        self.chaos = ChaosExit(chaos)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Encode each row's texts; the embeddings come back flat (``n * dim`` float32)."""
        self.chaos.tick()
        embs = [self.encoder.encode([str(t) for t in texts]).reshape(-1) for texts in batch["texts"]]
        return {"shard": np.asarray(batch["shard"]), "emb": embs}


def encode_shards(settings: EncoderSettings, shards: Sequence[tuple[int, Sequence[str]]], batch_size: int,
                  options: RayOptions) -> Iterator[tuple[int, np.ndarray]]:
    """Encode ``(shard index, texts)`` on a Ray actor pool; yield ``(shard index, (n, dim) float32)`` in order.

    Args:
        settings: the encoder settings (``dim`` set).
        shards: the shards to encode.
        batch_size: texts per forward pass.
        options: cluster, replicas, GPUs per replica, retries and restarts.
    """
    import ray

    if not shards:
        return
    assert settings.dim is not None
    plan = plan_pool(init_ray(options), options.replicas, options.gpus_per_replica)
    logger.info("ray: %d shards on %d replica(s) x %.3g CPU, %g GPU, %d thread(s)", len(shards), plan.replicas,
                plan.cpus, plan.gpus, plan.threads)
    sizes = {i: len(texts) for i, texts in shards}
    with ordered_execution():
        ds = ray.data.from_items([{"shard": i, "texts": list(texts)} for i, texts in shards],
                                 override_num_blocks=len(shards))
        ds = actor_stage(ds, EncoderActor, plan, options, {
            "settings": asdict(settings), "device": options.device, "batch_size": batch_size,
            "threads": plan.threads, "chaos": options.chaos})
        for row in ds.iter_rows():
            i = int(row["shard"])
            yield i, np.asarray(row["emb"], dtype=np.float32).reshape(sizes[i], settings.dim)
