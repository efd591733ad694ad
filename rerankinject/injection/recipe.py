"""The injection recipe: which first-stage scores go into the cross-encoder input, how, and in which template.

* :func:`render_score` - a normalised value -> its text (``int``: the integer of value x 100, the paper's best
  setting; ``decimal``: N decimal places);
* :class:`InjectionRecipe` - sources, their :class:`~rerankinject.injection.normalize.Normalizer`, rendering,
  template and length caps; stored as ``injection.json`` beside a checkpoint's weights;
* :func:`recipe_for_variant` - the paper's variants (CAT, BM25CAT, DPRCAT, BM25DPRCAT).

Templates are strings over the fields ``{query}``, ``{passage}``, ``{scores}`` (all sources in recipe order) or a
source name (``{bm25}``), with ``{sep}`` for the tokenizer's separator token. The first ``{sep}`` splits the text
pair (segment A / segment B); later ones become separator tokens inside segment B. For BERT:
``paper``: ``[CLS] query [SEP] 22 [SEP] passage [SEP]``; ``score-first``: ``[CLS] 22 [SEP] query [SEP] passage
[SEP]``; with two sources ``[CLS] query [SEP] 22 [SEP] 71 [SEP] passage [SEP]``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .normalize import PAPER_BOUNDS, Normalizer, normalize_scores

__all__ = ["RECIPE_FILE", "TEMPLATES", "VARIANTS", "render_score", "InjectionRecipe", "recipe_for_variant"]

RECIPE_FILE = "injection.json"
RECIPE_VERSION = 1

TEMPLATES = {
    "paper": "{query}{sep}{scores}{sep}{passage}",
    "score-first": "{scores}{sep}{query}{sep}{passage}",
}

VARIANTS: dict[str, tuple[str, ...]] = {
    "CAT": (),
    "BM25CAT": ("bm25",),
    "DPRCAT": ("dpr",),
    "BM25DPRCAT": ("bm25", "dpr"),
}
"""The paper's names: which score sources each variant injects (CAT injects none)."""


