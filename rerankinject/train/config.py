"""Training configuration: one dataclass, read from YAML, overridden by command-line flags.

Every key of a config file must be a field of :class:`TrainConfig` (or of its nested ``teacher`` / ``bm25added``
mappings); an unknown key is an error that names the key and the file. See ``scripts/configs/*.yaml``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..injection.normalize import PER_QUERY_KINDS, Normalizer
from ..injection.recipe import VARIANTS
from ..rerank.passages import PASSAGE_MODES, PassageSpec
from ..rerank.reranker import MISSING_POLICIES as RERANK_MISSING_POLICIES
from .losses import LISTWISE_LOSSES, LOSSES, TEACHER_LOSSES
from .teachers import ensemble_weights

__all__ = ["TrainConfig", "load_config", "TEACHER_KINDS", "MISSING_POLICIES", "SCALAR_FIELDS"]

TEACHER_KINDS = ("none", "hofstatter", "ensemble", "cross-encoder")
MISSING_POLICIES = (*RERANK_MISSING_POLICIES, "index", "drop")
"""What to do when a source has no score for a (query, doc): the re-ranker's policies (fail - the default -, the
query's minimum score in that source's run, 0) plus ``index`` (the exact score from the source's index: a Lucene
index gives BM25, a dense index the encoder's inner product) and ``drop`` (drop the training pair)."""

_TEACHER_KEYS = {"kind", "path", "runs", "normalizer", "weights", "model", "batch_size"}
_BM25ADDED_KEYS = {"source", "teacher_weight", "bm25_weight", "bm25_scale", "denominator"}


@dataclass
class TrainConfig:
    """All training settings (YAML keys = field names; CLI flags = ``--field-name``).

    Attributes:
        dataset: named data set giving topics, qrels and corpus (``dl20``, ``scifact-train``, ...).
        sources: first-stage runs ``{source: run}``; a run is a TREC file path, a bundled run name of ``dataset``
            (``bm25``, ``tasb``) or a mapping ``{run: ..., index: LUCENE_DIR}`` (``index`` for missing="index").
        candidates: the source whose run gives hard negatives and validation candidates (default: the first).
        variant: CAT, BM25CAT, DPRCAT, BM25DPRCAT (what is injected; sources must include them).
        bounds: global min-max bounds ``[low, high]`` per injected source, e.g. ``{bm25: [0, 50], dpr: [90, 115]}``
            (bounds of a source the variant does not inject are unused; an unknown source name is an error).
        template, render, query_max_tokens, max_length: the injection recipe (see rerankinject.injection.recipe).
        init_model: model folder to start from (default all-MiniLM-L6-v2, which gets a new head).
        output_dir: where checkpoints, the best model and the validation curve go.
        rel_threshold: minimum grade of a positive (default: the data set's relevance level).
        negatives_per_positive: hard negatives sampled per positive.
        neg_depth: negatives come from the candidate run's top ``neg_depth``.
        unjudged_as_negative: unjudged run documents count as non-relevant (else only judged non-relevant ones).
        max_positives_per_query: cap on positives per query (None: all).
        positive_depth: positives only from the candidate run's top ``positive_depth`` (None: every judged
            positive). Re-ranking sees only candidates, so a positive from outside them (judged through other
            systems' pools) carries a first-stage score below every negative's: with a score injected, such
            positives teach "low score = relevant", the opposite of what the score means at test time.
        train_only_qrels: extra judgments (TREC qrels) of queries WITHOUT a judgment in ``dataset``, e.g. the
            teacher's top 1 as a pseudo-label of queries whose labelled positive is unusable: their queries are
            training queries only (never validated, never counted as judged), so distillation sees more queries
            while the validation split stays that of ``dataset``'s own judgments.
        missing_score: one of MISSING_POLICIES, or ``{source: policy}``.
        val_queries: validation queries split off by query: a count (int) or a fraction (< 1).
        val_depth: validation re-ranks the candidate run's top ``val_depth``.
        val_dataset, val_sources: validate on ANOTHER data set instead of a split of ``dataset``: its judged
            queries that its candidate run covers (``candidates`` when ``val_sources`` has it, else its first source),
            re-ranked at ``val_depth`` with the scores of ``val_sources`` (same form as ``sources``; the variant's
            injected sources are required). Its queries leave ``dataset``'s training queries (``val_queries`` is
            then unused; a ``train_file``'s pairs are used as they are), e.g. a non-saturated set of labelled queries
            with another first stage (scripts/build_msmarco_devval.py).
        teacher: ``{kind: none|hofstatter|ensemble|cross-encoder, path, runs, normalizer, weights, model,
            batch_size}``; an ensemble's ``weights`` (``{run: weight}``, default equal) make its score a weighted mean.
        loss: bce, pairwise, listwise (localized contrastive estimation over 1 positive + negatives_per_positive
            negatives; no teacher), margin-mse, mse, bm25added or listwise-kl (teacher).
        bm25added: ``{source, teacher_weight, bm25_weight, bm25_scale, denominator}`` of the bm25added label.
        head_lr: learning rate of a NEW classification head and pooler (None: ``lr``); a new head learns faster
            with a larger rate. Starting from a trained cross-encoder (``init_model`` with a sequence-classification
            head), its head is kept and learns at ``lr`` unless ``head_lr_on_trained_head``.
        temperature: teacher temperature of the ``listwise-kl`` loss.
        label_weight: ``listwise-kl`` only: add ``label_weight`` x the listwise cross-entropy of the labelled
            positive (distil the teacher's order of the negatives, keep the label on top); 0: pure distillation.
        passages, passage_length, passage_stride: long documents (see :mod:`rerankinject.rerank.passages`):
            ``firstp``, ``maxp`` or ``sump`` splits every document into passages of ``passage_length`` WORDS
            starting every ``passage_stride`` words (title before each), for training AND validation. Training
            shows each document as ONE passage carrying the document's injected score(s), teacher score and label:
            the first (``firstp``), or one drawn per (query, document) with ``seed`` (``maxp``/``sump``, the
            document's label on every passage, as Dai & Callan 2019; the draw is fixed for the run, so a document
            shows the same passage in every epoch); a cross-encoder teacher scores that same passage; validation
            and the test re-ranking score documents by their first / best / summed passage, exactly as ``rerank
            --passages``. None (or ``none`` on the command line): truncation.
        dataloader_workers: DataLoader worker processes building batches (0: in the training process).
        freeze_embeddings: keep the word embeddings (half of MiniLM's parameters) fixed.
        lr, weight_decay, warmup_ratio, warmup_steps, epochs, max_steps, batch_size, grad_accum, max_grad_norm:
            optimisation (AdamW, linear warm-up then linear decay; batch_size counts (pos, neg) pairs).
        stop_at_step: pause after this optimiser step (validated and checkpointed there); the schedule stays that
            of ``max_steps``/``epochs``, so a later run without it resumes where this one paused (None: off).
        eval_steps: validate (and checkpoint) every N optimiser steps; eval_at_start: also at step 0.
        patience: early stopping after N validations without improvement (0: off).
        precision: auto (bf16 on CUDA when supported, else fp32), fp32, bf16, fp16 (CUDA only).
        device: cpu / cuda (default: CUDA when available). threads: torch CPU threads.
        seed: seed of sampling, splitting, shuffling and initialisation.
        resume: continue from the newest ``output_dir/checkpoint-N`` when present.
        test_dataset, test_sources, test_depth: optional final test re-ranking of the best model (once).
        data_root: data root for named data sets.
        train_file: a prepared examples file (``python -m rerankinject.train.preprocess``: MS MARCO pairs with raw
            scores, streamed from disk) to train on instead of pairs sampled from ``dataset``; needs ``collection``
            and ``queries``. ``dataset`` (with ``sources``) then only gives the validation queries, qrels and
            candidates (the ``val_queries`` split of its judged queries); without ``dataset`` there is no
            validation and the last model is the result. Teacher scores come from the file (``teacher`` stays
            ``none``); losses are pairwise-group ones (groups of 2).
        collection: the collection (``pid<TAB>text``) of ``train_file``'s passages.
        queries: the queries file (``qid<TAB>text``) of ``train_file``'s queries.
        cache_dir: where the streamed dataset keeps its line index and token stores (default beside train_file).
    """

    dataset: str = ""
    sources: dict[str, Any] = field(default_factory=dict)
    candidates: str | None = None
    variant: str = "CAT"
    bounds: dict[str, list[float]] = field(default_factory=dict)
    template: str = "paper"
    render: str = "int"
    query_max_tokens: int = 30
    max_length: int = 192
    init_model: str | None = None
    output_dir: str = "runs/train/model"
    rel_threshold: int | None = None
    negatives_per_positive: int = 4
    neg_depth: int = 100
    unjudged_as_negative: bool = True
    max_positives_per_query: int | None = None
    positive_depth: int | None = None
    train_only_qrels: str | None = None
    missing_score: Any = "error"
    val_queries: float = 0.1
    val_depth: int = 30
    val_dataset: str | None = None
    val_sources: dict[str, Any] = field(default_factory=dict)
    teacher: dict[str, Any] = field(default_factory=lambda: {"kind": "none"})
    loss: str = "bce"
    bm25added: dict[str, Any] = field(default_factory=dict)
    lr: float = 1e-4
    head_lr: float | None = None
    head_lr_on_trained_head: bool = False
    freeze_embeddings: bool = False
    temperature: float = 1.0
    label_weight: float = 0.0
    passages: str | None = None
    passage_length: int = 150
    passage_stride: int = 75
    dataloader_workers: int = 0
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    warmup_steps: int | None = None
    epochs: int = 1
    max_steps: int | None = None
    stop_at_step: int | None = None
    batch_size: int = 8
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    eval_steps: int = 50
    eval_at_start: bool = True
    eval_batch_size: int = 64
    patience: int = 0
    log_steps: int = 10
    precision: str = "auto"
    device: str | None = None
    threads: int = 2
    seed: int = 42
    resume: bool = True
    test_dataset: str | None = None
    test_sources: dict[str, Any] = field(default_factory=dict)
    test_depth: int = 100
    data_root: str | None = None
    train_file: str | None = None
    collection: str | None = None
    queries: str | None = None
    cache_dir: str | None = None

    # ------------------------------------------------------------------------------------------------------
    def validate(self, where: str = "config") -> TrainConfig:
        """Check values; raises DataError naming ``where`` and the key."""
        def bad(key: str, msg: str) -> DataError:
            return DataError(f"{where}: {key}: {msg}")

        if self.train_file:
            for key in ("collection", "queries"):
                if not getattr(self, key):
                    raise bad(key, f"required with train_file (the {key} file its ids come from)")
            if self.teacher.get("kind", "none") != "none":
                raise bad("teacher", "train_file carries its own teacher scores (prepare --teacher); "
                                     "leave teacher.kind at none")
            if self.loss in LISTWISE_LOSSES:
                raise bad("loss", f"{self.loss} needs groups of 1 + negatives_per_positive; train_file holds "
                                  f"pairs (groups of 2): use bce, pairwise, margin-mse, mse or bm25added")
            if self.train_only_qrels:
                raise bad("train_only_qrels", "adds queries to a dataset's sampled groups; not with train_file")
        else:
            for key in ("collection", "queries", "cache_dir"):
                if getattr(self, key):
                    raise bad(key, "only used with train_file")
        if not self.dataset and not self.train_file:
            raise bad("dataset", "required (a data set name such as dl20 or scifact-train)")
        if self.dataset and (not self.sources or not isinstance(self.sources, Mapping)):
            raise bad("sources", "required: a mapping {source name: run file or bundled run name}")
        if self.val_dataset and (not self.val_sources or not isinstance(self.val_sources, Mapping)):
            raise bad("val_sources", "required with val_dataset: a mapping {source name: run file or bundled run}")
        if self.val_sources and not self.val_dataset:
            raise bad("val_sources", "only used with val_dataset")
        for key in ("sources", "val_sources"):
            for name, spec in getattr(self, key).items():
                if isinstance(spec, Mapping):
                    unknown = set(spec) - {"run", "index"}
                    if unknown or "run" not in spec:
                        raise bad(f"{key}.{name}", f"expected {{run: ..., index: ...}}, got keys {sorted(spec)}")
                elif not isinstance(spec, str):
                    raise bad(f"{key}.{name}", f"expected a run file or name, got {spec!r}")
        if self.candidates is not None and self.candidates not in self.sources:
            raise bad("candidates", f"{self.candidates!r} is not among sources ({', '.join(self.sources)})")
        if self.variant.upper() not in VARIANTS:
            raise bad("variant", f"{self.variant!r} (expected one of {', '.join(VARIANTS)})")
        self.variant = self.variant.upper()
        for s in VARIANTS[self.variant] if self.dataset else ():
            if s not in self.sources:
                raise bad("sources", f"variant {self.variant} injects {s!r} but sources has no {s!r} run")
        for s in VARIANTS[self.variant] if self.val_dataset else ():
            if s not in self.val_sources:
                raise bad("val_sources", f"variant {self.variant} injects {s!r} but val_sources has no {s!r} run")
        policies = self.missing_score if isinstance(self.missing_score, Mapping) else {"*": self.missing_score}
        for s, pol in policies.items():
            if pol not in MISSING_POLICIES:
                raise bad("missing_score", f"{pol!r} for {s} (expected one of {', '.join(MISSING_POLICIES)})")
            if s != "*" and s not in self.sources and s not in self.val_sources:
                raise bad("missing_score", f"source {s!r} is not among sources ({', '.join(self.sources)})")
        unknown = set(self.teacher) - _TEACHER_KEYS
        if unknown:
            raise bad("teacher", f"unknown key(s) {sorted(unknown)} (known: {sorted(_TEACHER_KEYS)})")
        kind = self.teacher.get("kind", "none")
        if kind not in TEACHER_KINDS:
            raise bad("teacher.kind", f"{kind!r} (expected one of {', '.join(TEACHER_KINDS)})")
        need = {"hofstatter": "path", "ensemble": "runs", "cross-encoder": "model"}.get(kind)
        if need and not self.teacher.get(need):
            raise bad(f"teacher.{need}", f"required for a {kind} teacher")
        if not self.temperature > 0:
            raise bad("temperature", f"must be > 0, got {self.temperature}")
        if not self.label_weight >= 0:
            raise bad("label_weight", f"must be >= 0, got {self.label_weight}")
        if self.label_weight and self.loss != "listwise-kl":
            raise bad("label_weight", f"adds a label term to listwise-kl only (loss is {self.loss})")
        if self.passages == "none":  # the command line's way to switch off a config file's passages
            self.passages = None
        elif self.passages is None:
            for key in ("passage_length", "passage_stride"):
                if getattr(self, key) != _FIELDS[key].default:
                    raise bad(key, f"set without passages (firstp, maxp or sump): documents are truncated, the "
                                   f"{key} would be ignored")
        if self.passages is not None:
            if self.train_file:
                raise bad("passages", "splits the documents of a dataset's sampled groups; a train_file's "
                                      "passages are used as they are")
            if self.passages not in PASSAGE_MODES:
                raise bad("passages", f"{self.passages!r} (expected one of {', '.join(PASSAGE_MODES)})")
            try:
                self.passage_spec()
            except ValueError as e:
                raise bad("passage_length" if str(e).startswith("passage length") else "passage_stride",
                          str(e)) from None
        if self.dataloader_workers < 0:
            raise bad("dataloader_workers", f"must be >= 0, got {self.dataloader_workers}")
        if kind == "ensemble":
            try:
                Normalizer(self.teacher.get("normalizer", "minmax-query"))
            except ValueError as e:
                raise bad("teacher.normalizer", f"{e} (a per-query kind: {', '.join(PER_QUERY_KINDS)})") from None
            weights = self.teacher.get("weights")
            if weights is not None:
                try:
                    ensemble_weights(weights, list(self.teacher.get("runs") or {}))
                except ValueError as e:
                    raise bad("teacher.weights", f"{e}; got {weights!r}") from None
        if not isinstance(self.bounds, Mapping):
            raise bad("bounds", f"expected a mapping {{source: [low, high]}}, got {self.bounds!r}")
        injected = VARIANTS[self.variant]
        for s, b in self.bounds.items():
            known = {x for v in VARIANTS.values() for x in v} | set(self.sources)
            if s not in known:
                raise bad(f"bounds.{s}", f"no source {s!r} to bound (known: {', '.join(sorted(known))}; "
                                         f"{self.variant} injects {', '.join(injected) or 'no scores'})")
            try:
                Normalizer.from_bounds(b, "bounds")
            except ValueError as e:
                raise bad(f"bounds.{s}", str(e).removeprefix("bounds: ")) from None
        if self.loss not in LOSSES:
            raise bad("loss", f"{self.loss!r} (expected one of {', '.join(LOSSES)})")
        if self.loss in TEACHER_LOSSES and kind == "none" and not self.train_file:
            raise bad("loss", f"{self.loss} distils a teacher: set teacher.kind (hofstatter, ensemble, cross-encoder)")
        unknown = set(self.bm25added) - _BM25ADDED_KEYS
        if unknown:
            raise bad("bm25added", f"unknown key(s) {sorted(unknown)} (known: {sorted(_BM25ADDED_KEYS)})")
        if self.loss == "bm25added":
            src = self.bm25added.get("source", "bm25")
            if src not in self.sources and not self.train_file:
                raise bad("bm25added.source", f"{src!r} is not among sources ({', '.join(self.sources)})")
            if self.variant != "CAT":
                raise bad("variant", "bm25added trains a CAT input (no injection); set variant: CAT")
        for key in ("lr", "batch_size", "grad_accum", "eval_steps", "epochs", "threads", "log_steps",
                    "eval_batch_size", "neg_depth", "val_depth", "negatives_per_positive", "test_depth"):
            if not getattr(self, key) > 0:
                raise bad(key, f"must be > 0, got {getattr(self, key)}")
        if self.head_lr is not None and not self.head_lr > 0:
            raise bad("head_lr", f"must be > 0, got {self.head_lr}")
        for key in ("max_steps", "stop_at_step", "max_positives_per_query", "positive_depth", "warmup_steps"):
            v = getattr(self, key)
            if v is not None and v < (0 if key == "warmup_steps" else 1):
                raise bad(key, f"out of range: {v}")
        if not 0 <= self.warmup_ratio < 1:
            raise bad("warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
        if self.patience < 0:
            raise bad("patience", f"must be >= 0, got {self.patience}")
        if not self.val_queries > 0:
            raise bad("val_queries", f"must be > 0 (a count or a fraction), got {self.val_queries}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise bad("precision", f"{self.precision!r} (expected auto, fp32, bf16 or fp16)")
        if self.test_dataset and not self.test_sources:
            raise bad("test_sources", "required with test_dataset (the runs to re-rank, one per source)")
        return self

    def passage_spec(self) -> PassageSpec | None:
        """The passage splitting of training and validation (None: documents are truncated)."""
        if self.passages is None:
            return None
        return PassageSpec(self.passages, self.passage_length, self.passage_stride)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (written as ``training_args.json``)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
SCALAR_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)
                 if f.name not in ("sources", "bounds", "teacher", "bm25added", "test_sources", "val_sources",
                                "missing_score")}
"""Fields settable by a command-line flag (nested mappings are set in the config file)."""


def load_config(path: str | os.PathLike | None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config, apply ``overrides`` (field -> value) and validate.

    A config may start from another one: ``extends: <file>`` (a path relative to the extending file's folder) loads
    that file first - itself possibly extending a third - and every key the extending file sets replaces the base's
    value whole (a mapping such as ``teacher`` is replaced, not merged). Other paths in a config stay relative to the
    working directory, as in any config.

    Raises:
        DataError: a file is missing or not YAML, a key is unknown, ``extends`` is not a file or forms a cycle, or a
            value is out of range. The message names the file that sets the offending key, with its line, and the
            extends chain that led to it (a bad flag: ``command line``).
    """
    data: dict[str, Any] = {}
    origin: dict[str, Path | None] = {}  # key -> the file that sets it (None: a command-line flag)
    files: tuple[Path, ...] = ()
    where = "command line"
    if path is not None:
        where = os.fspath(Path(path))
        if not Path(path).is_file():
            raise DataError(f"config file not found: {where}")
        data, origin, files = _read_layers(Path(path), ())
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
            origin[key] = None
    try:
        cfg = TrainConfig(**data)
    except TypeError as e:
        raise DataError(f"{where}: {e}") from None
    if cfg.teacher is None:
        cfg.teacher = {"kind": "none"}
    for key in ("bounds", "bm25added", "test_sources", "val_sources"):
        if getattr(cfg, key) is None:
            setattr(cfg, key, {})
    try:
        return cfg.validate(where)
    except DataError as e:
        if path is None:
            raise
        rest = str(e)[len(where) + 2:]
        source = origin.get(rest.split(":", 1)[0].split(".", 1)[0].strip(), files[0])
        if source is None:
            raise DataError(f"command line: {rest}") from None
        hops = files[:files.index(source) + 1]
        raise DataError(_with_line(f"{source}: {rest}{_via(hops)}", source)) from None


def _via(hops: tuple[Path, ...]) -> str:
    """`` (extends chain: top.yaml -> base.yaml)`` for a file reached through ``extends``, else ``""``."""
    return f" (extends chain: {' -> '.join(map(str, hops))})" if len(hops) > 1 else ""


def _read_layers(p: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], dict[str, Path | None], tuple[Path, ...]]:
    """Read config file ``p`` and the files it ``extends``.

    Returns:
        Its keys over those of its bases, the file each key comes from, and the files read from the first one loaded
        (``chain``: the files that led to ``p``) to the deepest base.
    """
    import yaml

    hops = (*chain, p)
    via = _via(hops)
    text = p.read_text()
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{p}{line}: invalid YAML: {getattr(e, 'problem', e)}{via}") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise DataError(f"{p}: expected a mapping of config keys, got {type(loaded).__name__}{via}")
    known = set(_FIELDS) | {"extends"}
    for key in loaded:
        if key not in known:
            lineno = next((i for i, line in enumerate(text.splitlines(), 1)
                           if line.split(":", 1)[0].strip().strip("'\"") == str(key)), None)
            at = f":{lineno}" if lineno else ""
            raise DataError(f"{p}{at}: unknown config key {key!r}{via} (known keys: {', '.join(sorted(known))})")
    data: dict[str, Any] = {}
    origin: dict[str, Path | None] = {}
    files = hops
    if "extends" in loaded:
        base = loaded.pop("extends")
        if not isinstance(base, str) or not base.strip():
            raise DataError(_with_line(f"{p}: extends: expected the path of a config file, got {base!r}{via}", p))
        target = p.parent / Path(base).expanduser()
        if not target.is_file():
            raise DataError(_with_line(f"{p}: extends: config file not found: {target}{via}", p))
        if target.resolve() in {h.resolve() for h in hops}:
            raise DataError(_with_line(f"{p}: extends: cycle {' -> '.join(map(str, (*hops, target)))}", p))
        data, origin, files = _read_layers(target, hops)
    data.update(loaded)
    origin.update(dict.fromkeys(loaded, p))
    return data, origin, files


def _with_line(msg: str, path: Path) -> str:
    """``file: key.sub: ...`` -> ``file:LINE: key.sub: ...``, LINE being where ``key`` (then ``sub``) is written."""
    prefix = f"{path}: "
    if not msg.startswith(prefix):
        return msg
    lines = ["" if line.lstrip().startswith("#") else re.sub(r"\s#.*$", "", line)  # comments never count
             for line in path.read_text().splitlines()]
    lineno = 0
    for part in msg[len(prefix):].split(":", 1)[0].strip().split("."):
        found = next((i for i in range(max(lineno - 1, 0), len(lines))
                      if re.search(rf"(^|[{{,\s])['\"]?{re.escape(part)}['\"]?\s*:", lines[i])), None)
        if found is None:
            break
        lineno = found + 1
    return f"{path}:{lineno}: {msg[len(prefix):]}" if lineno else msg
