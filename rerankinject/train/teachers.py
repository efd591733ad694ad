"""Teacher scores for knowledge distillation.

* (a) :func:`read_hofstatter_teacher` - a Hofstätter-format file ``pos_score<TAB>neg_score<TAB>qid<TAB>pos_pid
  <TAB>neg_pid`` (the teacher file also defines the training pairs);
* (b) :class:`EnsembleTeacher` - the mean of per-query normalised scores of several TREC runs (e.g. SPLADE++, TAS-B
  and ada-002 on TREC DL), normalised with :func:`~rerankinject.injection.normalize.normalize_scores`; a document a
  run did not retrieve counts 0 for that run;
* (c) :func:`cross_encoder_teacher` - the scores of a trained cross-encoder (its own injection recipe).
"""

from __future__ import annotations

import logging
import os
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..errors import DataError, FormatError
from ..injection.normalize import Normalizer, normalize_scores
from ..io.files import open_text
from ..io.formats import Document, document_text
from ..rerank.passages import PassageSpec
from .data import Pair, ScoreTable
from .examples import shown_passage

__all__ = ["read_hofstatter_teacher", "EnsembleTeacher", "cross_encoder_teacher", "apply_teacher"]

logger = logging.getLogger(__name__)


def read_hofstatter_teacher(path: str | os.PathLike, queries: Mapping[str, str] | None = None,
                            corpus: Mapping[str, Any] | None = None) -> list[Pair]:
    """Read a Hofstätter teacher file into pairs with teacher scores.

    Args:
        path: ``pos_score<TAB>neg_score<TAB>qid<TAB>pos_pid<TAB>neg_pid`` per line (.gz allowed).
        queries: known query ids; a line naming another query is an error (None: no check).
        corpus: known doc ids; a line naming another passage is an error (None: no check).

    Raises:
        FormatError: wrong column count, a non-numeric or non-finite score, or an unknown id (names file:line).
        DataError: the file has no lines.
    """
    spath = os.fspath(path)
    pairs: list[Pair] = []
    with open_text(path, "teacher file") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").rstrip("\r").split("\t")
            if len(parts) != 5:
                raise FormatError(spath, lineno, f"expected 5 tab-separated columns "
                                                 f"'pos_score neg_score qid pos_pid neg_pid', got {len(parts)}")
            try:
                tp, tn = float(parts[0]), float(parts[1])
            except ValueError:
                raise FormatError(spath, lineno, f"teacher scores {parts[0]!r}, {parts[1]!r} are not numbers") from None
            if not (abs(tp) < float("inf") and abs(tn) < float("inf")):
                raise FormatError(spath, lineno, "teacher scores must be finite")
            qid, pos, neg = (p.strip() for p in parts[2:])
            if queries is not None and qid not in queries:
                raise FormatError(spath, lineno, f"unknown query id {qid!r} (not in the training topics)")
            for kind, pid in (("positive", pos), ("negative", neg)):
                if corpus is not None and pid not in corpus:
                    raise FormatError(spath, lineno, f"unknown {kind} passage id {pid!r} (not in the corpus)")
            pairs.append(Pair(qid, pos, neg, t_pos=tp, t_neg=tn))
    if not pairs:
        raise DataError(f"teacher file is empty: {spath}")
    return pairs


def ensemble_weights(weights: Any, names: Sequence[str]) -> dict[str, float]:
    """``weights`` (``{run: weight}``) over ``names``, normalised to sum 1; a run without a weight gets 0.

    Raises:
        ValueError: not a mapping, a weight for another run, a weight that is not a number >= 0, or all 0.
    """
    if (not isinstance(weights, Mapping) or set(weights) - set(names)
            or not all(isinstance(w, int | float) and w >= 0 for w in weights.values())
            or not sum(weights.values()) > 0):
        raise ValueError(f"expected {{run: weight >= 0}} over the runs ({', '.join(names)}), not all 0")
    total = float(sum(weights.values()))
    return {n: float(weights.get(n, 0.0)) / total for n in names}


