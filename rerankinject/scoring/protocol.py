"""The scorer protocol: every backend scores pre-built model inputs (token ids) into raw logits the same way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Inputs", "PairScorer", "GroupScorer"]

Inputs = Sequence[tuple[list[int], list[int]]]
"""Model inputs: one ``(input_ids, token_type_ids)`` per (query, passage) pair, built by
:class:`~rerankinject.injection.InputBuilder`."""


@runtime_checkable
class PairScorer(Protocol):
    """What every scoring backend offers.

    Torch, ONNX fp32, ONNX int8, the two-precision cascade; a distributed engine plugs in the same way.

    ``predict`` returns one raw logit per input, in input order. ``groups`` (optional) gives the doc ids of the
    consecutive inputs of each query, in order and covering all inputs; backends that score pairs independently
    ignore it, a cascade uses it to re-score each query's head.
    """

    backend: str

    def predict(self, inputs: Inputs, batch_size: int = 32, progress: bool = False,
                groups: Sequence[Sequence[str]] | None = None) -> list[float]:
        """Raw logits of ``inputs``, in input order."""
        ...


@runtime_checkable
class GroupScorer(PairScorer, Protocol):
    """A scorer that takes a whole run's groups at once (a distributed engine: one job, replicas loaded once).

    ``score_groups`` scores each group exactly as ``predict(inputs, batch_size)`` would and yields
    ``(key, logits)`` in the given order, streaming (a group as soon as it is done).
    """

    def score_groups(self, items: Iterable[tuple[Any, Inputs]],
                     batch_size: int = 32) -> Iterator[tuple[Any, list[float]]]:
        """``(key, raw logits)`` per ``(key, inputs)`` group, in order."""
        ...
