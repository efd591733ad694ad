"""Training examples as groups (a positive and its negatives), pre-tokenised once, and the batch collator.

* :class:`Example` - one group: a query, its documents (the positive first), each document's injected score text
  (rendered once, with the recipe's normalisers, see :func:`render_pairs`), teacher scores and raw BM25 (for
  ``bm25added``);
* :func:`examples_from_pairs` - (query, positive, negative) pairs -> groups of 2 (pairwise losses) or of
  ``1 + negatives_per_positive`` (listwise losses);
* :class:`TokenCache` - every query and passage text tokenised ONCE, in batches, by the fast tokenizer (truncated to
  the recipe's ``max_length``: nothing longer can reach the model), stored as int32 arrays;
* :class:`GroupDataset` - a map-style dataset of groups with an approximate input length per group (for
  length-bucketed batches); with a :class:`~rerankinject.rerank.passages.PassageSpec`, each document is shown as
  one of its passages (carrying the document's injected score, teacher score and label);
* :class:`InjectionCollator` - the data collator: builds each input with the checkpoint's
  :class:`~rerankinject.injection.InputBuilder` (the injection text exactly as at inference) and pads a batch.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..injection.inputs import InputBuilder
from ..injection.recipe import InjectionRecipe
from ..io.formats import Document, document_text
from ..rerank.passages import PassageSpec, document_passages
from ..scoring.batching import pad_batch
from .data import Pair, ScoreTable

__all__ = ["Example", "render_pairs", "examples_from_pairs", "shown_passage", "TokenCache", "GroupDataset",
           "InjectionCollator"]

logger = logging.getLogger(__name__)


@dataclass
class Example:
    """One training group: the positive first, then its negatives."""

    qid: str
    docs: list[str]
    rendered: list[dict[str, str]]
    teacher: list[float] | None = None
    bm25: list[float] | None = None


def render_pairs(recipe: InjectionRecipe, table: ScoreTable, candidates: str, pairs: Sequence[Pair],
                 depth: int | None = None) -> dict[tuple[str, str], dict[str, str]]:
    """Rendered injected scores of every (query, doc) of the pairs.

    Global normalisers see each score alone; per-query ones (``minmax-query``, ``zscore-query``, ``sum``) see what
    they see at inference: the query's candidates (the candidate run's top ``depth`` that every source scored),
    plus the pair documents.
    """
    if not recipe.sources:
        return {}
    per_query = any(n.per_query for n in recipe.normalizers.values())
    docs_by_q: dict[str, dict[str, None]] = {}
    for p in pairs:
        docs_by_q.setdefault(p.qid, {}).update({p.pos_id: None, p.neg_id: None})
    out = {}
    for qid, docs in docs_by_q.items():
        ids = list(docs)
        if per_query:
            ranked = [d for d in table.ranked(candidates, qid, depth)
                      if all(d in table.runs[s].get(qid, {}) for s in recipe.sources)]
            ids = list(dict.fromkeys([*ranked, *ids]))
        raw = {s: {d: table.score(s, qid, d) for d in ids} for s in recipe.sources}
        for d, r in zip(ids, recipe.render_query(raw, ids), strict=True):
            if d in docs:
                out[(qid, d)] = r
    return out


def examples_from_pairs(pairs: Sequence[Pair], rendered: Mapping[tuple[str, str], dict[str, str]],
                        group_size: int = 2, bm25_source: str | None = None) -> list[Example]:
    """Groups from pairs: each pair alone (``group_size`` 2), or a positive with its ``group_size - 1`` negatives.

    Consecutive pairs of the same (query, positive) - as :func:`~rerankinject.train.data.sample_pairs` emits them -
    form one group; a positive with fewer negatives than the group needs is left out (counted in the log).
    """
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2, got {group_size}")
    has_teacher = bool(pairs) and all(p.t_pos is not None and p.t_neg is not None for p in pairs)
    groups: dict[tuple[str, str], list[Pair]] = {}
    if group_size == 2:
        runs = [[p] for p in pairs]
    else:
        for p in pairs:
            groups.setdefault((p.qid, p.pos_id), []).append(p)
        runs = list(groups.values())
    out, short = [], 0
    for run in runs:
        negs = list(dict.fromkeys(p.neg_id for p in run))[: group_size - 1]
        if len(negs) < group_size - 1:
            short += 1
            continue
        first = run[0]
        by_neg = {p.neg_id: p for p in run}
        docs = [first.pos_id, *negs]
        teacher = [float(first.t_pos), *(float(by_neg[n].t_neg) for n in negs)] if has_teacher else None
        bm25 = None
        if bm25_source is not None:
            bm25 = [float(first.pos_scores[bm25_source]), *(float(by_neg[n].neg_scores[bm25_source]) for n in negs)]
        out.append(Example(first.qid, docs, [dict(rendered.get((first.qid, d), {})) for d in docs], teacher, bm25))
    if short:
        logger.info("%d positives have fewer than %d negatives and are left out of the listwise groups", short,
                    group_size - 1)
    return out


def shown_passage(doc: Document, spec: PassageSpec, seed: int, qid: str, doc_id: str,
                  memo: dict[str, list[str]] | None = None) -> tuple[int, str]:
    """The passage a training group shows for ``doc`` under query ``qid``: ``(index, text)``.

    ``firstp``: the first passage; ``maxp``/``sump``: one drawn from ``(seed, qid, doc_id)`` (the same in every
    process and run, so resuming and a cross-encoder teacher see the same passage). Passages are split as at
    inference (:func:`~rerankinject.rerank.passages.document_passages`); a document without text is one empty
    passage. ``memo`` caches each document's passages by id.
    """
    parts = memo.get(doc_id) if memo is not None else None
    if parts is None:
        parts = document_passages(doc, spec) or [""]
        if memo is not None:
            memo[doc_id] = parts
    k = 0 if spec.mode == "firstp" or len(parts) == 1 else random.Random(f"{seed}|{qid}|{doc_id}").randrange(len(parts))
    return k, parts[k]


class TokenCache:
    """Token ids of every text, tokenised once in batches (no special tokens), cut at ``max_length``."""

    def __init__(self, tokenizer: Any, max_length: int, batch_size: int = 1024):
        self.tokenizer, self.max_length, self.batch_size = tokenizer, max_length, batch_size
        self.ids: dict[tuple[str, str], np.ndarray] = {}

    def add(self, kind: str, items: Mapping[str, str]) -> None:
        """Tokenise the texts of ``items`` (``{key: text}``) not cached yet under ``kind`` (``q`` or ``d``)."""
        todo = [(k, t) for k, t in items.items() if (kind, k) not in self.ids]
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            enc = self.tokenizer([t for _, t in chunk], add_special_tokens=False, truncation=True,
                                 max_length=self.max_length)["input_ids"]
            for (k, _), ids in zip(chunk, enc, strict=True):
                self.ids[(kind, k)] = np.asarray(ids, dtype=np.int32)

    def __getitem__(self, key: tuple[str, str]) -> np.ndarray:
        return self.ids[key]


class GroupDataset:
    """Groups with their token ids; ``lengths`` approximates each group's longest input (for bucketing).

    ``has_teacher``: every group has teacher scores (the interface :func:`~rerankinject.train.trainer.train_model`
    reads, shared with :class:`~rerankinject.train.stream.StreamedGroupDataset`).

    Args:
        examples: the groups.
        queries: query texts by id; corpus: documents by id.
        builder: the checkpoint's input builder (its recipe caps the query and the total length).
        cache: a :class:`TokenCache` (filled here with what the examples need).
        passages: long documents: each document of a group is shown as ONE passage (split as at inference,
            :func:`~rerankinject.rerank.passages.document_passages`): the first for ``firstp``; for ``maxp`` and
            ``sump`` one drawn per (query, document) from ``seed`` (deterministic, so resuming sees the same
            inputs). The passage keeps the document's rendered score(s), teacher score and label. A document
            without text is one empty passage, as in re-ranking. None: the whole document (truncated).
        seed: the seed of the passage draw.
    """

    def __init__(self, examples: Sequence[Example], queries: Mapping[str, str], corpus: Mapping[str, Document],
                 builder: InputBuilder, cache: TokenCache, passages: PassageSpec | None = None, seed: int = 0):
        self.examples = list(examples)
        self.builder, self.cache = builder, cache
        cache.add("q", {e.qid: queries[e.qid] for e in self.examples})
        if passages is None:
            self.doc_keys = [list(e.docs) for e in self.examples]
            cache.add("d", {d: document_text(corpus[d]) for e in self.examples for d in e.docs})
        else:
            self.doc_keys = self._passage_keys(corpus, passages, seed)
        r = builder.recipe
        fixed = builder.n_special + 4 * len(r.sources)
        q_cap = r.query_max_tokens if r.query_max_tokens is not None else r.max_length  # None: no query cap
        self.lengths = [min(r.max_length, fixed + min(len(cache["q", e.qid]), q_cap)
                            + max(len(cache["d", d]) for d in keys)) for e, keys in zip(self.examples,
                                                                                        self.doc_keys, strict=True)]
        self.group_size = len(self.examples[0].docs) if self.examples else 0
        self.has_teacher = bool(self.examples) and all(e.teacher is not None for e in self.examples)
        if any(len(e.docs) != self.group_size for e in self.examples):
            raise ValueError("all training groups must have the same size")

    def _passage_keys(self, corpus: Mapping[str, Document], spec: PassageSpec, seed: int) -> list[list[str]]:
        """The cache key of the passage shown for each document of each group (texts tokenised here, once)."""
        parts: dict[str, list[str]] = {}
        texts: dict[str, str] = {}
        out = []
        for e in self.examples:
            keys = []
            for d in e.docs:
                k, text = shown_passage(corpus[d], spec, seed, e.qid, d, parts)
                key = f"{d}\t{k}"  # a tab never occurs in a collection's doc ids
                texts[key] = text
                keys.append(key)
            out.append(keys)
        self.cache.add("d", texts)
        n_docs = len(parts)
        logger.info("passages (%s, %d words, stride %d): %d documents, %.2f passages each, %d distinct passages "
                    "shown", spec.mode, spec.length, spec.stride, n_docs,
                    sum(map(len, parts.values())) / max(n_docs, 1), len(texts))
        return out

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        e = self.examples[i]
        q = self.cache["q", e.qid].tolist()
        inputs = [self.builder.build(q, self.cache["d", k].tolist(), rd)
                  for k, rd in zip(self.doc_keys[i], e.rendered, strict=True)]
        return {"inputs": inputs, "teacher": e.teacher, "bm25": e.bm25}


class InjectionCollator:
    """Pads a batch of groups into model tensors plus ``(B, G)`` targets (teacher, raw BM25) when present."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``input_ids``/``token_type_ids``/``attention_mask`` of the B x G inputs, group by group."""
        import torch

        out = pad_batch([x for item in batch for x in item["inputs"]], self.pad_id)
        out["group_size"] = torch.tensor(len(batch[0]["inputs"]))
        for key in ("teacher", "bm25"):
            if batch[0][key] is not None:
                out[key] = torch.tensor([item[key] for item in batch], dtype=torch.float32)
        return out
