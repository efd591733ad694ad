"""Test helpers for cross-encoders: a tiny random BERT checkpoint and a few-step fine-tuning loop on real data."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from rerankinject.injection.recipe import InjectionRecipe
from rerankinject.scoring.model import DEFAULT_INIT_MODEL

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def make_tiny_bert(folder: Path, recipe: InjectionRecipe | None = None, seed: int = 0, dropout: float = 0.1) -> Path:
    """A randomly initialised 2-layer BERT cross-encoder (num_labels=1) with MiniLM's tokenizer, saved to ``folder``.

    Without ``recipe`` the folder is a plain Hugging Face model (loads as CAT).
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512, num_labels=1, hidden_dropout_prob=dropout,
                     attention_probs_dropout_prob=dropout)
    model = BertForSequenceClassification(cfg)
    with torch.no_grad():  # larger weights than the 0.02 default so that scores differ clearly between inputs
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.2)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    src = Path(DEFAULT_INIT_MODEL())
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy(src / name, folder / name)
    if recipe is not None:
        recipe.save(folder)
    return folder


def finetune_pairwise(model, pairs, steps: int, batch_pairs: int = 8, lr: float = 1e-4, head_lr: float = 1e-3,
                      seed: int = 0) -> list[float]:
    """A few steps of pairwise softmax training (positive vs negative) on a :class:`CrossEncoderModel`, in place.

    Args:
        model: the CrossEncoderModel (its builder makes the inputs, so training sees exactly inference's inputs).
        pairs: ``(query, positive text, negative text, rendered scores of pos, rendered scores of neg)`` tuples.
        steps: optimiser steps.
        batch_pairs: pairs per step.
        lr: AdamW learning rate of the encoder (word embeddings frozen); ``head_lr`` for the new classifier (and
            pooler).

    Returns:
        The loss of every step.
    """
    import torch

    from rerankinject.scoring.batching import pad_batch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    pairs = list(pairs)
    rng.shuffle(pairs)
    net = model.model
    for n, p in net.named_parameters():  # the 30k x d word embeddings: frozen, half the parameters, little gain
        if "word_embeddings" in n:
            p.requires_grad_(False)
    head = [p for n, p in net.named_parameters() if "classifier" in n or "pooler" in n]
    body = [p for n, p in net.named_parameters()
            if p.requires_grad and not ("classifier" in n or "pooler" in n)]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": head_lr}], weight_decay=0.01)
    net.train()
    losses = []
    for step in range(steps):
        start = (step * batch_pairs) % len(pairs)
        batch = pairs[start:start + batch_pairs]
        items = []
        for q, pos, neg, r_pos, r_neg in batch:
            items += model.builder.encode(q, [pos, neg], [r_pos, r_neg])
        t = pad_batch(items, model.pad_id)
        logits = net(**t).logits[:, 0].view(-1, 2)
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    net.eval()
    return losses


def with_recipe(base: Path, folder: Path, recipe: InjectionRecipe | None) -> Path:
    """A copy of checkpoint ``base`` at ``folder`` with ``recipe`` as its injection.json (None: plain HF folder)."""
    shutil.copytree(base, folder)
    (folder / "injection.json").unlink(missing_ok=True)
    if recipe is not None:
        recipe.save(folder)
    return folder