class EnsembleTeacher:
    """Mean (or weighted mean) of per-query normalised scores of several runs.

    Args:
        runs: ``{name: {qid: {doc: raw score}}}``.
        normalizer: normaliser applied per run and query (default per-query min-max).
        weights: ``{name: weight}`` (>= 0, not all 0; a run without a weight gets 0): the weighted mean, e.g. the
            hybrid's interpolation weight tuned on validation queries; None: the plain mean.
    """

    def __init__(self, runs: Mapping[str, Mapping[str, Mapping[str, float]]],
                 normalizer: Normalizer | None = None, weights: Mapping[str, float] | None = None):
        if not runs:
            raise DataError("an ensemble teacher needs at least one run")
        self.names = list(runs)
        self.weights: dict[str, float] | None = None  # None: the plain mean
        if weights is not None:
            try:
                self.weights = ensemble_weights(weights, self.names)
            except ValueError as e:
                raise DataError(f"ensemble teacher weights {weights!r}: {e}") from None
        norm = normalizer or Normalizer("minmax-query")
        self._norm: dict[str, dict[str, dict[str, float]]] = {}
        for name, run in runs.items():
            by_q = {}
            for qid, docs in run.items():
                ids = list(docs)
                by_q[qid] = dict(zip(ids, normalize_scores([docs[d] for d in ids], norm), strict=True))
            self._norm[name] = by_q

    def score(self, qid: str, doc: str) -> float:
        """The teacher score of one (query, doc): (weighted) mean over runs, 0 for a run that did not retrieve it."""
        scores = (self._norm[n].get(qid, {}).get(doc, 0.0) for n in self.names)
        if self.weights is None:
            return statistics.fmean(scores)
        return sum(w * x for w, x in zip(self.weights.values(), scores, strict=True))

    def covers(self, qid: str) -> bool:
        """Whether any run has results for the query."""
        return any(qid in self._norm[n] for n in self.names)


def cross_encoder_teacher(model_dir: str | os.PathLike, pairs: Sequence[Pair], queries: Mapping[str, str],
                          corpus: Mapping[str, Document], table: ScoreTable, batch_size: int = 64,
                          device: str | None = None, passages: PassageSpec | None = None,
                          seed: int = 0) -> Callable[[str, str], float]:
    """Score every (query, doc) of ``pairs`` with a trained cross-encoder; returns a ``(qid, doc) -> score`` lookup.

    The teacher's own injection recipe decides which raw scores it sees (taken from ``table``). With ``passages``
    the teacher scores the passage the student is shown for that (query, doc) (:func:`shown_passage`, same
    ``seed``), not the whole document.
    """
    from ..scoring.model import CrossEncoderModel

    ce = CrossEncoderModel(model_dir, device=device)
    missing = [s for s in ce.recipe.sources if s not in table.sources]
    if missing:
        raise DataError(f"teacher {model_dir} injects {missing} but sources has no such run")
    by_q: dict[str, list[str]] = {}
    for p in pairs:
        lst = by_q.setdefault(p.qid, [])
        for d in (p.pos_id, p.neg_id):
            if d not in lst:
                lst.append(d)
    keys: list[tuple[str, str]] = []
    inputs = []
    memo: dict[str, list[str]] = {}
    for qid, docs in by_q.items():
        raw = {s: {d: table.score(s, qid, d) for d in docs} for s in ce.recipe.sources}
        rendered = ce.recipe.render_query(raw, docs)
        texts = [document_text(corpus[d]) if passages is None else shown_passage(corpus[d], passages, seed, qid, d,
                                                                                  memo)[1] for d in docs]
        inputs += ce.builder.encode(queries[qid], texts, rendered)
        keys += [(qid, d) for d in docs]
    logger.info("cross-encoder teacher %s: scoring %d pairs", model_dir, len(inputs))
    scores = dict(zip(keys, ce.predict(inputs, batch_size=batch_size, progress=True), strict=True))
    del ce
    return lambda q, d: scores[(q, d)]


def apply_teacher(pairs: Iterable[Pair], score: Callable[[str, str], float]) -> list[Pair]:
    """Set ``t_pos``/``t_neg`` of each pair from a ``(qid, doc) -> score`` function."""
    out = []
    for p in pairs:
        p.t_pos, p.t_neg = float(score(p.qid, p.pos_id)), float(score(p.qid, p.neg_id))
        out.append(p)
    return out
