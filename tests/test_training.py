"""Training: losses, config, pairs, teachers, errors, a short real training run, resume, and loading the result."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from rerankinject.errors import DataError, FormatError
from rerankinject.injection.normalize import Normalizer
from rerankinject.train.config import TrainConfig, load_config
from rerankinject.train.data import Pair, ScoreTable, attach_scores, sample_pairs, split_queries
from rerankinject.train.losses import bce_loss, bm25added_labels, margin_mse_loss, pair_loss, pointwise_mse_loss
from rerankinject.train.teachers import EnsembleTeacher, read_hofstatter_teacher

CONFIGS = Path(__file__).resolve().parent.parent / "scripts" / "configs"


# --- losses -------------------------------------------------------------------------------------------------
def test_losses_match_their_formulas():
    s_pos, s_neg = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])
    t_pos, t_neg = torch.tensor([3.0, 1.0]), torch.tensor([0.0, 2.0])
    expect = (((2.0 - 1.0) - (3.0 - 0.0)) ** 2 + ((0.5 - 1.5) - (1.0 - 2.0)) ** 2) / 2
    assert margin_mse_loss(s_pos, s_neg, t_pos, t_neg).item() == pytest.approx(expect)
    assert pointwise_mse_loss(s_pos, t_pos).item() == pytest.approx(((2 - 3) ** 2 + (0.5 - 1) ** 2) / 2)
    bce = -(math.log(1 / (1 + math.exp(-2.0))) + math.log(1 - 1 / (1 + math.exp(-1.0)))) / 2
    assert bce_loss(torch.tensor([2.0, 1.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(bce, rel=1e-5)
    assert pair_loss("bce", torch.tensor([2.0]), torch.tensor([1.0])).item() == pytest.approx(bce, rel=1e-5)
    assert bm25added_labels(torch.tensor([0.8]), torch.tensor([25.0])).item() == pytest.approx((3 * 0.8 + 10 * 0.5) / 4)
    assert bm25added_labels(torch.tensor([1.0]), torch.tensor([50.0]), 1, 1, 50, 2).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same shape"):
        margin_mse_loss(s_pos, s_neg[:1], t_pos, t_neg)
    with pytest.raises(ValueError, match="needs teacher"):
        pair_loss("margin-mse", s_pos, s_neg)


# --- config -------------------------------------------------------------------------------------------------
def test_unknown_config_key_names_key_and_file(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("dataset: dl20\nsources: {bm25: bm25}\nlearning_rate: 1e-4\n")
    with pytest.raises(DataError, match=r"bad\.yaml:3: unknown config key 'learning_rate'"):
        load_config(cfg)
    cfg.write_text("dataset: dl20\nsources: {bm25: bm25}\nteacher: {kind: ensemble, runz: {a: b}}\n")
    with pytest.raises(DataError, match=r"bad\.yaml:\d+: teacher: unknown key\(s\) \['runz'\]"):
        load_config(cfg)
    cfg.write_text("dataset: dl20\nsources: {bm25: bm25}\nloss: margin-mse\n")
    with pytest.raises(DataError, match="set teacher.kind"):
        load_config(cfg)


def test_config_extends_overlays_keys_and_names_both_files(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("dataset: dl20\nsources: {bm25: bm25, dpr: dense}\nlr: 1.0e-4\nseed: 42\n"
                    "teacher: {kind: ensemble, runs: {bm25: a.trec, dense: b.trec},\n"
                    "          weights: {bm25: 0.1, dense: 0.9}}\n")
    (tmp_path / "sub").mkdir()
    mid = tmp_path / "sub" / "mid.yaml"  # extends is relative to the extending file's folder
    mid.write_text("extends: ../base.yaml\nseed: 43\nteacher: {kind: none}\n")
    top = tmp_path / "sub" / "top.yaml"
    top.write_text("# a comment\nextends: mid.yaml\nlr: 3.0e-5\n")
    cfg = load_config(top, {"max_steps": 9})
    assert (cfg.dataset, cfg.lr, cfg.seed, cfg.max_steps) == ("dl20", 3e-5, 43, 9)
    assert cfg.sources == {"bm25": "bm25", "dpr": "dense"}
    assert cfg.teacher == {"kind": "none"}  # a mapping set by the extending file replaces the base's whole
    assert "extends" not in cfg.to_dict()
    # a bad value written in the base: the error points at the base's line and names the extending file
    base.write_text("dataset: dl20\nsources: {bm25: bm25}\nbatch_size: 0\n")
    chain = r"\(extends chain: .*top\.yaml -> .*mid\.yaml -> .*base\.yaml\)"
    with pytest.raises(DataError, match=r"base\.yaml:3: batch_size: must be > 0, got 0 " + chain):
        load_config(top)
    with pytest.raises(DataError, match=r"^command line: batch_size: must be > 0, got -1$"):  # a flag is no file's
        load_config(top, {"batch_size": -1})
    base.write_text("# teacher: a comment line is no key\ndataset: dl20\nsources: {bm25: bm25}\n"
                    "teacher: {kind: ensembel}   # teacher: nor is a comment\n")
    side = tmp_path / "side.yaml"  # (mid sets a teacher of its own)
    side.write_text("extends: base.yaml\nseed: 5\n")
    with pytest.raises(DataError, match=r"base\.yaml:4: teacher\.kind: .*ensembel.*\(extends chain: .*side\.yaml -> "
                                        r".*base\.yaml\)"):
        load_config(side)
    # ...the same key overridden in the extending file: no error at all
    top.write_text("extends: mid.yaml\nbatch_size: 2\n")
    assert load_config(top).batch_size == 2
    broken = [  # (file, its text, the error)
        (base, "dataset: dl20\nsources: {bm25: bm25}\nlearning_rate: 1e-4\n",
         r"base\.yaml:3: unknown config key 'learning_rate' " + chain),
        (mid, "seed: 1\nextends: nowhere.yaml\n", r"mid\.yaml:2: extends: config file not found: .*nowhere\.yaml"),
        (mid, "extends: top.yaml\n", r"mid\.yaml:1: extends: cycle .*top\.yaml -> .*mid\.yaml -> .*top\.yaml"),
        (mid, "seed: 1\nextends: [a, b]\n", r"mid\.yaml:2: extends: expected the path of a config file"),
        (mid, "extends:\n", r"mid\.yaml:1: extends: expected the path of a config file, got None"),
    ]
    for path, text, error in broken:
        path.write_text(text)
        with pytest.raises(DataError, match=error):
            load_config(top)


def test_every_shipped_config_loads_and_flags_override():
    files = sorted(CONFIGS.glob("*.yaml"))
    names = {f.stem for f in files}
    for ds in ("dl20", "dl19", "scifact"):
        for v in ("cat", "bm25cat", "dprcat", "bm25dprcat", "bm25added"):
            assert f"{ds}_{v}" in names
    out_dirs = {}
    for f in files:  # two configs writing one output_dir would resume each other's checkpoints (refused since round 8)
        out_dirs.setdefault(str(load_config(f).output_dir), []).append(f.name)
    assert not {d: fs for d, fs in out_dirs.items() if len(fs) > 1}
    cfg = load_config(CONFIGS / "scifact_bm25cat.yaml", {"lr": 3e-4, "max_steps": 7})
    assert (cfg.lr, cfg.max_steps, cfg.variant) == (3e-4, 7, "BM25CAT")


def test_cli_rejects_unknown_key_and_bad_flag(tmp_path, capsys):
    from rerankinject.train.__main__ import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: dl20\nsources: {bm25: bm25}\nepochz: 2\n")
    assert main(["--config", str(cfg)]) == 1
    assert "unknown config key 'epochz'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--config", str(cfg), "--max-steps", "ten"])


# --- data ---------------------------------------------------------------------------------------------------
def _toy_table(policy="error"):
    runs = {"bm25": {"q1": {"a": 12.0, "b": 9.0, "c": 3.0, "d": 1.0}, "q2": {"e": 5.0, "f": 4.0}},
            "dpr": {"q1": {"a": 0.9, "c": 0.5}, "q2": {"e": 0.7, "f": 0.2}}}
    return ScoreTable(runs, policy)


def test_missing_score_policies():
    with pytest.raises(DataError, match="source 'dpr' has no score for query 'q1' doc 'b'"):
        _toy_table().score("dpr", "q1", "b")
    assert _toy_table("min").score("dpr", "q1", "b") == 0.5
    assert _toy_table({"dpr": "zero"}).score("dpr", "q1", "b") == 0.0
    pairs = [Pair("q1", "a", "b"), Pair("q1", "a", "c")]
    kept = attach_scores(pairs, _toy_table("drop"))
    assert [(p.pos_id, p.neg_id) for p in kept] == [("a", "c")]
    assert kept[0].pos_scores == {"bm25": 12.0, "dpr": 0.9} and kept[0].neg_scores == {"bm25": 3.0, "dpr": 0.5}
    with pytest.raises(DataError, match="needs sources.bm25.index"):
        _toy_table("index")


def test_sampling_is_deterministic_and_respects_judgements():
    table = _toy_table()
    qrels = {"q1": {"a": 2, "b": 1}, "q2": {"e": 1}}
    corpus = dict.fromkeys("abcdef")
    pairs = sample_pairs(["q1", "q2"], qrels, table, "bm25", 2, 2, 100, True, 7, corpus)
    assert {(p.qid, p.pos_id) for p in pairs} == {("q1", "a")}  # q2 has no grade-2 positive
    assert {p.neg_id for p in pairs} <= {"b", "c", "d"}
    assert pairs == sample_pairs(["q1", "q2"], qrels, table, "bm25", 2, 2, 100, True, 7, corpus)
    only_judged = sample_pairs(["q1"], qrels, table, "bm25", 2, 3, 100, False, 7, corpus)
    assert [p.neg_id for p in only_judged] == ["b"]  # unjudged c, d are not negatives
    tr, va = split_queries([str(i) for i in range(20)], 0.25, 1)
    assert len(va) == 5 and not set(tr) & set(va) and (tr, va) == split_queries([str(i) for i in range(20)], 5, 1)


def test_ensemble_teacher_is_mean_of_per_query_minmax():
    t = EnsembleTeacher({"x": {"q": {"a": 10.0, "b": 0.0, "c": 5.0}}, "y": {"q": {"a": 1.0, "b": 3.0}}},
                        Normalizer("minmax-query"))
    assert t.score("q", "a") == pytest.approx((1.0 + 0.0) / 2)
    assert t.score("q", "c") == pytest.approx((0.5 + 0.0) / 2)  # y did not retrieve c
    assert t.score("q", "b") == pytest.approx((0.0 + 1.0) / 2)


def test_ensemble_teacher_weights_make_a_weighted_mean_and_bad_weights_are_refused(tmp_path):
    """weights {x: 1, y: 3} -> 0.25 x + 0.75 y (the hybrid's interpolation weight); unknown runs, negative or all-zero
    weights are errors naming teacher.weights (config) or the weights (teacher)."""
    runs = {"x": {"q": {"a": 10.0, "b": 0.0, "c": 5.0}}, "y": {"q": {"a": 1.0, "b": 3.0}}}
    t = EnsembleTeacher(runs, Normalizer("minmax-query"), {"x": 1, "y": 3})
    assert t.score("q", "a") == pytest.approx(0.25 * 1.0 + 0.75 * 0.0)
    assert t.score("q", "b") == pytest.approx(0.25 * 0.0 + 0.75 * 1.0)
    assert EnsembleTeacher(runs, weights={"y": 2}).score("q", "c") == 0.0  # x weighs nothing, y lacks c
    for bad in ({"z": 1}, {"x": -1, "y": 1}, {"x": 0, "y": 0}):
        with pytest.raises(DataError, match="ensemble teacher weights"):
            EnsembleTeacher(runs, weights=bad)
    teacher = {"kind": "ensemble", "runs": {"bm25": "bm25", "tasb": "tasb"}}
    _dl20_cfg(tmp_path, loss="listwise-kl", teacher={**teacher, "weights": {"bm25": 0.1, "tasb": 0.9}})
    for bad in ({"dense": 1}, {"bm25": -0.1}, {"bm25": 0, "tasb": 0}, [0.1, 0.9]):
        with pytest.raises(DataError, match="teacher.weights: expected"):
            _dl20_cfg(tmp_path, loss="listwise-kl", teacher={**teacher, "weights": bad})


# --- real data: teacher file, empty set, short training, resume, loading ------------------------------------
@pytest.fixture(scope="module")
def dl20(data_root):
    from rerankinject.datasets.registry import load_dataset
    from rerankinject.io.runs import read_run

    ds = load_dataset("dl20")
    return ds, ds.topics(), ds.qrels(), read_run(ds.run_path("bm25"))


def _teacher_file(path: Path, dl20, qids) -> Path:
    """A small Hofstätter-format file from our own data: the ensemble of bundled runs as teacher scores."""
    _, _, qrels, bm25 = dl20
    lines = []
    for q in qids:
        pos = sorted(d for d, g in qrels[q].items() if g >= 2 and d in {r.doc_id for r in bm25[q]})[:2]
        neg = [r.doc_id for r in bm25[q] if r.doc_id not in qrels[q]][:2]
        for p, n in zip(pos, neg, strict=False):
            lines.append(f"{10.5}\t{-2.25}\t{q}\t{p}\t{n}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hofstatter_teacher_file_unknown_ids_name_file_and_line(tmp_path, dl20):
    from rerankinject.io.formats import read_collection

    ds, topics, _, _ = dl20
    corpus = read_collection(ds.corpus_path)
    f = _teacher_file(tmp_path / "teacher.tsv", dl20, sorted(topics)[:3])
    pairs = read_hofstatter_teacher(f, topics, corpus)
    assert pairs and pairs[0].t_pos == 10.5 and pairs[0].t_neg == -2.25
    lines = f.read_text().splitlines()
    bad = lines[:1] + ["1.0\t0.5\t999999999\t" + "\t".join(lines[0].split("\t")[3:])] + lines[1:]
    (tmp_path / "bad_q.tsv").write_text("\n".join(bad) + "\n")
    with pytest.raises(FormatError, match=r"bad_q\.tsv:2: unknown query id '999999999'"):
        read_hofstatter_teacher(tmp_path / "bad_q.tsv", topics, corpus)
    parts = lines[0].split("\t")
    (tmp_path / "bad_p.tsv").write_text("\n".join(lines + ["\t".join(parts[:4] + ["nope-pid"])]) + "\n")
    with pytest.raises(FormatError, match=rf"bad_p\.tsv:{len(lines) + 1}: unknown negative passage id 'nope-pid'"):
        read_hofstatter_teacher(tmp_path / "bad_p.tsv", topics, corpus)
    (tmp_path / "bad_c.tsv").write_text("1.0\t2.0\tq\n")
    with pytest.raises(FormatError, match=r"bad_c\.tsv:1: expected 5 tab-separated columns"):
        read_hofstatter_teacher(tmp_path / "bad_c.tsv")


def _dl20_cfg(tmp_path, **kw) -> TrainConfig:
    base = dict(dataset="dl20", sources={"bm25": "bm25"}, variant="BM25CAT", missing_score="min", max_length=64,
                query_max_tokens=16, val_queries=6, val_depth=20, negatives_per_positive=2, neg_depth=30,
                max_positives_per_query=3, lr=3e-4, warmup_steps=2, max_steps=12, batch_size=8, eval_steps=6,
                log_steps=3, eval_batch_size=64, threads=2, seed=3, output_dir=str(tmp_path / "out"))
    base.update(kw)
    return TrainConfig(**base).validate()


def test_hofstatter_teacher_drives_pairs_and_empty_set_is_an_error(tmp_path, dl20):
    from rerankinject.train.pipeline import prepare

    _, topics, _, _ = dl20
    from rerankinject.train.data import split_queries as split

    judged = [q for q in topics if any(g >= 2 for g in dl20[2].get(q, {}).values())]
    train_q, val_q = split(judged, 6, 3)
    cfg = _dl20_cfg(tmp_path, loss="margin-mse", teacher={
        "kind": "hofstatter", "path": str(_teacher_file(tmp_path / "t.tsv", dl20, train_q[:4]))})
    prep = prepare(cfg)
    assert prep.pairs and {p.qid for p in prep.pairs} <= set(train_q[:4])
    assert all("bm25" in p.pos_scores and p.t_pos == 10.5 for p in prep.pairs)
    cfg.teacher = {"kind": "hofstatter", "path": str(_teacher_file(tmp_path / "v.tsv", dl20, val_q))}
    with pytest.raises(DataError, match="training set is empty after filtering: none of its .* pairs is on a training"):
        prepare(cfg)
    with pytest.raises(DataError, match="training set is empty after filtering: no training query has both"):
        prepare(_dl20_cfg(tmp_path, neg_depth=1, unjudged_as_negative=False, rel_threshold=0))


def test_positive_depth_keeps_positives_among_the_candidates(tmp_path, dl20):
    """positive_depth: positives only from the candidate run's top N, so none needs a stand-in score (a positive from
    outside the candidates would carry a score below every negative's)."""
    from rerankinject.train.pipeline import prepare

    every = prepare(_dl20_cfg(tmp_path, max_positives_per_query=None))
    assert every.table.filled["bm25"] > 0  # DL20 judges positives that BM25's top 100 lacks: filled in (min)
    prep = prepare(_dl20_cfg(tmp_path, max_positives_per_query=None, positive_depth=20))
    assert prep.table.filled["bm25"] == 0 and prep.pairs
    assert all(p.pos_id in prep.table.ranked("bm25", p.qid, 20) for p in prep.pairs)
    assert {(p.qid, p.pos_id) for p in prep.pairs} < {(p.qid, p.pos_id) for p in every.pairs}
    with pytest.raises(DataError, match="positive_depth"):
        _dl20_cfg(tmp_path, positive_depth=0)


def test_train_only_qrels_add_training_queries_and_leave_validation_alone(tmp_path, dl20):
    """train_only_qrels (e.g. the teacher's top 1 of unjudged queries): their queries train, never validate; the
    validation split is that of the data set's own judgments; a judged or unknown query is an error naming the file."""
    from rerankinject.io.runs import RunRecord, write_run
    from rerankinject.train.pipeline import prepare

    _, topics, qrels, run = dl20
    unjudged = [q for q in sorted(topics) if q not in qrels][:3]  # the bundled run has judged queries only:
    donors = sorted(run)[:3]  # give the unjudged ones another query's candidates (a run of our own)
    bm25 = {**run, **{q: [RunRecord(q, r.doc_id, r.score) for r in run[d]]
                      for q, d in zip(unjudged, donors, strict=True)}}
    write_run(bm25, tmp_path / "bm25.trec")
    f = tmp_path / "pseudo.txt"
    f.write_text("".join(f"{q} 0 {bm25[q][0].doc_id} 2\n" for q in unjudged))
    src = {"bm25": str(tmp_path / "bm25.trec")}
    plain = prepare(_dl20_cfg(tmp_path, sources=src))
    prep = prepare(_dl20_cfg(tmp_path, sources=src, train_only_qrels=str(f)))
    assert prep.val_qids == plain.val_qids and not set(unjudged) & set(prep.val_qids)
    assert set(prep.train_qids) == set(plain.train_qids) | set(unjudged)
    pseudo = [p for p in prep.pairs if p.qid in unjudged]
    assert {(p.qid, p.pos_id) for p in pseudo} == {(q, bm25[q][0].doc_id) for q in unjudged}
    assert all(p.neg_id != bm25[p.qid][0].doc_id for p in pseudo)
    assert prep.qrels == qrels  # validation and evaluation keep the data set's judgments
    judged = next(q for q in sorted(qrels))
    (tmp_path / "judged.txt").write_text(f"{judged} 0 {bm25[judged][0].doc_id} 2\n")
    with pytest.raises(DataError, match=r"judged\.txt: query .* is judged in dl20 already"):
        prepare(_dl20_cfg(tmp_path, sources=src, train_only_qrels=str(tmp_path / "judged.txt")))
    (tmp_path / "unknown.txt").write_text("no-such-query 0 d 1\n")
    with pytest.raises(DataError, match=r"unknown\.txt: query 'no-such-query' is not a query of dl20"):
        prepare(_dl20_cfg(tmp_path, sources=src, train_only_qrels=str(tmp_path / "unknown.txt")))
    with pytest.raises(DataError, match="train_only_qrels not found"):
        prepare(_dl20_cfg(tmp_path, sources=src, train_only_qrels=str(tmp_path / "missing.txt")))


def test_val_dataset_validates_on_another_set_and_its_queries_leave_training(tmp_path, dl20):
    """val_dataset (e.g. labelled queries with another first stage): its judged queries are the validation set,
    re-ranked from its own candidate run with its own scores; they leave training and nothing else is split off;
    missing or incomplete val_sources, or a val_dataset holding every training query, are errors naming the key."""
    from rerankinject.evaluate.measures import evaluate_run
    from rerankinject.io.runs import write_run
    from rerankinject.scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel
    from rerankinject.train.pipeline import _validation_set, make_recipe, prepare

    ds, topics, qrels, run = dl20
    plain = prepare(_dl20_cfg(tmp_path))
    held = plain.train_qids[:3] + plain.val_qids[:2]  # judged queries of dl20, training and validation ones
    folder = tmp_path / "val"
    folder.mkdir()
    (folder / "queries.tsv").write_text("".join(f"{q}\t{topics[q]}\n" for q in held))
    (folder / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q in held for d, g in qrels[q].items()))
    for name in ("first", "bm25"):  # the candidates, and the injected BM25 (here the same run)
        write_run({q: run[q][:8] for q in held}, folder / f"{name}.trec")
    (folder / "dataset.json").write_text(json.dumps({"topics": "queries.tsv", "qrels": "qrels.txt", "rel_level": 2,
                                                     "corpus": str(ds.corpus_path)}))
    val_sources = {"first": str(folder / "first.trec"), "bm25": str(folder / "bm25.trec")}
    cfg = _dl20_cfg(tmp_path, val_dataset=str(folder), val_sources=val_sources, val_depth=8)
    prep = prepare(cfg)
    assert prep.val_qids == [] and set(prep.train_qids) == (set(plain.train_qids) | set(plain.val_qids)) - set(held)
    ce = CrossEncoderModel(DEFAULT_INIT_MODEL(), recipe=make_recipe(cfg), threads=2)
    val_set, first_stage = _validation_set(cfg, ce)
    assert set(val_set.run) == set(held) and set(val_set.qrels) == set(held)
    want = evaluate_run({q: run[q][:8] for q in held}, {q: qrels[q] for q in held}, 2, names=("nDCG@10",))
    assert first_stage == pytest.approx(want["nDCG@10"])
    assert 0 <= val_set.evaluate(ce) <= 1
    with pytest.raises(DataError, match="val_sources: required with val_dataset"):
        _dl20_cfg(tmp_path, val_dataset=str(folder))
    with pytest.raises(DataError, match="val_sources: variant BM25CAT injects 'bm25'"):
        _dl20_cfg(tmp_path, val_dataset=str(folder), val_sources={"first": str(folder / "first.trec")})
    with pytest.raises(DataError, match="val_sources: only used with val_dataset"):
        _dl20_cfg(tmp_path, val_sources=val_sources)
    (folder / "queries.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in topics.items()))
    with pytest.raises(DataError, match="every training query of dl20 is a query of val_dataset"):
        prepare(cfg)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, scifact_lucene):
    """A short real BM25CAT run on a slice of SciFact train (50 queries, BM25 top 30; a few steps)."""
    from rerankinject.datasets.registry import load_dataset
    from rerankinject.io.runs import write_run
    from rerankinject.search.lucene import BM25Searcher
    from rerankinject.train.pipeline import train_from_config

    tmp = tmp_path_factory.mktemp("train")
    topics = load_dataset("scifact-train").topics()
    some = {q: topics[q] for q in sorted(topics, key=int)[:50]}
    write_run(BM25Searcher(scifact_lucene).search_run(some, k=30, remove_query=True, progress=False),
              tmp / "bm25.trec", tag="bm25")
    cfg = TrainConfig(dataset="scifact-train", sources={"bm25": {"run": str(tmp / "bm25.trec"),
                                                                 "index": str(scifact_lucene)}},
                      variant="BM25CAT", missing_score="index", max_length=96, val_queries=10, val_depth=10,
                      negatives_per_positive=2, lr=2e-4, warmup_steps=0, max_steps=8, batch_size=8, eval_steps=4,
                      log_steps=2, threads=2, seed=42, output_dir=str(tmp / "out")).validate()
    curve = train_from_config(cfg)
    return cfg, curve


