"""Ray plumbing shared by the distributed engines (re-ranking and dense encoding).

Start or join a cluster, size the actor pool from the cluster's resources, run one ``map_batches`` stage over it.

Imports ``ray`` lazily, so ``import rerankinject`` and the local engines never need it.

The pool is sized from :func:`ray.cluster_resources` (:func:`plan_pool`), never with one whole CPU per actor by
default: on a 2-CPU cluster an ``ActorPoolStrategy(size=2)`` whose actors take one CPU each leaves nothing for the
pipeline's tasks (a read task asks for one CPU) and the job waits forever (observed with ray 2.60). The actors share
what is left after :data:`TASK_CPUS`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["TASK_CPUS", "RayOptions", "PoolPlan", "plan_pool", "init_ray", "actor_stage", "ChaosExit",
           "ordered_execution"]

logger = logging.getLogger(__name__)

TASK_CPUS = 1.0
"""CPUs kept free of actors for the pipeline's tasks: a Ray Data read task asks for one whole CPU by default."""


@dataclass(frozen=True)
class RayOptions:
    """How a job runs on Ray.

    Attributes:
        address: a running cluster (``auto``, ``ray://host:10001``, ``host:6379``); None starts a local Ray on
            ``num_cpus`` of this machine's cores.
        replicas: model replicas (actors); None = as many as the cluster holds (one per GPU group of
            ``gpus_per_replica``, else one per CPU left after the task stages).
        gpus_per_replica: GPUs per replica (0: CPU).
        num_cpus: CPUs of a local Ray started here (None: all cores); ignored with ``address``.
        max_restarts: restarts of a replica that dies (set explicitly; Ray Data's own default is unbounded).
        max_task_retries: retries of a batch whose replica died (set explicitly, likewise).
        chaos: testing hook, ``(k, marker file)``: the first replica to reach its k-th batch while the marker does
            not exist creates it and exits its process (a lost worker), once per job.
    """

    address: str | None = None
    replicas: int | None = None
    gpus_per_replica: float = 0.0
    num_cpus: int | None = None
    max_restarts: int = 3
    max_task_retries: int = 3
    chaos: tuple[int, str] | None = None

    def __post_init__(self) -> None:
        if self.replicas is not None and self.replicas < 1:
            raise ValueError(f"replicas must be >= 1, got {self.replicas}")
        if self.gpus_per_replica < 0:
            raise ValueError(f"gpus_per_replica must be >= 0, got {self.gpus_per_replica}")
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"num_cpus must be >= 1, got {self.num_cpus}")
        if self.max_restarts < 0 or self.max_task_retries < 0:
            raise ValueError("max_restarts and max_task_retries must be >= 0")

    @property
    def device(self) -> str:
        """The replicas' torch device: ``cuda`` with GPUs per replica, else ``cpu``."""
        return "cuda" if self.gpus_per_replica > 0 else "cpu"


@dataclass(frozen=True)
class PoolPlan:
    """An actor pool that fits the cluster: ``replicas`` actors of ``cpus`` CPUs and ``gpus`` GPUs each.

    Attributes:
        replicas: actors in the (fixed size) pool.
        cpus: CPUs each actor asks Ray for (a share; may be fractional).
        gpus: GPUs each actor asks for.
        threads: torch/ONNX intra-op threads of each actor (its CPU share rounded, >= 1).
    """

    replicas: int
    cpus: float
    gpus: float
    threads: int


