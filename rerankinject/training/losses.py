"""Training losses as pure functions on tensors (no model, no state).

* :func:`bce_loss` - binary cross-entropy on relevance labels (the ECIR 2023 set-up: positives 1, negatives 0);
* :func:`pairwise_loss` - pairwise softmax cross-entropy (RankNet): ``mean(log(1 + exp(s_neg - s_pos)))``;
* :func:`margin_mse_loss` - Hofstätter et al.'s Margin-MSE: ``mean(((s_pos - s_neg) - (t_pos - t_neg))^2)``;
* :func:`pointwise_mse_loss` - MSE between student scores and teacher scores;
* :func:`bm25added_labels` - the "bm25added" distillation label ``(3 * teacher + 10 * bm25 / 50) / 4`` (weights
  configurable), trained with a CAT input (no injection): BM25 enters the label instead of the text.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

__all__ = ["LOSSES", "bce_loss", "pairwise_loss", "margin_mse_loss", "pointwise_mse_loss", "bm25added_labels",
           "pair_loss"]

LOSSES = ("bce", "pairwise", "margin-mse", "mse", "bm25added")
"""Loss names accepted by the trainer (``bm25added`` = Margin-MSE on :func:`bm25added_labels`)."""


def _check_same_shape(*tensors: torch.Tensor) -> None:
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"loss inputs must have the same shape, got {sorted(shapes)}")


def bce_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with logits: ``scores`` are raw model outputs, ``labels`` in [0, 1]."""
    _check_same_shape(scores, labels)
    return F.binary_cross_entropy_with_logits(scores.float(), labels.float())


def pairwise_loss(s_pos: torch.Tensor, s_neg: torch.Tensor) -> torch.Tensor:
    """Pairwise softmax cross-entropy of each positive against its negative: ``mean(softplus(s_neg - s_pos))``."""
    _check_same_shape(s_pos, s_neg)
    return F.softplus(s_neg.float() - s_pos.float()).mean()


def margin_mse_loss(s_pos: torch.Tensor, s_neg: torch.Tensor, t_pos: torch.Tensor, t_neg: torch.Tensor) -> torch.Tensor:
    """Margin-MSE: ``mean(((s_pos - s_neg) - (t_pos - t_neg)) ** 2)`` (Hofstätter et al., 2020)."""
    _check_same_shape(s_pos, s_neg, t_pos, t_neg)
    return torch.mean(((s_pos.float() - s_neg.float()) - (t_pos.float() - t_neg.float())) ** 2)


def pointwise_mse_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Pointwise MSE ``mean((scores - targets) ** 2)`` on teacher scores."""
    _check_same_shape(scores, targets)
    return torch.mean((scores.float() - targets.float()) ** 2)


def bm25added_labels(teacher: torch.Tensor, bm25: torch.Tensor, teacher_weight: float = 3.0,
                     bm25_weight: float = 10.0, bm25_scale: float = 50.0, denominator: float = 4.0) -> torch.Tensor:
    """``(teacher_weight * teacher + bm25_weight * bm25 / bm25_scale) / denominator`` (default (3t + 10 b/50) / 4)."""
    _check_same_shape(teacher, bm25)
    if bm25_scale == 0 or denominator == 0:
        raise ValueError(f"bm25_scale and denominator must be non-zero, got {bm25_scale} and {denominator}")
    return (teacher_weight * teacher.float() + bm25_weight * bm25.float() / bm25_scale) / denominator


def pair_loss(name: str, s_pos: torch.Tensor, s_neg: torch.Tensor, t_pos: torch.Tensor | None = None,
              t_neg: torch.Tensor | None = None) -> torch.Tensor:
    """The loss of a batch of (positive, negative) pairs by name.

    Args:
        name: ``bce`` (labels 1/0, teacher ignored), ``pairwise`` (positive vs negative, teacher ignored),
            ``margin-mse`` or ``bm25added`` (Margin-MSE on the given
            targets; for ``bm25added`` the caller passes :func:`bm25added_labels` as targets), ``mse`` (pointwise on
            both sides).
        s_pos: student scores of the positives, shape (B,).
        s_neg: student scores of the negatives, shape (B,).
        t_pos: targets of the positives (distillation losses).
        t_neg: targets of the negatives.
    """
    if name == "bce":
        scores = torch.cat([s_pos, s_neg])
        labels = torch.cat([torch.ones_like(s_pos), torch.zeros_like(s_neg)])
        return bce_loss(scores, labels)
    if name == "pairwise":
        return pairwise_loss(s_pos, s_neg)
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r} (expected one of {', '.join(LOSSES)})")
    if t_pos is None or t_neg is None:
        raise ValueError(f"loss {name!r} needs teacher scores")
    if name == "mse":
        return pointwise_mse_loss(torch.cat([s_pos, s_neg]), torch.cat([t_pos, t_neg]))
    return margin_mse_loss(s_pos, s_neg, t_pos, t_neg)