def test_short_training_lowers_loss_and_raises_validation_ndcg(trained):
    cfg, curve = trained
    losses = [x["loss"] for x in curve["train_loss"]]
    evals = [e["nDCG@10"] for e in curve["evaluations"]]
    assert [e["step"] for e in curve["evaluations"]] == [0, 4, 8]
    assert losses[-1] < losses[0], losses
    assert max(evals[1:]) > evals[0], evals  # better than the untrained head
    out = Path(cfg.output_dir)
    saved = json.loads((out / "best" / "validation_curve.json").read_text())
    assert saved["best_step"] == curve["best_step"] and saved["best_step"] > 0
    args = json.loads((out / "best" / "training_args.json").read_text())
    assert args["variant"] == "BM25CAT" and args["lr"] == cfg.lr
    assert json.loads((out / "best" / "injection.json").read_text())["sources"] == ["bm25"]
    assert {p.name for p in (out / "checkpoint-8").iterdir()} >= {
        "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "model.safetensors"}
    assert curve["pairs_seen"] == 8 * 8 * 2  # steps x groups x (positive, negative)


def test_validation_only_reranks_the_held_out_queries_with_the_best_model(trained, capsys):
    """The validation re-ranking (for tuning interpolation) is the trainer's own split and scores: at the validation
    depth it reproduces the best validation nDCG@10; the run holds the validation queries only; misuse is refused."""
    from dataclasses import replace

    from rerankinject.io.runs import read_run
    from rerankinject.train.__main__ import main as train_main
    from rerankinject.train.pipeline import prepare, rerank_validation

    cfg, curve = trained
    result = rerank_validation(replace(cfg, test_depth=cfg.val_depth))
    assert result["reranked"]["nDCG@10"] == pytest.approx(curve["best_score"], abs=1e-6)
    assert result["first_stage"]["nDCG@10"] == pytest.approx(curve["first_stage_score"], abs=1e-6)
    run = read_run(Path(cfg.output_dir) / "validation.scifact-train.trec")
    assert set(run) == set(prepare(cfg).val_qids) and result["queries"] == len(run) == 10
    with pytest.raises(SystemExit):
        train_main(["--dataset", "scifact-train", "--validation-only", "--test"])
    assert "--validation-only cannot be combined" in capsys.readouterr().err


def test_validation_only_with_another_model_folder(trained, tmp_path, capsys):
    """``--model DIR`` re-ranks the validation queries with a model that is not output_dir/best (the run goes to
    --output-dir): the same scores as the trainer's own best; misuse is refused with a parser error."""
    import yaml

    from rerankinject.io.runs import read_run
    from rerankinject.train.__main__ import main as train_main
    from rerankinject.train.pipeline import rerank_validation

    cfg, _ = trained
    rerank_validation(cfg)
    own = read_run(Path(cfg.output_dir) / "validation.scifact-train.trec")
    keys = ("dataset", "sources", "variant", "missing_score", "max_length", "val_queries", "val_depth", "seed",
            "threads", "test_depth")
    conf = tmp_path / "other.yaml"
    conf.write_text(yaml.safe_dump({k: getattr(cfg, k) for k in keys}))
    best, elsewhere = str(Path(cfg.output_dir) / "best"), str(tmp_path / "elsewhere")
    assert train_main(["--config", str(conf), "--validation-only", "--model", best, "--output-dir", elsewhere]) == 0
    other = read_run(Path(elsewhere) / "validation.scifact-train.trec")
    assert {q: [(r.doc_id, round(r.score, 5)) for r in recs] for q, recs in other.items()} == \
        {q: [(r.doc_id, round(r.score, 5)) for r in recs] for q, recs in own.items()}
    assert not (Path(elsewhere) / "best").exists()
    capsys.readouterr()
    refused = {
        "--model picks the model": ["--model", best, "--output-dir", elsewhere],  # training: no --model
        "not a trained model folder": ["--validation-only", "--model", str(tmp_path), "--output-dir", elsewhere],
        "--model needs --output-dir": ["--validation-only", "--model", best],
        "another validation split: seed 42 there, 43": ["--validation-only", "--model", best, "--output-dir",
                                                          elsewhere, "--seed", "43"],
    }
    for msg, argv in refused.items():
        with pytest.raises(SystemExit):
            train_main(["--config", str(conf), *argv])
        assert msg in capsys.readouterr().err, msg


def test_trained_folder_loads_in_three_libraries(trained):
    from sentence_transformers import CrossEncoder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rerankinject.scoring.model import CrossEncoderModel

    cfg, _ = trained
    best = Path(cfg.output_dir) / "best"
    ce = CrossEncoderModel(best)
    assert ce.recipe.variant == "BM25CAT"
    query, passage = "what is a lobotomy", "A lobotomy is a neurosurgical procedure that severs connections."
    rendered = ce.recipe.render_query({"bm25": {"d": 11.0}}, ["d"])  # -> "22"
    ours = ce.predict(ce.builder.encode(query, [passage], rendered))[0]
    seg_a, seg_b = ce.recipe.text_pair(query, passage, rendered[0], sep=ce.tokenizer.sep_token)
    assert seg_b.startswith("22 [SEP] ")
    tok = AutoTokenizer.from_pretrained(str(best))
    hf = AutoModelForSequenceClassification.from_pretrained(str(best)).eval()
    with torch.inference_mode():
        plain = hf(**tok(seg_a, seg_b, return_tensors="pt")).logits[0, 0].item()
    st = CrossEncoder(str(best), activation_fn=torch.nn.Identity())
    st_score = float(st.predict([(seg_a, seg_b)])[0])
    assert plain == pytest.approx(ours, abs=1e-4) and st_score == pytest.approx(ours, abs=1e-4)


def test_resume_after_interruption_reproduces_the_uninterrupted_run(tmp_path, dl20):
    """A run killed after its step-2 checkpoint and started again ends with the uninterrupted run's weights."""
    from rerankinject.scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel
    from rerankinject.train.pipeline import build_dataset, make_recipe, prepare
    from rerankinject.train.trainer import ValidationCallback, train_model
    from rerankinject.train.validation import RerankSet

    cfg = _dl20_cfg(tmp_path, max_length=32, max_steps=4, eval_steps=2, batch_size=2, val_queries=2, val_depth=3,
                    eval_at_start=False)
    prep = prepare(cfg)

    def fit(out):
        torch.manual_seed(cfg.seed)
        c = TrainConfig(**{**cfg.__dict__, "output_dir": str(out)})
        ce = CrossEncoderModel(DEFAULT_INIT_MODEL(), recipe=make_recipe(c), device="cpu")
        vs = RerankSet(ce, prep.val_qids, prep.queries, prep.table, "bm25", c.val_depth, prep.corpus, prep.qrels, 2)
        ds = build_dataset(c, ce, prep.pairs, prep.queries, prep.corpus, prep.table, "bm25")
        return ce, train_model(c, ce, ds, vs)

    full_ce, full = fit(tmp_path / "full")
    original = ValidationCallback.on_evaluate

    def crash_after_step_2(self, args, state, control, **kw):
        original(self, args, state, control, **kw)
        if state.global_step >= 2:
            raise KeyboardInterrupt  # after the evaluation, before the checkpoint of step 2 is written

    ValidationCallback.on_evaluate = crash_after_step_2
    try:
        with pytest.raises(KeyboardInterrupt):
            fit(tmp_path / "broken")
    finally:
        ValidationCallback.on_evaluate = original
    assert not (tmp_path / "broken" / "checkpoint-2").exists()
    with pytest.raises(KeyboardInterrupt):  # interrupted again, this time after the step-2 checkpoint
        ValidationCallback.on_save = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
        try:
            fit(tmp_path / "broken")
        finally:
            del ValidationCallback.on_save
    assert (tmp_path / "broken" / "checkpoint-2").is_dir()
    resumed_ce, resumed = fit(tmp_path / "broken")
    for (n, a), (_, b) in zip(full_ce.model.named_parameters(), resumed_ce.model.named_parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), n
    assert [e["step"] for e in resumed["evaluations"]] == [e["step"] for e in full["evaluations"]] == [2, 4]
    assert [e["nDCG@10"] for e in resumed["evaluations"]] == pytest.approx([e["nDCG@10"] for e in full["evaluations"]])


def test_ensemble_teacher_and_bm25added_labels_on_dl20(tmp_path, dl20):
    from rerankinject.train.pipeline import prepare

    cfg = _dl20_cfg(tmp_path, variant="CAT", loss="bm25added", teacher={
        "kind": "ensemble", "runs": {"spladepp": "spladepp", "tasb": "tasb", "ada2": "ada2"}},
        bm25added={"source": "bm25"})
    prep = prepare(cfg)
    assert prep.pairs and all(0.0 <= p.t_pos <= 1.0 and 0.0 <= p.t_neg <= 1.0 for p in prep.pairs)
    assert sum(p.t_pos > p.t_neg for p in prep.pairs) > 0.8 * len(prep.pairs)  # the teacher prefers positives
    label = bm25added_labels(torch.tensor([prep.pairs[0].t_pos]), torch.tensor([prep.pairs[0].pos_scores["bm25"]]))
    assert label.item() == pytest.approx((3 * prep.pairs[0].t_pos + 10 * prep.pairs[0].pos_scores["bm25"] / 50) / 4)
    with pytest.raises(DataError, match="bm25added trains a CAT input"):
        _dl20_cfg(tmp_path, variant="BM25CAT", loss="bm25added", teacher={"kind": "ensemble", "runs": {"a": "tasb"}})


def test_cross_encoder_teacher_scores_pairs(trained):
    from rerankinject.datasets.registry import load_dataset
    from rerankinject.io.formats import read_collection
    from rerankinject.train.data import ScoreTable
    from rerankinject.train.teachers import cross_encoder_teacher

    cfg, _ = trained
    ds = load_dataset("scifact-train")
    corpus = read_collection(ds.corpus_path)
    table = ScoreTable.from_config(cfg.sources, ds, "index", ds.topics())
    qid = next(iter(table.runs["bm25"]))
    docs = table.ranked("bm25", qid, 3)
    pairs = [Pair(qid, docs[0], docs[1]), Pair(qid, docs[0], docs[2])]
    score = cross_encoder_teacher(Path(cfg.output_dir) / "best", pairs, ds.topics(), corpus, table, device="cpu")
    assert all(math.isfinite(score(qid, d)) for d in docs)


def test_upgrade_a_trained_cross_encoder_keeps_its_head(trained, tmp_path):
    """Starting from a cross-encoder this project trained (injection removed: a plain CAT checkpoint), BM25CAT
    training keeps its classifier head (not re-initialised) and head_lr does not apply to it unless asked."""
    import shutil
    from dataclasses import replace

    from safetensors.torch import load_file

    from rerankinject.train.pipeline import train_from_config

    cfg, _ = trained
    start = tmp_path / "cat-start"
    shutil.copytree(Path(cfg.output_dir) / "best", start)
    (start / "injection.json").unlink()  # a plain HF cross-encoder, as ms-marco-MiniLM-L-12-v2 would be
    before = load_file(str(start / "model.safetensors"))
    up = replace(cfg, init_model=str(start), output_dir=str(tmp_path / "up"), lr=1e-12, head_lr=1.0, max_steps=2,
                 eval_steps=2, eval_at_start=False)
    train_from_config(up)
    after = load_file(str(tmp_path / "up" / "best" / "model.safetensors"))
    for name in ("classifier.weight", "classifier.bias"):
        torch.testing.assert_close(after[name].float(), before[name].float(), atol=1e-5, rtol=0)
    assert json.loads((tmp_path / "up" / "best" / "injection.json").read_text())["variant"] == "BM25CAT"
    train_from_config(replace(up, output_dir=str(tmp_path / "up2"), head_lr_on_trained_head=True))
    moved = load_file(str(tmp_path / "up2" / "best" / "model.safetensors"))
    assert not torch.allclose(moved["classifier.weight"].float(), before["classifier.weight"].float(), atol=1e-3)
