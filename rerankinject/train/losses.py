"""Training losses as pure functions on tensors (no model, no state).

* :func:`bce_loss` - binary cross-entropy on relevance labels (the ECIR 2023 set-up: positives 1, negatives 0);
* :func:`pairwise_loss` - pairwise softmax cross-entropy (RankNet): ``mean(log(1 + exp(s_neg - s_pos)))``;
* :func:`margin_mse_loss` - Hofstätter et al.'s Margin-MSE: ``mean(((s_pos - s_neg) - (t_pos - t_neg))^2)``;
* :func:`pointwise_mse_loss` - MSE between student scores and teacher scores;
* :func:`bm25added_labels` - the "bm25added" distillation label ``(3 * teacher + 10 * bm25 / 50) / 4`` (weights
  configurable), trained with a CAT input (no injection): BM25 enters the label instead of the text;
* :func:`listwise_ce_loss` - localized contrastive estimation (Gao et al., 2021): softmax cross-entropy of the
  positive against its ``n`` negatives;
* :func:`listwise_kl_loss` - listwise distillation: ``KL(softmax(teacher / T) || softmax(student))`` per group;
  with ``label_weight`` w > 0, :class:`GroupLoss` adds ``w *`` :func:`listwise_ce_loss` (the labelled positive), so a
  teacher that does not know the labels (e.g. BM25 + the bi-encoder) shapes the order of the negatives while the
  label keeps the positive on top;
* :class:`GroupLoss` - one of the above over a batch of groups (scores of shape ``(B, G)``: the positive first,
  then the negatives), validated at construction like sentence-transformers' losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

__all__ = ["LOSSES", "LISTWISE_LOSSES", "TEACHER_LOSSES", "bce_loss", "pairwise_loss", "margin_mse_loss",
           "pointwise_mse_loss", "bm25added_labels", "listwise_ce_loss", "listwise_kl_loss", "pair_loss", "GroupLoss"]

LOSSES = ("bce", "pairwise", "margin-mse", "mse", "bm25added", "listwise", "listwise-kl")
"""Loss names accepted by the trainer (``bm25added`` = Margin-MSE on :func:`bm25added_labels`; ``listwise`` =
localized contrastive estimation; ``listwise-kl`` = listwise distillation)."""
LISTWISE_LOSSES = ("listwise", "listwise-kl")
"""Losses over a positive and several negatives at once (groups of 1 + ``negatives_per_positive``)."""
TEACHER_LOSSES = ("margin-mse", "mse", "bm25added", "listwise-kl")
"""Losses that need teacher scores."""


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


def listwise_ce_loss(scores: torch.Tensor) -> torch.Tensor:
    """Localized contrastive estimation: ``mean(-log softmax(scores)[:, 0])`` over groups (positive first).

    Args:
        scores: ``(B, G)`` student scores, column 0 the positive, columns 1.. its negatives (G >= 2).
    """
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(f"listwise scores must have shape (batch, 1 + negatives >= 2), got {tuple(scores.shape)}")
    return F.cross_entropy(scores.float(), torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device))


def listwise_kl_loss(scores: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Listwise distillation: ``mean over groups of KL(softmax(teacher / T) || softmax(scores))``.

    Args:
        scores: ``(B, G)`` student scores.
        teacher: ``(B, G)`` teacher scores of the same documents.
        temperature: teacher temperature (> 0).
    """
    _check_same_shape(scores, teacher)
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(f"listwise scores must have shape (batch, group >= 2), got {tuple(scores.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    target = F.softmax(teacher.float() / temperature, dim=1)
    return F.kl_div(F.log_softmax(scores.float(), dim=1), target, reduction="batchmean")


class GroupLoss:
    """A training loss over a batch of groups: ``(B, G)`` student scores, the positive in column 0.

    Pairwise losses take groups of 2 (positive, negative); with larger groups they average over the positive's
    pairs with each negative. Listwise losses need ``G >= 2``. Checked at construction: the name, the group size,
    and that a teacher is given exactly when the loss needs one.

    Args:
        name: one of :data:`LOSSES`.
        group_size: documents per group (1 positive + negatives), >= 2.
        has_teacher: whether batches carry teacher scores.
        temperature: teacher temperature of ``listwise-kl``.
        label_weight: ``listwise-kl`` only: weight of the added listwise cross-entropy on the labelled positive
            (0: pure distillation).
        bm25added: options of :func:`bm25added_labels` (weights; ``source`` is the caller's business).

    Raises:
        ValueError: unknown loss, group size < 2, a teacher loss without teacher scores or the converse.
    """

    def __init__(self, name: str, group_size: int, has_teacher: bool, temperature: float = 1.0,
                 bm25added: dict | None = None, label_weight: float = 0.0):
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r} (expected one of {', '.join(LOSSES)})")
        if group_size < 2:
            raise ValueError(f"loss {name} needs groups of a positive and >= 1 negative, got group size {group_size}")
        if name in TEACHER_LOSSES and not has_teacher:
            raise ValueError(f"loss {name} distils a teacher, but the training examples carry no teacher scores")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not label_weight >= 0:
            raise ValueError(f"label_weight must be >= 0, got {label_weight}")
        if label_weight and name != "listwise-kl":
            raise ValueError(f"label_weight adds a label term to listwise-kl only, not to {name}")
        self.label_weight = float(label_weight)
        self.name, self.group_size, self.has_teacher, self.temperature = name, group_size, has_teacher, temperature
        self.bm25added = dict(bm25added or {})
        if name == "bm25added":
            bm25added_labels(torch.zeros(1), torch.zeros(1), **self.bm25added)  # validates the weights

    def __call__(self, scores: torch.Tensor, labels: torch.Tensor | None = None, teacher: torch.Tensor | None = None,
                 bm25: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of one batch.

        Args:
            scores: ``(B, G)`` student logits.
            labels: ``(B, G)`` relevance labels (``bce``); default 1 for column 0, 0 elsewhere.
            teacher: ``(B, G)`` teacher scores (teacher losses).
            bm25: ``(B, G)`` raw BM25 scores (``bm25added``).
        """
        if scores.dim() != 2 or scores.shape[1] != self.group_size:
            raise ValueError(f"expected scores of shape (batch, {self.group_size}), got {tuple(scores.shape)}")
        n = self.name
        if n == "bce":
            if labels is None:
                labels = torch.zeros_like(scores)
                labels[:, 0] = 1.0
            return bce_loss(scores.reshape(-1), labels.reshape(-1))
        if n == "listwise":
            return listwise_ce_loss(scores)
        if teacher is None and n in TEACHER_LOSSES:
            raise ValueError(f"loss {n} needs teacher scores")
        if n == "listwise-kl":
            loss = listwise_kl_loss(scores, teacher, self.temperature)
            return loss + self.label_weight * listwise_ce_loss(scores) if self.label_weight else loss
        if n == "mse":
            return pointwise_mse_loss(scores.reshape(-1), teacher.reshape(-1))
        s_pos = scores[:, :1].expand(-1, scores.shape[1] - 1).reshape(-1)
        s_neg = scores[:, 1:].reshape(-1)
        if n == "pairwise":
            return pairwise_loss(s_pos, s_neg)
        if n == "bm25added":
            if bm25 is None:
                raise ValueError("loss bm25added needs the raw BM25 scores")
            teacher = bm25added_labels(teacher, bm25, **self.bm25added)
        t_pos = teacher[:, :1].expand(-1, teacher.shape[1] - 1).reshape(-1)
        return margin_mse_loss(s_pos, s_neg, t_pos, teacher[:, 1:].reshape(-1))
