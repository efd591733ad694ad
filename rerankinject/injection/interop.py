"""Our checkpoints in other tools: the recipe where they look, and the injected text pair in one call.

A BM25CAT checkpoint loaded by sentence-transformers' ``CrossEncoder`` (or a Hugging Face pipeline) scores plain
``(query, passage)`` pairs without the injected score, silently. So a saved checkpoint carries its recipe

* in ``config.json`` under :data:`CONFIG_KEY` (``"rerankinject_injection"``: the ``injection.json`` object), which
  every tool that reads the config keeps, and
* in a model card (``README.md``) that says what the input must look like and shows the sentence-transformers call,

and :func:`text_pairs` renders the exact input text for other libraries::

    from sentence_transformers import CrossEncoder
    from torch.nn import Identity
    from rerankinject.injection.interop import text_pairs

    pairs = text_pairs("models/minilm-l6-msmarco-bm25cat", query, passages, [{"bm25": 17.2}, {"bm25": 11.0}])
    logits = CrossEncoder("models/minilm-l6-msmarco-bm25cat", activation_fn=Identity()).predict(pairs)

``logits`` equal ``ScoreInjectReranker.predict`` (within 1e-5; the pair texts are cut where our token ids are cut).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..io.files import atomic_write, read_json
from .inputs import InputBuilder
from .recipe import RECIPE_FILE, InjectionRecipe, recipe_for_variant

__all__ = ["CONFIG_KEY", "CARD_FILE", "text_pairs", "model_card", "write_interop"]

CONFIG_KEY = "rerankinject_injection"
"""The ``config.json`` field that holds the injection recipe (the same object as ``injection.json``)."""
CARD_FILE = "README.md"


def text_pairs(model_dir: str | os.PathLike, query: str, passages: Sequence[str],
               scores: Sequence[Mapping[str, str | float]] | None = None,
               tokenizer: Any = None) -> list[tuple[str, str]]:
    """The injected text pairs of one query for a checkpoint, ready for another library's tokenizer.

    Args:
        model_dir: the checkpoint folder (its ``injection.json``; a folder without one is CAT).
        query: the query text.
        passages: the passage texts.
        scores: one ``{source: raw first-stage score}`` per passage (None for CAT). A per-query normaliser sees
            all of them.
        tokenizer: the checkpoint's tokenizer when already loaded (default: loaded from ``model_dir``).

    Returns:
        ``(segment A, segment B)`` per passage, with the tokenizer's separator between the pieces and the query
        and passage cut where :class:`~rerankinject.injection.InputBuilder` cuts them, so that
        ``tokenizer(a, b)`` gives exactly the ids we score.

    Raises:
        ValueError: a score the recipe injects is missing or not finite (see ``InjectionRecipe.render_pairs``).
    """
    recipe = InjectionRecipe.load(model_dir) or recipe_for_variant("CAT")
    if tokenizer is None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return InputBuilder(recipe, tokenizer).text_pairs(query, passages, scores or [{} for _ in passages])


def model_card(recipe: InjectionRecipe, name: str) -> str:
    """A model card (markdown) that tells other tools' users how the input is built and how to score with it."""
    src = ", ".join(f"`{s}` ({recipe.normalizers[s].kind} {json.dumps(recipe.normalizers[s].to_dict())})"
                    for s in recipe.sources) or "none (CAT: plain query-passage pairs)"
    example = recipe.text_pair("what is a flea", "Fleas are small flightless insects.",
                               {s: "22" for s in recipe.sources})
    scores = "[" + ", ".join("{" + ", ".join(f'"{s}": 17.2' for s in recipe.sources) + "}" for _ in range(2)) + "]" \
        if recipe.sources else "None"
    lines = [
        "---", "library_name: rerankinject", "pipeline_tag: text-ranking", "tags:", "- cross-encoder",
        "- score-injection", "---", "",
        f"# {name}", "",
        f"A score-injected cross-encoder re-ranker (Askari et al., ECIR 2023), variant **{recipe.variant}**, made by "
        "rerankinject.", "",
        "## Input: the first-stage score is part of the text", "",
        f"Injected sources: {src}; rendered `{recipe.render}`; template `{recipe.template_string}`; query cut to "
        f"{recipe.query_max_tokens} tokens, whole input to {recipe.max_length} tokens (the scores are never cut). "
        f"The recipe is in `{RECIPE_FILE}` and in `config.json` under `{CONFIG_KEY}`.", "",
        f"Example pair (BM25 11.0 renders as `22` under min-max (0, 50)): `{example[0]}` / `{example[1]}`", "",
        "Loading this folder in another tool and scoring plain (query, passage) pairs gives scores WITHOUT the "
        "injected first-stage score: build the pairs with rerankinject.", "",
        "## Use", "",
        "```python",
        "from rerankinject import ScoreInjectReranker",
        f'rr = ScoreInjectReranker("{name}")',
        f'rr.rank(query, passages, scores={scores})',
        "",
        "# sentence-transformers: the same logits (identity activation)",
        "from sentence_transformers import CrossEncoder",
        "from torch.nn import Identity",
        "from rerankinject.injection.interop import text_pairs",
        f'pairs = text_pairs("{name}", query, passages, {scores})',
        f'CrossEncoder("{name}", activation_fn=Identity()).predict(pairs)',
        "```", "",
    ]
    return "\n".join(lines)


def write_interop(folder: str | os.PathLike, recipe: InjectionRecipe, card: bool = True) -> None:
    """Put the recipe where other tools look: ``config.json`` (:data:`CONFIG_KEY`) and, unless one exists, a card.

    Args:
        folder: a saved checkpoint folder (with ``config.json``).
        recipe: its injection recipe.
        card: write ``README.md`` when the folder has none (an existing card is kept).
    """
    folder = Path(folder)
    config = folder / "config.json"
    cfg = read_json(config)
    if not isinstance(cfg, dict):
        raise ValueError(f"{config}:1: expected a JSON object")
    cfg[CONFIG_KEY] = recipe.to_dict()
    with atomic_write(config) as fh:
        fh.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    if card and not (folder / CARD_FILE).is_file():
        with atomic_write(folder / CARD_FILE) as fh:
            fh.write(model_card(recipe, folder.name))