def plan_pool(resources: Mapping[str, float], replicas: int | None = None, gpus_per_replica: float = 0.0,
              task_cpus: float = TASK_CPUS) -> PoolPlan:
    """Size an actor pool from a cluster's resources so that the actors never starve the task stages.

    The actors together ask for at most ``CPU - task_cpus`` CPUs (one task stage can always run), each at most one
    CPU. On CPU the default is one replica per CPU of the cluster (this 2-core machine: 2 replicas of 0.5 CPU, one
    thread each, the local engine's two single-threaded workers); on GPU, one replica per ``gpus_per_replica``.

    Args:
        resources: ``ray.cluster_resources()`` (``CPU``, ``GPU``).
        replicas: wanted replicas (None: as many as fit).
        gpus_per_replica: GPUs per replica (0: CPU replicas).
        task_cpus: CPUs kept for the pipeline's task stages.

    Raises:
        ValueError: the cluster lacks the GPUs asked for, or has no CPU left for the actors.
    """
    cpus = float(resources.get("CPU", 0.0))
    gpus = float(resources.get("GPU", 0.0))
    free = cpus - task_cpus
    if free <= 0:
        raise ValueError(f"the Ray cluster has {cpus:g} CPU(s): none left for model replicas after the "
                         f"{task_cpus:g} CPU kept for task stages")
    if gpus_per_replica > 0:
        fit = int(math.floor(gpus / gpus_per_replica + 1e-9))
        if fit < 1 or (replicas is not None and replicas > fit):
            raise ValueError(f"{replicas or 1} replica(s) x {gpus_per_replica:g} GPU need "
                             f"{(replicas or 1) * gpus_per_replica:g} GPUs; the Ray cluster has {gpus:g}")
        n = replicas or fit
    else:
        n = replicas or max(1, int(math.floor(cpus)))
    share = min(1.0, free / n)
    return PoolPlan(replicas=n, cpus=share, gpus=float(gpus_per_replica), threads=max(1, int(round(share))))


def init_ray(options: RayOptions) -> Mapping[str, float]:
    """Join ``options.address`` or start a local Ray (or reuse the one this process already runs).

    Returns:
        The cluster's resources (``ray.cluster_resources()``).
    """
    import ray

    if not ray.is_initialized():
        if options.address:
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(num_cpus=options.num_cpus or os.cpu_count() or 1, include_dashboard=False,
                     log_to_driver=False)
    resources = ray.cluster_resources()
    logger.info("ray cluster: %g CPU, %g GPU", resources.get("CPU", 0.0), resources.get("GPU", 0.0))
    return resources


def actor_stage(ds: Any, actor_cls: type, plan: PoolPlan, options: RayOptions,
                constructor_kwargs: Mapping[str, Any]) -> Any:
    """``ds.map_batches(actor_cls)`` over a fixed pool of ``plan.replicas`` actors, one row per call.

    Retries and restarts come from ``options`` (explicit, not Ray Data's unbounded defaults); each actor asks for
    ``plan.cpus`` CPUs and ``plan.gpus`` GPUs.
    """
    import warnings

    import ray

    with warnings.catch_warnings():
        # ray 2.60 deprecates **ray_remote_args but has no named parameter for max_restarts / max_task_retries yet
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*is deprecated")
        return ds.map_batches(actor_cls, batch_size=1, batch_format="numpy",
                              compute=ray.data.ActorPoolStrategy(size=plan.replicas),
                              fn_constructor_kwargs=dict(constructor_kwargs), num_cpus=plan.cpus,
                              num_gpus=plan.gpus or None, max_restarts=options.max_restarts,
                              max_task_retries=options.max_task_retries)


class ChaosExit:
    """The :attr:`RayOptions.chaos` hook of an actor: counts its batches and exits the process once per job."""

    def __init__(self, chaos: tuple[int, str] | None):
        self.chaos = chaos
        self.calls = 0

    def tick(self) -> None:
        """Count one batch; on the k-th, exit the process if no replica did so yet (the marker file)."""
        self.calls += 1
        if self.chaos is None or self.calls != self.chaos[0]:
            return
        try:
            fd = os.open(self.chaos[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        logger.warning("chaos: replica %d exits on its batch %d", os.getpid(), self.calls)
        os._exit(1)


@contextmanager
def ordered_execution() -> Iterator[None]:
    """Within the block, Ray Data keeps block order (results stream back in input order) and shows no bars."""
    import ray

    ctx = ray.data.DataContext.get_current()
    before = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    try:
        yield
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = before
