"""The model input: token ids for (query, passage, rendered scores) under a recipe and a tokenizer.

The injected scores are never truncated: the query is capped at ``query_max_tokens`` and the passage gets the rest
of ``max_length``. A recipe without a query cap and without scores (a plain Hugging Face cross-encoder) is tokenised
as sentence-transformers' ``CrossEncoder`` does: the pair cut to ``max_length``, longest segment first. Training and
inference build every input here. Texts are tokenised without a length limit and cut here on purpose, so the
tokenizer's "sequence length is longer than the specified maximum" warning is switched off for this tokenizer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .recipe import _FIELD, InjectionRecipe

__all__ = ["InputBuilder"]


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
        # we truncate on purpose (build); transformers' one-time "longer than the specified maximum" warning is noise
        warned = getattr(tokenizer, "deprecation_warnings", None)
        if isinstance(warned, dict):
            warned["sequence-length-is-longer-than-the-specified-maximum"] = True
        # plain cross-encoder: query and passage cut together, longest first (sentence-transformers' CrossEncoder)
        self.pair_truncation = (recipe.query_max_tokens is None and not recipe.sources
                                and self._seg_a == ["{query}"] and self._seg_b == ["{passage}"])

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
        q = list(query_ids if r.query_max_tokens is None else query_ids[: r.query_max_tokens])
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
        if self.pair_truncation:
            if not passages:
                return []
            enc = self.tokenizer([query] * len(passages), list(passages), truncation="longest_first",
                                 max_length=self.recipe.max_length, return_token_type_ids=True)
            types = enc.get("token_type_ids") or [[0] * len(ids) for ids in enc["input_ids"]]
            return [(list(ids), list(t)) for ids, t in zip(enc["input_ids"], types, strict=True)]
        q = self._tok(query)
        p_ids = self.tokenizer(list(passages), add_special_tokens=False)["input_ids"] if passages else []
        return [self.build(q, p, rd) for p, rd in zip(p_ids, rendered, strict=True)]

    def _cut(self, text: str, n_tokens: int) -> str:
        """``text`` cut after its first ``n_tokens`` tokens (at the character offset where that token ends)."""
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        if len(offsets) <= n_tokens:
            return text
        return text[:offsets[n_tokens - 1][1]] if n_tokens > 0 else ""

    def text_pairs(self, query: str, passages: Sequence[str],
                   scores: Sequence[Mapping[str, str | float]]) -> list[tuple[str, str]]:
        """The (segment A, segment B) texts that a plain tokenizer turns into exactly :meth:`encode`'s token ids.

        For other libraries (sentence-transformers' ``CrossEncoder``, a Hugging Face pipeline): the scores are
        rendered as the recipe says (raw numbers, or already rendered strings; see
        :meth:`~rerankinject.injection.InjectionRecipe.render_pairs`), the separators are this tokenizer's
        ``sep_token``, and the query and passage are cut at the character where :meth:`build` cuts their tokens,
        so ``tokenizer(a, b)`` gives the same ids without any truncation (needs a fast tokenizer).

        Raises:
            ValueError: as :meth:`~rerankinject.injection.InjectionRecipe.render_pairs`.
        """
        if len(scores) != len(passages):
            raise ValueError(f"{len(passages)} passages but {len(scores)} score sets")
        rendered = self.recipe.render_pairs(scores)
        q_text = self._cut(query, self.recipe.query_max_tokens)
        q_ids = self._tok(query)
        cut = []
        for passage, rend in zip(passages, rendered, strict=True):
            room = self.recipe.max_length - len(self.build(q_ids, [], rend)[0])
            cut.append(self._cut(passage, room))
        return self.recipe.text_pairs(q_text, cut, rendered, sep=str(self.tokenizer.sep_token))
