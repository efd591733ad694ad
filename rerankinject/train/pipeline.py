"""From a :class:`~rerankinject.train.config.TrainConfig` to a trained model: data, teacher, model, trainer.

:func:`prepare` reads the data set, the runs and the teacher and builds the training pairs and the validation
set; :func:`train_from_config` trains (resuming from ``output_dir/checkpoint`` when present);
:func:`evaluate_test` re-ranks a test run once with the best model; :func:`rerank_validation` re-ranks the
validation queries with it (for tuning, e.g., an interpolation weight).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.registry import Dataset, load_dataset
from ..errors import DataError
from ..evaluate.measures import evaluate_run
from ..injection.normalize import Normalizer
from ..injection.recipe import VARIANTS, InjectionRecipe, recipe_for_variant
from ..io.files import atomic_write, require_file
from ..io.formats import Document, read_collection, read_qrels
from ..io.runs import RunRecord, query_sort_key, read_run, write_run
from .config import TrainConfig
from .data import Pair, ScoreTable, attach_scores, resolve_run_path, sample_pairs, split_queries
from .examples import GroupDataset, TokenCache, examples_from_pairs, render_pairs
from .losses import LISTWISE_LOSSES, TEACHER_LOSSES
from .stream import StreamedGroupDataset
from .teachers import EnsembleTeacher, apply_teacher, cross_encoder_teacher, read_hofstatter_teacher
from .trainer import check_resumable, train_model
from .validation import RerankSet

__all__ = ["Prepared", "make_recipe", "prepare", "train_from_config", "evaluate_test", "rerank_validation"]

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything the trainer needs, built from a config."""

    cfg: TrainConfig
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    corpus: dict[str, Document]
    table: ScoreTable
    candidates: str
    train_qids: list[str]
    val_qids: list[str]
    pairs: list[Pair]
    rel_level: int


def make_recipe(cfg: TrainConfig) -> InjectionRecipe:
    """The injection recipe of the config's variant, bounds and length settings."""
    injected = VARIANTS[cfg.variant.upper()]
    bounds = {s: tuple(map(float, b)) for s, b in cfg.bounds.items() if s in injected}
    return recipe_for_variant(cfg.variant, bounds=bounds, template=cfg.template, render=cfg.render,
                              query_max_tokens=cfg.query_max_tokens, max_length=cfg.max_length)


def _teacher_pairs(cfg: TrainConfig, pairs: list[Pair], p: Prepared) -> list[Pair]:
    t = cfg.teacher
    kind = t.get("kind", "none")
    if kind == "ensemble":
        runs = {}
        ds = load_dataset(cfg.dataset, cfg.data_root)
        for name, value in t["runs"].items():
            path = resolve_run_path(str(value), ds)
            runs[name] = {q: {r.doc_id: r.score for r in recs} for q, recs in read_run(path).items()}
        teacher = EnsembleTeacher(runs, Normalizer(t.get("normalizer", "minmax-query")), t.get("weights"))
        kept = [pr for pr in pairs if teacher.covers(pr.qid)]
        return apply_teacher(kept, teacher.score)
    if kind == "cross-encoder":
        score = cross_encoder_teacher(t["model"], pairs, p.queries, p.corpus, p.table,
                                      batch_size=int(t.get("batch_size", cfg.eval_batch_size)), device=cfg.device,
                                      passages=cfg.passage_spec(), seed=cfg.seed)
        return apply_teacher(pairs, score)
    return pairs


