"""The two-precision cascade: a quantised scorer ranks every pair, an fp32 scorer re-scores each query's head."""

from __future__ import annotations

from collections.abc import Sequence

from .protocol import Inputs, PairScorer

__all__ = ["CascadeScorer"]


class CascadeScorer:
    """Score with ``fast`` (int8), then re-score each query's top ``head`` (by the fast score) with ``exact`` (fp32).

    The head, which decides nDCG@10, gets exact fp32 scores and order; the tail keeps the fast order and scores,
    lowered by one constant per query when needed to stay below the head. Needs ``groups`` (the doc ids of each
    query's consecutive inputs): the head of a query is its top ``head`` by fast score, ties by doc id.

    Args:
        fast: the quantised scorer.
        exact: the fp32 scorer of the heads.
        head: pairs per query re-scored (>= 1).
        exact_batch_size: pairs per fp32 forward pass (default: the ``batch_size`` of :meth:`predict`).
    """

    def __init__(self, fast: PairScorer, exact: PairScorer, head: int, exact_batch_size: int | None = None):
        if head < 1:
            raise ValueError(f"the cascade head must be >= 1, got {head}")
        if exact_batch_size is not None and exact_batch_size < 1:
            raise ValueError(f"exact_batch_size must be >= 1, got {exact_batch_size}")
        self.fast, self.exact, self.head, self.exact_batch_size = fast, exact, head, exact_batch_size
        self.backend = f"{fast.backend}+{exact.backend}@{head}"

    def predict(self, inputs: Inputs, batch_size: int = 32, progress: bool = False,
                groups: Sequence[Sequence[str]] | None = None) -> list[float]:
        """Cascade scores in input order (see the class documentation)."""
        if groups is None:
            raise ValueError("the cascade needs groups (the doc ids of each query's inputs) to find each head")
        if sum(map(len, groups)) != len(inputs):
            raise ValueError(f"groups cover {sum(map(len, groups))} inputs, not {len(inputs)}")
        scores = self.fast.predict(inputs, batch_size, progress)
        heads: list[list[int]] = []  # per query: input positions of its fast top `head`
        at = 0
        for ids in groups:
            order = sorted(range(len(ids)), key=lambda i: (-scores[at + i], ids[i]))
            heads.append([at + i for i in order[:self.head]])
            at += len(ids)
        exact = self.exact.predict([inputs[i] for h in heads for i in h], self.exact_batch_size or batch_size)
        out = list(scores)
        at = k = 0
        for ids, head in zip(groups, heads, strict=True):
            top = exact[k:k + len(head)]
            k += len(head)
            in_head = set(head)
            tail = [i for i in range(at, at + len(ids)) if i not in in_head]
            for i, s in zip(head, top, strict=True):
                out[i] = s
            if top and tail:
                best_tail, worst_top = max(scores[i] for i in tail), min(top)
                if best_tail >= worst_top:
                    gap = best_tail - worst_top
                    shift = gap + max(1e-3, 1e-6 * abs(gap))
                    for i in tail:
                        out[i] = scores[i] - shift
            at += len(ids)
        return out
