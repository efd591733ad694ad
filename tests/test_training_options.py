"""Training options added for MS MARCO-style training: the pairwise loss, a head learning rate, frozen word
embeddings, local data sets (dataset.json) and exact BM25 re-scoring of a run with another index."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rerankinject.datasets.registry import is_dataset, load_dataset, resolve_qrels, resolve_topics
from rerankinject.errors import DataError
from rerankinject.train.config import TrainConfig
from rerankinject.train.data import Pair, ScoreTable
from rerankinject.train.losses import pair_loss, pairwise_loss
from rerankinject.train.msmarco import strip_no_title
from tests._ce_util import make_tiny_bert


def _fit(cfg, ce, pairs, queries, corpus, table, val_set=None):
    """Train through the library path (groups, collator, Hugging Face Trainer); returns the curve."""
    from rerankinject.train.pipeline import build_dataset
    from rerankinject.train.trainer import train_model

    return train_model(cfg, ce, build_dataset(cfg, ce, pairs, queries, corpus, table, "bm25"), val_set)


def test_pairwise_loss_is_softplus_of_the_margin():
    s_pos, s_neg = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 3.0])
    expect = (math.log(1 + math.exp(1.0 - 2.0)) + math.log(1 + math.exp(3.0))) / 2
    assert pairwise_loss(s_pos, s_neg).item() == pytest.approx(expect, rel=1e-6)
    assert pair_loss("pairwise", s_pos, s_neg).item() == pytest.approx(expect, rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        pairwise_loss(s_pos, s_neg[:1])


def test_config_accepts_pairwise_without_teacher_and_checks_head_lr():
    TrainConfig(dataset="dl20", sources={"bm25": "bm25"}, loss="pairwise").validate()
    with pytest.raises(DataError, match="head_lr: must be > 0"):
        TrainConfig(dataset="dl20", sources={"bm25": "bm25"}, head_lr=0.0).validate()


def test_head_lr_and_frozen_embeddings(tmp_path):
    from rerankinject.io.formats import Document
    from rerankinject.scoring.model import CrossEncoderModel
    from rerankinject.train.trainer import param_groups

    ce = CrossEncoderModel(make_tiny_bert(tmp_path / "tiny"), device="cpu")
    before = {n: p.detach().clone() for n, p in ce.model.named_parameters()}
    corpus = {f"d{i}": Document(f"d{i}", "", f"passage number {i} about topic {i % 3}") for i in range(6)}
    queries = {"q1": "topic one", "q2": "topic two"}
    pairs = [Pair("q1", "d1", "d0"), Pair("q1", "d4", "d2"), Pair("q2", "d2", "d3"), Pair("q2", "d5", "d0")]
    table = ScoreTable({"bm25": {"q1": {f"d{i}": float(i) for i in range(6)},
                                 "q2": {f"d{i}": float(i) for i in range(6)}}})
    cfg = TrainConfig(dataset="x", sources={"bm25": "x"}, loss="bce", lr=1e-3, head_lr=1e-2,
                      freeze_embeddings=True, warmup_steps=0, max_steps=3, batch_size=2, eval_steps=100,
                      log_steps=1, output_dir=str(tmp_path / "out")).validate()
    groups = param_groups(ce.model, cfg, new_head=True)
    lrs = sorted({g["lr"] for g in groups})
    assert lrs == [1e-3, 1e-2]
    head = {id(p) for n, p in ce.model.named_parameters() if "classifier" in n or "pooler" in n}
    for g in groups:
        assert all((id(p) in head) == (g["lr"] == 1e-2) for p in g["params"])
    # a trained cross-encoder's head is kept and learns at lr, unless asked
    assert {g["lr"] for g in param_groups(ce.model, cfg, new_head=False)} == {1e-3}
    assert sorted({g["lr"] for g in param_groups(ce.model, TrainConfig(**{**cfg.__dict__, "head_lr_on_trained_head":
                                                                          True}), new_head=False)}) == [1e-3, 1e-2]
    for p in ce.model.parameters():
        p.requires_grad_(True)
    _fit(cfg, ce, pairs, queries, corpus, table)
    after = dict(ce.model.named_parameters())
    for n, p in after.items():
        changed = not torch.equal(p.detach(), before[n])
        assert changed == ("word_embeddings" not in n), n
    assert (tmp_path / "out" / "best" / "config.json").is_file()


def test_local_dataset_folder(tmp_path):
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "queries.tsv").write_text("1\tfirst query\n2\tsecond query\n")
    (folder / "qrels.txt").write_text("1 0 a 1\n2 0 b 1\n")
    (folder / "collection.tsv").write_text("a\ttext a\nb\ttext b\n")
    (folder / "dataset.json").write_text(json.dumps({"topics": "queries.tsv", "qrels": "qrels.txt",
                                                     "corpus": "collection.tsv", "rel_level": 1}))
    ds = load_dataset(str(folder))
    assert ds.name == "local" and ds.topics() == {"1": "first query", "2": "second query"}
    assert ds.qrels() == {"1": {"a": 1}, "2": {"b": 1}} and ds.corpus_path.name == "collection.tsv"
    assert is_dataset(str(folder)) and not is_dataset(str(tmp_path))
    assert resolve_topics(str(folder)) == ds.topics() and resolve_qrels(str(folder)) == ds.qrels()
    with pytest.raises(DataError, match="has no run 'bm25'"):
        ds.run_path("bm25")
    (folder / "dataset.json").write_text(json.dumps({"topics": "queries.tsv", "qrelz": "x"}))
    with pytest.raises(DataError, match=r"dataset\.json: unknown key\(s\) \['qrelz'\]"):
        load_dataset(str(folder))
    (folder / "dataset.json").write_text("{\n  bad")
    with pytest.raises(DataError, match=r"dataset\.json:2: invalid JSON"):
        load_dataset(str(folder))


def test_strip_no_title():
    assert strip_no_title("- Adjective preventive") == "Adjective preventive"
    assert strip_no_title("William Bradford, Governor - text") == "William Bradford, Governor - text"


def test_rescore_run_gives_this_index_scores(scifact_lucene):
    from rerankinject.io.runs import RunRecord
    from rerankinject.search.lucene import BM25Searcher

    s = BM25Searcher(scifact_lucene)
    q = "0-dimensional biomaterials show inductive properties"
    hits = s.search(q, k=20)
    shuffled = [RunRecord("7", h.docid, 100.0 - i) for i, h in enumerate(reversed(hits))]
    out = s.rescore_run({"7": shuffled}, {"7": q}, progress=False)
    assert [(r.doc_id, r.score) for r in out["7"]] == [(h.docid, h.score) for h in hits]
    with pytest.raises(DataError, match="query '8' of the run is not in the topics"):
        s.rescore_run({"8": shuffled}, {"7": q}, progress=False)


def test_stop_at_step_pauses_and_resumes_on_the_same_schedule(tmp_path):
    """stop_at_step pauses after that step (checkpointed); resuming without it ends where one uninterrupted run ends.

    A config that differs in what it trains (not in run control such as stop_at_step) may not resume that checkpoint.
    """
    from rerankinject.io.formats import Document
    from rerankinject.scoring.model import CrossEncoderModel
    from rerankinject.train.trainer import last_checkpoint

    model_dir = make_tiny_bert(tmp_path / "tiny")
    corpus = {f"d{i}": Document(f"d{i}", "", f"passage number {i} about topic {i % 3}") for i in range(6)}
    queries = {"q1": "topic one", "q2": "topic two"}
    pairs = [Pair("q1", "d1", "d0"), Pair("q1", "d4", "d2"), Pair("q2", "d2", "d3"), Pair("q2", "d5", "d0")]
    table = ScoreTable({"bm25": {q: {f"d{i}": float(i) for i in range(6)} for q in queries}})

    def run(out: str, **kw) -> dict:
        cfg = TrainConfig(dataset="x", sources={"bm25": "x"}, loss="pairwise", lr=1e-3, warmup_steps=1, max_steps=4,
                          batch_size=2, eval_steps=2, log_steps=1, output_dir=str(tmp_path / out), seed=3,
                          **kw).validate()
        torch.manual_seed(0)
        ce = CrossEncoderModel(model_dir, device="cpu")
        curve = _fit(cfg, ce, pairs, queries, corpus, table)
        return curve, {n: p.detach().clone() for n, p in ce.model.named_parameters()}

    paused, _ = run("split", stop_at_step=2)
    assert paused["total_steps"] == 4 and last_checkpoint(tmp_path / "split").endswith("checkpoint-2")
    with pytest.raises(DataError, match=r"split/training_args.json: .* another training config "
                                        r"\(weight_decay: 0.01 there, 0.0 here\)"):
        run("split", weight_decay=0.0)  # another config's checkpoint is never trained further as this one's
    _, w_split = run("split")  # resumes from checkpoint-2
    _, w_whole = run("whole")
    assert last_checkpoint(tmp_path / "split").endswith("checkpoint-4")
    for n, w in w_whole.items():
        torch.testing.assert_close(w_split[n], w, rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="stop_at_step: out of range"):
        TrainConfig(dataset="x", sources={"bm25": "x"}, stop_at_step=0).validate()


@pytest.mark.parametrize(("scores", "best_step", "stopped"),
                         [((0.9, 0.5, 0.6, 0.7), 6, False), ((0.9, 0.5, 0.4), 2, True)])
def test_untrained_step0_validation_is_a_reference_not_the_best(tmp_path, scores, best_step, stopped):
    """A fold model once early-stopped on its step-0 score and 'kept' the random head: step 0 never wins now."""
    from rerankinject.io.formats import Document
    from rerankinject.scoring.model import CrossEncoderModel

    class Scripted:  # validation scores in call order (the re-ranking itself is tested in test_training.py)
        n_queries = 1

        def __init__(self):
            self.left = list(scores)

        def evaluate(self, ce, batch_size):
            return self.left.pop(0)

    corpus = {f"d{i}": Document(f"d{i}", "", f"passage {i}") for i in range(4)}
    pairs = [Pair("q1", "d1", "d0"), Pair("q1", "d2", "d3")]
    table = ScoreTable({"bm25": {"q1": {f"d{i}": float(i) for i in range(4)}}})
    cfg = TrainConfig(dataset="x", sources={"bm25": "x"}, loss="pairwise", lr=1e-3, warmup_steps=0, max_steps=6,
                      batch_size=2, eval_steps=2, patience=1, output_dir=str(tmp_path / "out")).validate()
    curve = _fit(cfg, CrossEncoderModel(make_tiny_bert(tmp_path / "tiny"), device="cpu"), pairs, {"q1": "topic"},
                 corpus, table, val_set=Scripted())  # validates at step 0 (eval_at_start), then every 2 steps
    assert curve["best_step"] == best_step and curve["stopped_early"] is stopped
    assert [e["step"] for e in curve["evaluations"]][:3] == [0, 2, 4]
    assert (tmp_path / "out" / "best" / "config.json").is_file()


def test_listwise_losses_and_group_loss_validation():
    from rerankinject.train.losses import GroupLoss, listwise_ce_loss, listwise_kl_loss

    s = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    expect = -(torch.log_softmax(s, 1)[:, 0]).mean()
    assert listwise_ce_loss(s).item() == pytest.approx(expect.item(), rel=1e-6)
    t = torch.tensor([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    p = torch.softmax(t, 1)
    kl = (p * (torch.log(p) - torch.log_softmax(s, 1))).sum(1).mean()
    assert listwise_kl_loss(s, t).item() == pytest.approx(kl.item(), rel=1e-5)
    assert listwise_kl_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)
    assert GroupLoss("listwise", 3, has_teacher=False)(s).item() == pytest.approx(expect.item(), rel=1e-6)
    # pairwise losses over groups of 3 average the positive against each negative
    pw = GroupLoss("pairwise", 3, has_teacher=False)(s)
    assert pw.item() == pytest.approx(pairwise_loss(torch.tensor([3.0, 3.0, 0.0, 0.0]),
                                                    torch.tensor([1.0, 0.0, 2.0, 1.0])).item(), rel=1e-6)
    with pytest.raises(ValueError, match="distils a teacher"):
        GroupLoss("margin-mse", 2, has_teacher=False)
    with pytest.raises(ValueError, match="group size 1"):
        GroupLoss("listwise", 1, has_teacher=False)
    with pytest.raises(ValueError, match="unknown loss"):
        GroupLoss("lambdarank", 2, has_teacher=False)
    with pytest.raises(ValueError, match="temperature"):
        GroupLoss("listwise-kl", 3, has_teacher=True, temperature=0)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\)"):
        GroupLoss("listwise", 3, has_teacher=False)(s[:, :2])
    with pytest.raises(DataError, match="loss: margin-mse distils a teacher"):
        TrainConfig(dataset="x", sources={"bm25": "x"}, loss="margin-mse").validate()


def test_listwise_kl_with_a_label_term():
    """label_weight w: KL to the teacher + w x the listwise cross-entropy of the labelled positive (column 0)."""
    from rerankinject.train.losses import GroupLoss, listwise_ce_loss, listwise_kl_loss

    s = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    t = torch.tensor([[0.2, 1.0, 0.0], [1.0, 0.9, 0.0]])  # a teacher that does not always put the positive first
    kl = listwise_kl_loss(s, t, 0.1).item()
    ce = listwise_ce_loss(s).item()
    assert GroupLoss("listwise-kl", 3, has_teacher=True, temperature=0.1)(s, teacher=t).item() == \
        pytest.approx(kl, rel=1e-6)
    mixed = GroupLoss("listwise-kl", 3, has_teacher=True, temperature=0.1, label_weight=0.5)(s, teacher=t).item()
    assert mixed == pytest.approx(kl + 0.5 * ce, rel=1e-6)
    assert mixed > kl  # the label term is really added
    with pytest.raises(ValueError, match="label_weight must be >= 0"):
        GroupLoss("listwise-kl", 3, has_teacher=True, label_weight=-1)
    with pytest.raises(ValueError, match="listwise-kl only"):
        GroupLoss("listwise", 3, has_teacher=False, label_weight=1)
    with pytest.raises(DataError, match="label_weight: adds a label term to listwise-kl only"):
        TrainConfig(dataset="x", sources={"bm25": "x"}, loss="listwise", label_weight=1.0).validate()
    with pytest.raises(DataError, match="label_weight: must be >= 0"):
        TrainConfig(dataset="x", sources={"bm25": "x"}, loss="listwise-kl", label_weight=-0.5,
                    teacher={"kind": "ensemble", "runs": {"a": "x"}}).validate()