def _split(cfg: TrainConfig, queries: dict[str, str], qrels: dict[str, dict[str, int]], table: ScoreTable,
           candidates: str, threshold: int) -> tuple[list[str], list[str]]:
    """The (training, validation) query split: judged queries the candidate run covers, split by query."""
    judged = [q for q in queries if any(g >= threshold for g in qrels.get(q, {}).values())]
    if not judged:
        raise DataError(f"{cfg.dataset}: no query has a document judged >= {threshold} (rel_threshold)")
    covered = [q for q in judged if q in table.runs[candidates]]
    if not covered:
        raise DataError(f"training set is empty after filtering: the {candidates!r} run has none of the "
                        f"{len(judged)} judged queries of {cfg.dataset}")
    if len(covered) < len(judged):
        logger.info("%d of %d judged queries are in the %r run; the others are left out", len(covered), len(judged),
                    candidates)
    if cfg.val_dataset:  # validation on another data set: its queries leave training, nothing is split off
        held = load_dataset(cfg.val_dataset, cfg.data_root).topics()
        train = sorted((q for q in covered if q not in held), key=query_sort_key)
        logger.info("val_dataset %s: %d of the %d training queries are its queries and leave training",
                    cfg.val_dataset, len(covered) - len(train), len(covered))
        if not train:
            raise DataError(f"training set is empty after filtering: every training query of {cfg.dataset} is a "
                            f"query of val_dataset {cfg.val_dataset}")
        return train, []
    return split_queries(covered, cfg.val_queries, cfg.seed)


