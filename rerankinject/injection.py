"""Score injection: normalise first-stage scores, render them as text and build the cross-encoder input.

Written once and shared by training and inference (Askari et al., ECIR 2023, and the follow-up DPR work):

* :func:`normalize_scores` - one query's raw scores of one source -> normalised values
  (global min-max with fixed bounds, clipped; per-query min-max; z-score with global or per-query statistics;
  sum; raw);
* :func:`render_score` - a normalised value -> its text (``int``: the integer of value x 100, the paper's best
  setting; ``decimal``: N decimal places);
* :class:`InjectionRecipe` - which sources are injected, how, in which template, with which length caps; stored
  as ``injection.json`` beside a checkpoint's weights;
* :class:`InputBuilder` - the model input (token ids) for a recipe and a tokenizer. The injected scores are never
  truncated: the query is capped at ``query_max_tokens`` and the passage gets the rest of ``max_length``.

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
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .normalize import minmax_values, zscore_values

__all__ = [
    "NORMALIZERS",
    "TEMPLATES",
    "VARIANTS",
    "RECIPE_FILE",
    "Normalizer",
    "normalize_scores",
    "render_score",
    "InjectionRecipe",
    "InputBuilder",
    "recipe_for_variant",
]

RECIPE_FILE = "injection.json"
RECIPE_VERSION = 1

NORMALIZERS = ("minmax", "minmax-query", "zscore", "zscore-query", "sum", "raw")
"""Normaliser kinds: ``minmax`` global with fixed bounds (clipped to [0, 1]); ``minmax-query`` per query;
``zscore`` with global mean/std; ``zscore-query`` per query; ``sum`` (score / sum of the query's scores); ``raw``."""

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

DEFAULT_BOUNDS = {"bm25": (0.0, 50.0), "dpr": (0.0, 1.0)}


@dataclass(frozen=True)
class Normalizer:
    """How one source's raw scores are normalised.

    Attributes:
        kind: one of :data:`NORMALIZERS`.
        low: lower bound for global ``minmax`` (paper: 0 for BM25).
        high: upper bound for global ``minmax`` (paper: 50 for BM25).
        mean: global mean for ``zscore``.
        std: global standard deviation for ``zscore``.
    """

    kind: str = "minmax"
    low: float = 0.0
    high: float = 50.0
    mean: float | None = None
    std: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in NORMALIZERS:
            raise ValueError(f"unknown normaliser {self.kind!r} (expected one of {', '.join(NORMALIZERS)})")
        if self.kind == "minmax" and not self.high > self.low:
            raise ValueError(f"minmax bounds must satisfy low < high, got ({self.low}, {self.high})")
        if self.kind == "zscore":
            if self.mean is None or self.std is None or not self.std > 0:
                raise ValueError(f"zscore needs a global mean and a positive std, got mean={self.mean} std={self.std}")

    @classmethod
    def fit(cls, kind: str, scores: Sequence[float]) -> Normalizer:
        """A global normaliser whose statistics come from ``scores`` (e.g. all training-run scores).

        For ``minmax`` the bounds become the observed min and max; for ``zscore`` the mean and std.
        Per-query kinds, ``sum`` and ``raw`` need no fitting and are returned as is.
        """
        vals = [float(s) for s in scores]
        if kind == "minmax":
            if len(vals) < 2 or max(vals) <= min(vals):
                raise ValueError("cannot fit minmax bounds: need at least two distinct scores")
            return cls(kind, low=min(vals), high=max(vals))
        if kind == "zscore":
            if len(vals) < 2:
                raise ValueError("cannot fit zscore: need at least two scores")
            return cls(kind, mean=statistics.fmean(vals), std=statistics.pstdev(vals))
        return cls(kind)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (omits fields the kind does not use)."""
        d: dict[str, Any] = {"kind": self.kind}
        if self.kind == "minmax":
            d.update(low=self.low, high=self.high)
        if self.kind == "zscore":
            d.update(mean=self.mean, std=self.std)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`."""
        unknown = set(d) - {"kind", "low", "high", "mean", "std"}
        if unknown:
            raise ValueError(f"unknown normaliser keys {sorted(unknown)}")
        return cls(**d)


def normalize_scores(scores: Sequence[float], norm: Normalizer) -> list[float]:
    """Normalise the raw scores of ONE query's candidates from ONE source.

    Global kinds (``minmax``, ``zscore``, ``raw``) treat each score alone; per-query kinds use the list, through the
    same functions as fusion (:mod:`rerankinject.normalize`): a constant list maps to 0.0.

    Raises:
        ValueError: a score is NaN or infinite.
    """
    vals = [float(s) for s in scores]
    for v in vals:
        if not math.isfinite(v):
            raise ValueError(f"cannot normalise a non-finite score {v!r}")
    k = norm.kind
    if k == "raw":
        return vals
    if k == "minmax":
        span = norm.high - norm.low
        return [min(1.0, max(0.0, (v - norm.low) / span)) for v in vals]
    if k == "zscore":
        return [(v - norm.mean) / norm.std for v in vals]  # type: ignore[operator]
    if not vals:
        return []
    if k == "minmax-query":
        return minmax_values(vals)
    if k == "zscore-query":
        return zscore_values(vals)
    total = sum(vals)  # "sum"
    if total == 0:
        raise ValueError("cannot sum-normalise scores that add up to 0")
    return [v / total for v in vals]


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
        query_max_tokens: cap on the query's tokens (default 30).
        max_length: total input length in tokens, special tokens included.
        variant: a display name (CAT, BM25CAT, ...).
    """

    sources: tuple[str, ...] = ()
    normalizers: dict[str, Normalizer] = field(default_factory=dict)
    render: str = "int"
    decimals: int = 2
    template: str = "paper"
    query_max_tokens: int = 30
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
        if self.query_max_tokens < 1 or self.max_length < self.query_max_tokens + 8:
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

    def text_pair(self, query: str, passage: str, rendered: Mapping[str, str], sep: str = "[SEP]") -> tuple[str, str]:
        """The untruncated (segment A, segment B) texts, with ``sep`` between pieces - for display and tests."""
        values = {"query": query, "passage": passage, **rendered}
        a, b = self.segments()
        fill = [_FIELD.sub(lambda m: values[m.group(1)], p) for p in a + b]
        return f" {sep} ".join(fill[: len(a)]), f" {sep} ".join(fill[len(a):])

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
        from .fileio import atomic_write

        with atomic_write(path) as fh:
            fh.write(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> InjectionRecipe | None:
        """Read ``injection.json`` from a checkpoint folder; None when the folder has none (a plain HF model)."""
        path = Path(folder) / RECIPE_FILE
        if not path.is_file():
            return None
        from .errors import DataError
        from .fileio import read_json

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
        bounds: per-source (low, high); defaults: bm25 (0, 50) as in the paper, dpr (0, 1).
        **kwargs: other :class:`InjectionRecipe` fields (render, template, max_length, ...).
    """
    key = variant.upper()
    if key not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (expected one of {', '.join(VARIANTS)})")
    bounds = {**DEFAULT_BOUNDS, **(bounds or {})}
    sources = VARIANTS[key]
    norms = {s: Normalizer("minmax", *bounds[s]) for s in sources}
    return InjectionRecipe(sources=sources, normalizers=norms, variant=key, **kwargs)


class InputBuilder:
    """Token ids for (query, passage, rendered scores) under a recipe, with the tokenizer's own special tokens.

    The pair layout (``[CLS] A [SEP] B [SEP]`` for BERT, ``<s> A </s></s> B </s>`` for RoBERTa) is read off the
    tokenizer itself. Separators inside a segment are the tokenizer's ``sep_token``.
    """

    def __init__(self, recipe: InjectionRecipe, tokenizer: Any):
        self.recipe = recipe
        self.tokenizer = tokenizer
        if tokenizer.sep_token_id is None:
            raise ValueError("the tokenizer has no separator token; score injection needs one")
        self.sep_id = int(tokenizer.sep_token_id)
        self._layout = self._pair_layout(tokenizer)
        self._seg_a, self._seg_b = recipe.segments()
        self.n_special = len(self._layout[0]) + len(self._layout[2]) + len(self._layout[4])
        self._score_cache: dict[str, list[int]] = {}

    @staticmethod
    def _pair_layout(tok: Any) -> tuple[list[int], int, list[int], int, list[int], int]:
        """(prefix ids, type of A, middle ids, type of B, suffix ids, type of suffix) from encoding a probe pair."""
        a = tok("a", add_special_tokens=False)["input_ids"]
        b = tok("b", add_special_tokens=False)["input_ids"]
        enc = tok("a", "b", return_token_type_ids=True)
        ids = list(enc["input_ids"])
        types = list(enc.get("token_type_ids") or [0] * len(ids))
        i = next(k for k in range(len(ids)) if ids[k:k + len(a)] == a)
        j = next(k for k in range(i + len(a), len(ids)) if ids[k:k + len(b)] == b)
        return (ids[:i], types[i], ids[i + len(a):j], types[j], ids[j + len(b):],
                types[-1] if j + len(b) < len(ids) else types[j])

    def _tok(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _piece_ids(self, piece: str, values: Mapping[str, list[int]]) -> list[int]:
        out: list[int] = []
        pos = 0
        for m in _FIELD.finditer(piece):
            lit = piece[pos:m.start()].strip()
            if lit:
                out += self._tok(lit)
            out += values[m.group(1)]
            pos = m.end()
        tail = piece[pos:].strip()
        if tail:
            out += self._tok(tail)
        return out

    def score_ids(self, text: str) -> list[int]:
        """Token ids of a rendered score (cached: scores repeat a lot)."""
        ids = self._score_cache.get(text)
        if ids is None:
            ids = self._score_cache[text] = self._tok(text)
        return ids

    def build(self, query_ids: Sequence[int], passage_ids: Sequence[int],
              rendered: Mapping[str, str]) -> tuple[list[int], list[int]]:
        """``(input_ids, token_type_ids)`` from pre-tokenised query and passage (no special tokens).

        The query is cut to ``query_max_tokens``; the passage gets what remains of ``max_length`` after the
        special tokens, the query, the separators and the scores, which are never cut.
        """
        r = self.recipe
        q = list(query_ids[: r.query_max_tokens])
        values = {"query": q, "passage": [], **{s: self.score_ids(rendered[s]) for s in r.sources}}
        # length of everything except the passage
        fixed_a = [self._piece_ids(p, values) for p in self._seg_a]
        fixed_b = [self._piece_ids(p, values) for p in self._seg_b]
        used = self.n_special + sum(map(len, fixed_a)) + sum(map(len, fixed_b))
        used += (len(fixed_a) - 1) + (len(fixed_b) - 1)  # inner separators
        room = r.max_length - used
        if room < 0:
            raise ValueError(f"max_length {r.max_length} leaves no room for the passage after query and scores")
        values["passage"] = list(passage_ids[:room])
        seg_a = self._join([self._piece_ids(p, values) for p in self._seg_a])
        seg_b = self._join([self._piece_ids(p, values) for p in self._seg_b])
        pre, ta, mid, tb, suf, ts = self._layout
        ids = pre + seg_a + mid + seg_b + suf
        types = [ta] * (len(pre) + len(seg_a) + len(mid)) + [tb] * len(seg_b) + [ts] * len(suf)
        return ids, types

    def _join(self, pieces: list[list[int]]) -> list[int]:
        out: list[int] = []
        for k, p in enumerate(pieces):
            if k:
                out.append(self.sep_id)
            out += p
        return out

    def encode(self, query: str, passages: Sequence[str],
               rendered: Sequence[Mapping[str, str]]) -> list[tuple[list[int], list[int]]]:
        """Inputs for one query and its candidates: the query is tokenised once, passages in one batch call."""
        if len(passages) != len(rendered):
            raise ValueError(f"{len(passages)} passages but {len(rendered)} rendered score sets")
        q = self._tok(query)
        p_ids = self.tokenizer(list(passages), add_special_tokens=False)["input_ids"] if passages else []
        return [self.build(q, p, rd) for p, rd in zip(p_ids, rendered, strict=True)]
