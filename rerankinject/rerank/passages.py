"""Long documents as passages: split each document into word windows, score every passage, aggregate per document.

The anchor is PyTerrier's ``pt.text.sliding`` + ``pt.text.max_passage``; two differences:

* every passage carries its DOCUMENT's injected first-stage score(s) (the scores are normalised and rendered once
  per document, over the query's re-ranked documents, so a per-query normaliser sees documents, not passages);
* the passages of all documents of a scoring group go through one length-sorted ``predict`` call.

Lengths are in WHITESPACE WORDS (as ``pt.text.sliding``), not tokens: a passage of ``length`` words starts every
``stride`` words (0, S, 2S, ...) and the last passage is the first one that reaches the end of the document. The
title (when the document has one) is put before every passage. A passage may still be cut to the model's
``max_length`` tokens by the input builder, like any document today.

Aggregation (:data:`PASSAGE_MODES`): ``firstp`` - the first passage's score (only that passage is scored);
``maxp`` - the best passage's; ``sump`` - the sum over passages.

A document without any text has no passages (:func:`split_passages` returns ``[]``); the re-ranker then scores it
as ONE empty passage (query and injected scores only), exactly the input today's truncating path builds for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..io.formats import Document

__all__ = ["PASSAGE_MODES", "PassageSpec", "split_passages", "document_passages", "aggregate"]

PASSAGE_MODES = ("firstp", "maxp", "sump")
"""How a document's score is made from its passages' scores: first, maximum, sum."""


@dataclass(frozen=True)
class PassageSpec:
    """How documents are split and their passage scores aggregated.

    Attributes:
        mode: one of :data:`PASSAGE_MODES`.
        length: words per passage (> 0).
        stride: words between passage starts (0 < stride <= length; stride > length would skip words).

    Raises:
        ValueError: an unknown mode or a length/stride out of range.
    """

    mode: str = "maxp"
    length: int = 150
    stride: int = 75

    def __post_init__(self) -> None:
        if self.mode not in PASSAGE_MODES:
            raise ValueError(f"passage mode must be one of {', '.join(PASSAGE_MODES)}, got {self.mode!r}")
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length <= 0:
            raise ValueError(f"passage length must be a positive number of words, got {self.length!r}")
        if isinstance(self.stride, bool) or not isinstance(self.stride, int) or self.stride <= 0:
            raise ValueError(f"passage stride must be a positive number of words, got {self.stride!r}")
        if self.stride > self.length:
            raise ValueError(f"passage stride {self.stride} > length {self.length} would skip words between "
                             f"passages (use stride <= length)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (part of a re-ranking job's identity)."""
        return {"mode": self.mode, "length": self.length, "stride": self.stride}


def split_passages(text: str, length: int, stride: int) -> list[str]:
    """Word windows of ``text``: ``length`` words starting every ``stride`` words, up to the first reaching the end.

    Args:
        text: the text (split on whitespace; passages are its words joined by single spaces).
        length: words per passage (> 0).
        stride: words between starts (0 < stride <= length).

    Returns:
        The passages in document order; ``[]`` for a text without words.

    Raises:
        ValueError: ``length <= 0``, ``stride <= 0`` or ``stride > length``.
    """
    PassageSpec("maxp", length, stride)  # validates
    words = text.split()
    out: list[str] = []
    start = 0
    while start < len(words):
        out.append(" ".join(words[start:start + length]))
        if start + length >= len(words):
            break
        start += stride
    return out


def document_passages(doc: Document | str, spec: PassageSpec) -> list[str]:
    """The passages of one document under ``spec`` (title before every passage, as ``pt.text.sliding``).

    ``firstp`` keeps only the first passage (the others would not change the document's score). A document
    without words in its body gets its title alone as its one passage; one without any text gets ``[]``.
    """
    if isinstance(doc, Document):
        title, body = " ".join(doc.title.split()), doc.text
    else:
        title, body = "", str(doc)
    parts = split_passages(body, spec.length, spec.stride)
    if spec.mode == "firstp":
        parts = parts[:1]
    if title:
        parts = [f"{title} {p}" for p in parts] or [title]
    return parts


def aggregate(scores: Sequence[float], mode: str) -> float:
    """A document's score from its passages' scores (in document order) under ``mode``.

    Raises:
        ValueError: no scores or an unknown mode.
    """
    if not scores:
        raise ValueError("a document needs at least one passage score")
    if mode == "firstp":
        return float(scores[0])
    if mode == "maxp":
        return float(max(scores))
    if mode == "sump":
        return float(math.fsum(scores))
    raise ValueError(f"passage mode must be one of {', '.join(PASSAGE_MODES)}, got {mode!r}")