def _train_only_qrels(cfg: TrainConfig, queries: dict[str, str],
                      qrels: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """``cfg.train_only_qrels``, checked: every query is a query of the data set and has no judgment in it."""
    path = str(require_file(cfg.train_only_qrels, "train_only_qrels"))
    extra = read_qrels(path)
    for q in extra:
        if q not in queries:
            raise DataError(f"{path}: query {q!r} is not a query of {cfg.dataset} (train_only_qrels)")
        if q in qrels:
            raise DataError(f"{path}: query {q!r} is judged in {cfg.dataset} already; train_only_qrels adds "
                            f"queries without judgments only")
    return extra


def prepare(cfg: TrainConfig) -> Prepared:
    """Read data, split by query, sample pairs (or read them from a Hofstätter teacher file), attach scores.

    Raises:
        DataError: unreadable inputs, or a training set that is empty after filtering (the message says why).
    """
    ds = load_dataset(cfg.dataset, cfg.data_root)
    queries = ds.topics()
    qrels = ds.qrels()
    corpus = read_collection(ds.corpus_path)
    threshold = cfg.rel_threshold if cfg.rel_threshold is not None else ds.rel_level
    table = ScoreTable.from_config(cfg.sources, ds, cfg.missing_score, queries)
    candidates = _candidate_source(cfg, cfg.sources)
    train_qids, val_qids = _split(cfg, queries, qrels, table, candidates, threshold)
    sample_qrels = qrels
    if cfg.train_only_qrels:
        extra = _train_only_qrels(cfg, queries, qrels)
        sample_qrels = {**qrels, **extra}
        added = sorted(q for q in extra if q in table.runs[candidates])
        logger.info("train_only_qrels %s: %d more training queries (%d not in the %r run)", cfg.train_only_qrels,
                    len(added), len(extra) - len(added), candidates)
        train_qids = [*train_qids, *added]
    prep = Prepared(cfg, queries, qrels, corpus, table, candidates, train_qids, val_qids, [], ds.rel_level)
    if cfg.teacher.get("kind") == "hofstatter":
        all_pairs = read_hofstatter_teacher(cfg.teacher["path"], queries, corpus)
        train_set = set(train_qids)
        pairs = [pr for pr in all_pairs if pr.qid in train_set]
        logger.info("teacher file %s: %d pairs, %d on training queries", cfg.teacher["path"], len(all_pairs),
                    len(pairs))
        why = f"none of its {len(all_pairs)} pairs is on a training query ({len(train_qids)} training queries)"
    else:
        pairs = sample_pairs(train_qids, sample_qrels, table, candidates, threshold, cfg.negatives_per_positive,
                             cfg.neg_depth, cfg.unjudged_as_negative, cfg.seed, corpus, cfg.max_positives_per_query,
                             cfg.positive_depth)
        where = "" if cfg.positive_depth is None else f" (positives from its top {cfg.positive_depth})"
        why = (f"no training query has both a positive (grade >= {threshold}) and a negative in the top "
               f"{cfg.neg_depth} of {candidates!r}{where} (unjudged_as_negative={cfg.unjudged_as_negative})")
    n_before = len(pairs)
    pairs = attach_scores(pairs, table)
    if n_before and not pairs:
        why = f"all {n_before} pairs were dropped for a missing first-stage score (missing_score: drop)"
    if pairs:
        pairs = _teacher_pairs(cfg, pairs, prep)
        if not pairs:
            why = "no pair has teacher scores (the teacher covers none of the training queries)"
    if not pairs:
        raise DataError(f"training set is empty after filtering: {why}")
    prep.pairs = pairs
    logger.info("%s: %d training queries, %d validation queries, %d training pairs", cfg.dataset, len(train_qids),
                len(val_qids), len(pairs))
    return prep


def has_trained_head(model_dir: str | Path) -> bool:
    """Whether a model folder is a sequence-classification checkpoint (its head is kept, not re-initialised)."""
    cfg_path = Path(model_dir) / "config.json"
    if not cfg_path.is_file():
        return False
    archs = json.loads(cfg_path.read_text()).get("architectures") or []
    return any("ForSequenceClassification" in a for a in archs)


def build_dataset(cfg: TrainConfig, ce: Any, pairs: list[Pair], queries: dict[str, str],
                  corpus: dict[str, Document], table: ScoreTable, candidates: str) -> GroupDataset:
    """Training groups from pairs, rendered with the model's recipe and tokenised once.

    Groups of 2 (positive, negative) for pairwise losses; of ``1 + negatives_per_positive`` for listwise ones.
    """
    group_size = 1 + cfg.negatives_per_positive if cfg.loss in LISTWISE_LOSSES else 2
    rendered = render_pairs(ce.recipe, table, candidates, pairs, cfg.val_depth)
    bm25_source = cfg.bm25added.get("source", "bm25") if cfg.loss == "bm25added" else None
    examples = examples_from_pairs(pairs, rendered, group_size, bm25_source)
    if not examples:
        raise DataError(f"no training group of {group_size} documents (1 positive + {group_size - 1} negatives) "
                        f"could be formed; lower negatives_per_positive or raise neg_depth")
    return GroupDataset(examples, queries, corpus, ce.builder, TokenCache(ce.tokenizer, cfg.max_length),
                        cfg.passage_spec(), cfg.seed)


def train_from_config(cfg: TrainConfig) -> dict[str, Any]:
    """Prepare data, build the model (a new head on the init model, or a trained cross-encoder's) and train.

    Returns:
        The validation curve (also in ``output_dir/validation_curve.json``).
    """
    import torch

    from ..scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel

    check_resumable(cfg)  # before minutes of data preparation
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    prep = prepare(cfg) if not cfg.train_file else None
    recipe = make_recipe(cfg)
    init = cfg.init_model or DEFAULT_INIT_MODEL()
    new_head = not has_trained_head(init)
    stored = InjectionRecipe.load(init)
    if stored is not None and stored.to_dict() != recipe.to_dict():
        logger.info("init model %s was trained with recipe %s; training it further with %s", init, stored.variant,
                    recipe.variant)
    ce = CrossEncoderModel(init, recipe=recipe if stored is None else None, device=cfg.device, threads=cfg.threads)
    if stored is not None and stored.to_dict() != recipe.to_dict():  # upgrade: a trained CE gets a new recipe
        ce.recipe, ce.builder = recipe, type(ce.builder)(recipe, ce.tokenizer)
    if not new_head:
        logger.info("starting from the trained cross-encoder %s: its classification head is kept%s", init,
                    " (head_lr applies to it)" if cfg.head_lr_on_trained_head else "")
    if prep is None:  # a prepared, streamed training file
        val_set, baseline = _validation_set(cfg, ce)
        bm25_source = cfg.bm25added.get("source", "bm25") if cfg.loss == "bm25added" else None
        dataset = StreamedGroupDataset(cfg.train_file, cfg.queries, cfg.collection, ce.builder, bm25_source,
                                       cfg.cache_dir)
        if cfg.loss in TEACHER_LOSSES and not dataset.has_teacher:
            raise DataError(f"loss {cfg.loss} distils a teacher but {cfg.train_file} has no teacher scores "
                            f"(prepare it from a teacher file: --teacher)")
        return train_model(cfg, ce, dataset, val_set, baseline, new_head=new_head)
    if cfg.val_dataset:
        val_set, baseline = _validation_set(cfg, ce)
    else:
        val_set = _rerank_set(cfg, ce, prep.val_qids, prep.queries, prep.table, prep.candidates, cfg.val_depth,
                              prep.corpus, prep.qrels, prep.rel_level)
        baseline = _first_stage_score(prep.table, prep.candidates, prep.val_qids, val_set, prep.rel_level)
    dataset = build_dataset(cfg, ce, prep.pairs, prep.queries, prep.corpus, prep.table, prep.candidates)
    return train_model(cfg, ce, dataset, val_set, baseline, new_head=new_head)


def _rerank_set(cfg: TrainConfig, ce: Any, qids: list[str], queries: dict[str, str], table: ScoreTable,
                candidates: str, depth: int, corpus: dict[str, Document], qrels: dict[str, dict[str, int]],
                rel_level: int) -> RerankSet:
    """The queries to re-rank for validation or a test run, with the config's passage splitting (if any)."""
    return RerankSet(ce, qids, queries, table, candidates, depth, corpus, qrels, rel_level, cfg.passage_spec())


def _first_stage_score(table: ScoreTable, candidates: str, val_qids: list[str], val_set: RerankSet,
                       rel_level: int) -> float:
    """nDCG@10 of the candidate run on the validation queries (the reference of the validation curve)."""
    base_run = {q: [RunRecord(q, d, -i) for i, d in enumerate(table.ranked(candidates, q))] for q in val_qids}
    baseline = evaluate_run(base_run, val_set.qrels, rel_level, names=("nDCG@10",))["nDCG@10"]
    logger.info("validation: %d queries; first stage %s nDCG@10 %.4f (full run)", val_set.n_queries, candidates,
                baseline)
    return baseline


def _validation_data(cfg: TrainConfig) -> tuple[Dataset, dict[str, str], dict[str, dict[str, int]], ScoreTable,
                                                  dict[str, Any], list[str]]:
    """The validation queries: ``val_dataset``'s judged ones, or the ``val_queries`` split of ``dataset``.

    Returns the data set, its topics, its qrels of the validation queries, the score table, the sources read and
    the validation query ids.
    """
    name, sources = (cfg.val_dataset, cfg.val_sources) if cfg.val_dataset else (cfg.dataset, cfg.sources)
    ds = load_dataset(name, cfg.data_root)
    queries, qrels = ds.topics(), ds.qrels()
    table = ScoreTable.from_config(sources, ds, cfg.missing_score, queries)
    threshold = cfg.rel_threshold if cfg.rel_threshold is not None else ds.rel_level
    candidates = _candidate_source(cfg, sources)
    if cfg.val_dataset:
        val_qids = [q for q in queries if q in table.runs[candidates]
                    and any(g >= threshold for g in qrels.get(q, {}).values())]
        if not val_qids:
            raise DataError(f"val_dataset {name}: no judged query (grade >= {threshold}) is in its {candidates!r} "
                            f"run")
    else:
        _, val_qids = _split(cfg, queries, qrels, table, candidates, threshold)
    return ds, queries, {q: qrels[q] for q in val_qids if q in qrels}, table, sources, val_qids


def _candidate_source(cfg: TrainConfig, sources: dict[str, Any]) -> str:
    """The source whose run is re-ranked: ``candidates`` when ``sources`` has it, else the first source."""
    return cfg.candidates if cfg.candidates in sources else next(iter(sources))


def _validation_set(cfg: TrainConfig, ce: Any) -> tuple[RerankSet | None, float | None]:
    """The validation set read from disk: ``val_dataset``, or a ``train_file`` run's ``dataset`` split (or None)."""
    if not cfg.dataset and not cfg.val_dataset:
        logger.info("no dataset: training on %s without validation (the last model is the result)",
                    cfg.train_file)
        return None, None
    ds, queries, qrels, table, sources, val_qids = _validation_data(cfg)
    candidates = _candidate_source(cfg, sources)
    corpus = read_collection(ds.corpus_path)
    val_set = _rerank_set(cfg, ce, val_qids, queries, table, candidates, cfg.val_depth, corpus, qrels, ds.rel_level)
    return val_set, _first_stage_score(table, candidates, val_qids, val_set, ds.rel_level)


def evaluate_test(cfg: TrainConfig, model_dir: str | Path | None = None) -> dict[str, Any]:
    """Re-rank ``test_dataset``'s ``test_sources`` run (top ``test_depth``) with the best model; write run+metrics.

    Writes ``output_dir/test.<dataset>.trec`` and ``output_dir/test_metrics.json``.
    """
    if not cfg.test_dataset:
        raise DataError("no test_dataset configured")
    ds = load_dataset(cfg.test_dataset, cfg.data_root)
    queries = ds.topics()
    table = ScoreTable.from_config(cfg.test_sources, ds, cfg.missing_score, queries)
    result = _rerank_with_best(cfg, cfg.test_dataset, ds, queries, ds.qrels(), table, cfg.test_sources, None,
                               model_dir, "test")
    with atomic_write(Path(cfg.output_dir) / "test_metrics.json") as fh:
        fh.write(json.dumps(result, indent=2) + "\n")
    return result


def rerank_validation(cfg: TrainConfig, model_dir: str | Path | None = None) -> dict[str, Any]:
    """Re-rank the validation queries (held out from training) with the best model, at ``test_depth``.

    The validation queries of training: ``val_dataset``'s with ``val_sources``, else the same split
    (``val_queries``, ``seed``) of ``dataset``'s ``sources``. The run, written to
    ``output_dir/validation.<dataset>.trec``, is for tuning things on data the model did not train on, e.g. the
    weight of the interpolation baseline (``python -m rerankinject.interpolate --tune-ce``).
    """
    ds, queries, val_qrels, table, sources, val_qids = _validation_data(cfg)
    return _rerank_with_best(cfg, cfg.val_dataset or cfg.dataset, ds, queries, val_qrels, table, sources, val_qids,
                             model_dir, "validation")


def _rerank_with_best(cfg: TrainConfig, dataset: str, ds: Dataset, queries: dict[str, str],
                      qrels: dict[str, dict[str, int]], table: ScoreTable, sources: dict[str, Any],
                      qids: list[str] | None, model_dir: str | Path | None, name: str) -> dict[str, Any]:
    """Re-rank ``qids`` (all the run's queries when None) of ``dataset`` (loaded: ``ds``) with ``model_dir``.

    ``model_dir`` defaults to ``output_dir/best``. Writes ``output_dir/<name>.<dataset>.trec`` and returns its
    metrics on ``qrels`` beside the first stage's.
    """
    import torch

    from ..scoring.model import CrossEncoderModel

    torch.set_num_threads(cfg.threads)
    corpus = read_collection(ds.corpus_path)
    model_dir = Path(model_dir or Path(cfg.output_dir) / "best")
    ce = CrossEncoderModel(model_dir, device=cfg.device, threads=cfg.threads)
    cand = _candidate_source(cfg, sources)
    qids = [q for q in (queries if qids is None else qids) if q in table.runs[cand]]
    rs = _rerank_set(cfg, ce, qids, queries, table, cand, cfg.test_depth, corpus, qrels, ds.rel_level)
    run = rs.rerank(ce, cfg.eval_batch_size, progress=True)  # below test_depth: the first-stage order, underneath
    out = Path(cfg.output_dir)
    write_run(run, out / f"{name}.{ds.name}.trec", tag=f"rerankinject-{ce.recipe.variant}")
    metrics = evaluate_run(run, qrels, ds.rel_level)
    first_run = {q: [RunRecord(q, d, table.runs[cand][q][d]) for d in table.ranked(cand, q)] for q in qids}
    first = evaluate_run(first_run, qrels, ds.rel_level)
    logger.info("%s %s: nDCG@10 %.4f (first stage %s %.4f)", name, dataset, metrics["nDCG@10"], cand,
                first["nDCG@10"])
    return {"dataset": dataset, "model": str(model_dir), "reranked_depth": cfg.test_depth, "queries": rs.n_queries,
            "reranked": metrics, "first_stage": {"source": cand, **first}}
