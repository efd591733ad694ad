"""The one place a backend name becomes a scorer.

``torch``, ``onnx``, ``onnx-int8``, ``onnx-int8-full``, and the two-precision cascade (an int8 backend with
``exact_head``). A distributed engine (:class:`~rerankinject.scoring.ray_engine.RayPairScorer`) runs replicas of
these scorers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .protocol import PairScorer

__all__ = ["BACKENDS", "BackendSpec", "make_scorer"]

BACKENDS = ("torch", "onnx", "onnx-int8", "onnx-int8-full")
"""``onnx-int8`` keeps each layer's FFN output projection in fp32 (faithful rankings); ``onnx-int8-full`` quantises
every MatMul and attention (faster, less faithful on trained models with wide logits: docs/performance.md)."""


@dataclass(frozen=True)
class BackendSpec:
    """A parsed backend choice.

    Attributes:
        name: one of :data:`BACKENDS`.
        exact_head: with an int8 backend, re-score each query's top ``exact_head`` in fp32 (0: no cascade).
        exact_backend: the fp32 backend of the cascade head (``onnx`` or ``torch``).
        exact_batch_size: pairs per fp32 forward pass of the head (None: the caller's batch size).
    """

    name: str = "torch"
    exact_head: int = 0
    exact_backend: str = "onnx"
    exact_batch_size: int | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.name!r}")
        if self.exact_head < 0:
            raise ValueError(f"exact_head must be >= 0, got {self.exact_head}")
        if self.exact_batch_size is not None and self.exact_batch_size < 1:
            raise ValueError(f"exact_batch_size must be >= 1, got {self.exact_batch_size}")
        if self.exact_head:
            if not self.quantized:
                raise ValueError(f"exact_head re-scores a quantised (onnx-int8*) ranking in fp32; backend "
                                 f"{self.name} already scores in full precision")
            if self.exact_backend not in ("onnx", "torch"):
                raise ValueError(f"exact_backend must be onnx or torch, got {self.exact_backend!r}")

    @property
    def onnx(self) -> bool:
        """True for the ONNX Runtime backends (CPU only)."""
        return self.name.startswith("onnx")

    @property
    def quantized(self) -> bool:
        """True for the int8 backends."""
        return self.name.startswith("onnx-int8")


def make_scorer(spec: BackendSpec, model_dir: str | os.PathLike, device: str, dtype: str, threads: int | None,
                workers: int, pad_id: int) -> PairScorer:
    """The local scorer of ``spec`` over a checkpoint folder (the cascade when ``spec.exact_head``).

    A distributed engine wraps replicas of this scorer (:class:`~rerankinject.scoring.ray_engine.RayPairScorer`,
    chosen by :class:`~rerankinject.scoring.model.CrossEncoderModel`), so this module never imports it.
    """
    if spec.onnx:
        from .onnx_backend import OnnxScorer

        scorer: PairScorer = OnnxScorer(model_dir, quantize=spec.quantized, threads=threads, pad_id=pad_id,
                                        workers=workers, full_int8=spec.name == "onnx-int8-full")
    else:
        from .torch_backend import TorchScorer

        scorer = TorchScorer(model_dir, device=device, dtype=dtype, threads=threads, workers=workers, pad_id=pad_id)
    if not spec.exact_head:
        return scorer
    from .cascade import CascadeScorer

    exact = make_scorer(BackendSpec(spec.exact_backend), model_dir, "cpu", "fp32", threads, workers, pad_id)
    return CascadeScorer(scorer, exact, spec.exact_head, spec.exact_batch_size)