def render_score(value: float, style: str = "int", decimals: int = 2) -> str:
    """Render a normalised score as text.

    ``int``: ``round(value * 100)`` as an integer (the paper's setting: BM25 11.0 over bounds (0, 50) -> "22");
    ``decimal``: ``value`` with ``decimals`` places.
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot render a non-finite score {value!r}")
    if style == "int":
        return str(int(round(value * 100)))
    if style == "decimal":
        if decimals < 0:
            raise ValueError(f"decimals must be >= 0, got {decimals}")
        return f"{value:.{decimals}f}"
    raise ValueError(f"unknown render style {style!r} (expected 'int' or 'decimal')")


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_\-]*)\}")


@dataclass
class InjectionRecipe:
    """Everything needed to turn (query, passage, raw first-stage scores) into model input, reproducibly.

    Attributes:
        sources: score sources injected, in template order (empty for CAT).
        normalizers: one :class:`Normalizer` per source.
        render: ``int`` or ``decimal``.
        decimals: places for ``decimal`` rendering.
        template: a name in :data:`TEMPLATES` or a custom template string.
        query_max_tokens: cap on the query's tokens (default 30); None = no cap (a plain Hugging Face
            cross-encoder: query and passage are then cut together, longest first, as sentence-transformers does).
        max_length: total input length in tokens, special tokens included.
        variant: a display name (CAT, BM25CAT, ...).
    """

    sources: tuple[str, ...] = ()
    normalizers: dict[str, Normalizer] = field(default_factory=dict)
    render: str = "int"
    decimals: int = 2
    template: str = "paper"
    query_max_tokens: int | None = 30
    max_length: int = 256
    variant: str = "CAT"

    def __post_init__(self) -> None:
        self.sources = tuple(self.sources)
        if len(set(self.sources)) != len(self.sources):
            raise ValueError(f"sources repeat: {self.sources}")
        missing = [s for s in self.sources if s not in self.normalizers]
        if missing:
            raise ValueError(f"no normaliser for source(s) {missing}")
        render_score(0.5, self.render, self.decimals)  # validates render/decimals
        if (self.query_max_tokens is not None and self.query_max_tokens < 1) or \
                self.max_length < (self.query_max_tokens or 0) + 8:
            raise ValueError(f"length caps out of range: query_max_tokens={self.query_max_tokens}, "
                             f"max_length={self.max_length} (need max_length >= query_max_tokens + 8)")
        self.segments()  # validates the template

    @property
    def template_string(self) -> str:
        """The template with named templates resolved."""
        return TEMPLATES.get(self.template, self.template)

    def segments(self) -> tuple[list[str], list[str]]:
        """The template split into segment A and segment B, each a list of sep-separated pieces.

        ``{scores}`` is expanded into one piece per source (and vanishes, with its separator, for CAT).
        """
        t = self.template_string
        if "{scores}" in t:
            if self.sources:
                t = t.replace("{scores}", "{sep}".join("{" + s + "}" for s in self.sources))
            else:
                t = t.replace("{scores}{sep}", "").replace("{sep}{scores}", "").replace("{scores}", "")
        pieces = [p.strip() for p in t.split("{sep}")]
        fields = [f for p in pieces for f in _FIELD.findall(p)]
        for f in fields:
            if f not in ("query", "passage") and f not in self.sources:
                raise ValueError(f"template field {{{f}}} is neither query, passage nor an injected source "
                                 f"({', '.join(self.sources) or 'none'})")
        for needed in ("query", "passage", *self.sources):
            if fields.count(needed) != 1:
                raise ValueError(f"template must contain {{{needed}}} exactly once: {self.template_string!r}")
        if any(not p for p in pieces):
            raise ValueError(f"template has an empty segment: {self.template_string!r}")
        if len(pieces) < 2:
            raise ValueError(f"template needs at least one {{sep}}: {self.template_string!r}")
        return pieces[:1], pieces[1:]

    def render_query(self, raw: Mapping[str, Mapping[str, float]], doc_ids: Sequence[str]) -> list[dict[str, str]]:
        """Normalise and render every source's scores of one query's candidates.

        Args:
            raw: ``{source: {doc id: raw score}}``; must cover every source and every doc id.
            doc_ids: the query's candidates (the list per-query normalisers see).

        Returns:
            One ``{source: text}`` per doc id, in order.

        Raises:
            KeyError: a source or a (source, doc) score is missing (callers turn this into a user error).
        """
        rendered: list[dict[str, str]] = [{} for _ in doc_ids]
        for s in self.sources:
            if s not in raw:
                raise KeyError(f"score source {s!r} is required by the recipe but was not given")
            by_doc = raw[s]
            missing = [d for d in doc_ids if d not in by_doc]
            if missing:
                raise KeyError(f"source {s!r} has no score for doc(s) {missing[:5]}")
            normed = normalize_scores([by_doc[d] for d in doc_ids], self.normalizers[s])
            for out, v in zip(rendered, normed, strict=True):
                out[s] = render_score(v, self.render, self.decimals)
        return rendered

    def render_pairs(self, scores: Sequence[Mapping[str, str | float]]) -> list[dict[str, str]]:
        """Rendered score texts of one query's items from raw scores (numbers) or already rendered ones (strings).

        Raises:
            ValueError: a source's score is missing, mixed raw and rendered, not finite, or a single raw score
                for a per-query normaliser.
        """
        rendered: list[dict[str, str]] = [{} for _ in scores]
        for s in self.sources:
            given = [sc.get(s) for sc in scores]
            if any(v is None for v in given):
                i = next(k for k, v in enumerate(given) if v is None)
                raise ValueError(f"passage {i} has no {s!r} score; recipe {self.variant} injects "
                                 f"{', '.join(self.sources)}")
            if all(isinstance(v, str) for v in given):
                texts = [str(v) for v in given]
            elif any(isinstance(v, str) for v in given):
                raise ValueError(f"source {s!r}: give all scores raw (numbers) or all rendered (strings)")
            else:
                if self.normalizers[s].per_query and len(given) < 2:
                    raise ValueError(f"source {s!r} is normalised per query ({self.normalizers[s].kind}): one raw "
                                     f"score cannot be normalised alone; use text_pairs with all the query's "
                                     f"passages")
                vals = [float(v) for v in given]  # type: ignore[arg-type]
                if not all(math.isfinite(v) for v in vals):
                    raise ValueError(f"source {s!r}: scores must be finite, got {vals}")
                texts = [render_score(v, self.render, self.decimals)
                         for v in normalize_scores(vals, self.normalizers[s])]
            for out, t in zip(rendered, texts, strict=True):
                out[s] = t
        return rendered

    def text_pair(self, query: str, passage: str, scores: Mapping[str, str | float] | None = None,
                  sep: str = "[SEP]") -> tuple[str, str]:
        """The untruncated (segment A, segment B) texts of one pair, with ``sep`` between pieces.

        This is the model input as text, for other libraries (e.g. sentence-transformers' ``CrossEncoder``) and
        display; :meth:`rerankinject.injection.InputBuilder.text_pairs` also cuts query and passage exactly
        where our token ids are cut.

        Args:
            query: the query text.
            passage: the passage text.
            scores: ``{source: value}`` for every source the recipe injects: RAW first-stage scores (numbers;
                normalised and rendered here, e.g. ``{"bm25": 11.0}`` -> ``"22"`` for BM25CAT) or scores already
                rendered (strings, as :meth:`render_query` gives them).
            sep: the tokenizer's separator token (``[SEP]`` for BERT, ``</s>`` for RoBERTa).

        Raises:
            ValueError: a source's score is missing or not finite, or a raw score needs a per-query normaliser
                (use :meth:`text_pairs` with all of the query's passages).
        """
        return self.text_pairs(query, [passage], [scores or {}], sep)[0]

    def text_pairs(self, query: str, passages: Sequence[str], scores: Sequence[Mapping[str, str | float]],
                   sep: str = "[SEP]") -> list[tuple[str, str]]:
        """:meth:`text_pair` for one query's passages; a per-query normaliser sees the raw scores of all of them."""
        if len(scores) != len(passages):
            raise ValueError(f"{len(passages)} passages but {len(scores)} score sets")
        rendered = self.render_pairs(scores)
        a, b = self.segments()
        pairs = []
        for passage, rend in zip(passages, rendered, strict=True):
            values = {"query": query, "passage": passage, **rend}
            fill = [_FIELD.sub(lambda m, v=values: v[m.group(1)], p) for p in a + b]  # type: ignore[misc]
            pairs.append((f" {sep} ".join(fill[: len(a)]), f" {sep} ".join(fill[len(a):])))
        return pairs

    # --- persistence -----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored as ``injection.json`` beside the weights."""
        d = asdict(self)
        d["sources"] = list(self.sources)
        d["normalizers"] = {s: n.to_dict() for s, n in self.normalizers.items()}
        d["version"] = RECIPE_VERSION
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "recipe") -> InjectionRecipe:
        """Inverse of :meth:`to_dict`; unknown keys and bad values raise ValueError naming ``where``."""
        d = dict(d)
        version = d.pop("version", RECIPE_VERSION)
        if version != RECIPE_VERSION:
            raise ValueError(f"{where}: unsupported injection recipe version {version} (expected {RECIPE_VERSION})")
        known = {"sources", "normalizers", "render", "decimals", "template", "query_max_tokens", "max_length",
                 "variant"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{where}: unknown injection recipe keys {sorted(unknown)} (known: {sorted(known)})")
        try:
            d["normalizers"] = {s: Normalizer.from_dict(n) for s, n in d.get("normalizers", {}).items()}
            d["sources"] = tuple(d.get("sources", ()))
            return cls(**d)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``injection.json`` into a checkpoint folder."""
        path = Path(folder) / RECIPE_FILE
        from ..io.files import atomic_write

        with atomic_write(path) as fh:
            fh.write(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> InjectionRecipe | None:
        """Read ``injection.json`` from a checkpoint folder; None when the folder has none (a plain HF model)."""
        path = Path(folder) / RECIPE_FILE
        if not path.is_file():
            return None
        from ..errors import DataError
        from ..io.files import read_json

        d = read_json(path)
        if not isinstance(d, dict):
            raise DataError(f"{path}:1: expected a JSON object")
        try:
            return cls.from_dict(d, where=str(path))
        except ValueError as e:  # name the line of the first offending key when it can be found
            msg = str(e)
            for key in d:
                if repr(key) in msg or f"'{key}'" in msg:
                    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                        if f'"{key}"' in line:
                            msg = msg.replace(f"{path}:", f"{path}:{lineno}:", 1)
                            break
                    break
            raise DataError(msg) from None


def recipe_for_variant(variant: str, bounds: Mapping[str, tuple[float, float]] | None = None,
                       **kwargs: Any) -> InjectionRecipe:
    """The recipe of a named variant (CAT, BM25CAT, DPRCAT, BM25DPRCAT) with global min-max normalisers.

    Args:
        variant: one of :data:`VARIANTS` (case-insensitive).
        bounds: per-source ``(low, high)`` of the global min-max; a source not given gets the paper's bounds
            (:data:`~rerankinject.injection.normalize.PAPER_BOUNDS`: bm25 (0, 50), dpr (0, 1)).
        **kwargs: other :class:`InjectionRecipe` fields (render, template, max_length, ...).

    Raises:
        ValueError: unknown variant, bounds for a source the variant does not inject, or bad bounds.
    """
    key = variant.upper()
    if key not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (expected one of {', '.join(VARIANTS)})")
    sources = VARIANTS[key]
    bounds = dict(bounds or {})
    extra = sorted(set(bounds) - set(sources))
    if extra:
        raise ValueError(f"bounds given for {', '.join(extra)}, which {key} does not inject "
                         f"({', '.join(sources) or 'no scores'})")
    norms = {s: Normalizer.from_bounds(bounds.get(s, PAPER_BOUNDS[s]), f"bounds.{s}") for s in sources}
    return InjectionRecipe(sources=sources, normalizers=norms, variant=key, **kwargs)


