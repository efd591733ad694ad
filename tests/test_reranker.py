"""ScoreInjectReranker: scores equal a plain transformers forward pass and sentence-transformers' CrossEncoder,
depth, missing-score scorers and policies, recipe/source checks, and the Pyserini pipeline."""

from __future__ import annotations

import pytest

from rerankinject.errors import DataError
from rerankinject.injection.recipe import recipe_for_variant
from rerankinject.io.runs import RunRecord, sort_hits
from rerankinject.rerank.reranker import Candidate, ScoreInjectReranker, Scorer, apply_depth
from tests._ce_util import make_tiny_bert, with_recipe

QUERY = "do fleas carry disease"
TEXTS = {
    "a": "Fleas can transmit plague and murine typhus to humans.",
    "b": "The stock market closed higher on Friday.",
    "c": "Cats often get fleas in the summer months.",
    "d": "A recipe for banana bread with walnuts.",
    "e": "Flea bites cause itching and sometimes allergic reactions.",
}
BM25 = {"a": 12.5, "b": 3.0, "c": 9.25, "d": 1.5, "e": 8.0}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def folder(tiny_base, tmp_path):
    def make(recipe=None, name="m"):
        return with_recipe(tiny_base, tmp_path / name, recipe)
    return make


def _cands(ids=TEXTS, scores=BM25):
    return [Candidate(d, TEXTS[d], {"bm25": scores[d]} if d in scores else {}) for d in ids]


def test_scores_equal_plain_transformers_forward(folder):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    recipe = recipe_for_variant("BM25CAT")
    path = folder(recipe)
    rr = ScoreInjectReranker(path, device="cpu", batch_size=2)
    recs = rr.rerank(QUERY, _cands(), query_id="q1")
    got = {r.doc_id: r.score for r in recs}
    assert [r.query_id for r in recs] == ["q1"] * 5
    assert [r.score for r in recs] == sorted(got.values(), reverse=True)

    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForSequenceClassification.from_pretrained(str(path)).eval()
    rendered = recipe.render_query({"bm25": BM25}, list(TEXTS))
    for d, r in zip(TEXTS, rendered, strict=True):
        a, b = recipe.text_pair(QUERY, TEXTS[d], r)
        with torch.no_grad():
            ref = model(**tok(a, b, return_tensors="pt")).logits[0, 0].item()
        assert abs(got[d] - ref) <= 1e-5, (d, got[d], ref)
    assert len(set(round(v, 6) for v in got.values())) == 5  # the tiny model does tell the inputs apart


def test_cat_equals_sentence_transformers_cross_encoder(folder):
    import torch
    from sentence_transformers import CrossEncoder

    path = folder(None)  # plain HF sequence-classification folder -> CAT
    rr = ScoreInjectReranker(path, device="cpu")
    assert rr.recipe.variant == "CAT" and rr.sources == ()
    got = {r.doc_id: r.score for r in rr.rerank(QUERY, [(d, t) for d, t in TEXTS.items()])}
    ce = CrossEncoder(str(path), device="cpu", activation_fn=torch.nn.Identity())
    ref = ce.predict([(QUERY, TEXTS[d]) for d in TEXTS], batch_size=3, show_progress_bar=False)
    for d, v in zip(TEXTS, ref, strict=True):
        assert abs(got[d] - float(v)) <= 1e-5


def test_depth_keeps_tail_in_original_order(folder):
    rr = ScoreInjectReranker(folder(recipe_for_variant("BM25CAT")), device="cpu")
    order = ["a", "c", "e", "b", "d"]
    full = {r.doc_id: r.score for r in rr.rerank(QUERY, _cands(order))}
    recs = rr.rerank(QUERY, _cands(order), depth=3)
    head = recs[:3]
    assert {r.doc_id for r in head} == {"a", "c", "e"}
    assert [r.doc_id for r in recs[3:]] == ["b", "d"]
    assert all(t.score < min(h.score for h in head) for t in recs[3:])
    # the head's scores are the same logits as without depth (per-query normalisers aside: minmax is global)
    for r in head:
        assert abs(r.score - full[r.doc_id]) <= 1e-6
    assert apply_depth("q", [], [RunRecord("q", "x", 5.0)]) == [RunRecord("q", "x", -1.0)]


def test_missing_score_error_min_and_scorer(folder):
    rr = ScoreInjectReranker(folder(recipe_for_variant("BM25CAT")), device="cpu")
    partial = {k: v for k, v in BM25.items() if k != "e"}
    with pytest.raises(DataError, match=r"no 'bm25' score .*doc 'e'.*--missing min"):
        rr.rerank(QUERY, _cands(scores=partial))

    class FakeScorer:
        def __init__(self):
            self.calls = []

        def score(self, query, doc_id):
            self.calls.append((query, doc_id))
            return 40.0

    fake = FakeScorer()
    assert isinstance(fake, Scorer)
    rr_s = ScoreInjectReranker(rr.model.model_dir, device="cpu", scorers={"bm25": fake})
    seen = []
    orig = rr_s.model.predict
    rr_s.model.predict = lambda inputs, batch_size=32, progress=False, **_: (
        seen.extend(inputs) or orig(inputs, batch_size))
    rr_s.rerank(QUERY, _cands(scores=partial))
    assert fake.calls == [(QUERY, "e")]
    tok = rr_s.model.tokenizer
    assert " [SEP] 80 [SEP] " in tok.decode(seen[-1][0])  # 40 / 50 -> 80

    rr_min = ScoreInjectReranker(rr.model.model_dir, device="cpu", missing="min")
    seen.clear()
    rr_min.model.predict = lambda inputs, batch_size=32, progress=False, **_: (
        seen.extend(inputs) or [0.0] * len(inputs))
    rr_min.rerank(QUERY, _cands(scores=partial))
    assert " [SEP] 3 [SEP] " in tok.decode(seen[-1][0])  # the minimum 1.5 / 50 -> 3
    with pytest.raises(DataError, match="no candidate has a 'bm25' score"):
        rr_min.rerank(QUERY, _cands(scores={}))
    rr_zero = ScoreInjectReranker(rr.model.model_dir, device="cpu", missing="zero")
    seen.clear()
    rr_zero.model.predict = lambda inputs, batch_size=32, progress=False, **_: (
        seen.extend(inputs) or [0.0] * len(inputs))
    rr_zero.rerank(QUERY, _cands(scores=partial))
    assert " [SEP] 0 [SEP] " in tok.decode(seen[-1][0])  # zero -> 0
    with pytest.raises(ValueError, match="missing must be one of"):
        ScoreInjectReranker(rr.model.model_dir, missing="drop")  # a training policy: not for re-ranking


def test_rerank_run_requires_recipe_sources(folder):
    rr = ScoreInjectReranker(folder(recipe_for_variant("BM25DPRCAT")), device="cpu")
    run = {"q1": sort_hits(RunRecord("q1", d, s) for d, s in BM25.items())}
    topics = {"q1": QUERY}
    with pytest.raises(DataError, match=r"injects score source 'dpr'.*--source dpr=RUN"):
        rr.rerank_run(run, topics, TEXTS, {"bm25": run})
    dpr = {"q1": {d: 0.5 for d in TEXTS}}
    out = rr.rerank_run(run, topics, TEXTS, {"bm25": run, "dpr": dpr}, depth=4)
    assert len(out["q1"]) == 5 and out["q1"][-1].doc_id == "d"  # lowest BM25 stays below the depth
    with pytest.raises(DataError, match="run query id 'q2' is not in the topics"):
        rr.rerank_run({"q2": run["q1"]}, topics, TEXTS, {"bm25": run, "dpr": dpr})
    with pytest.raises(DataError, match="run doc id 'zz' .* not in the corpus"):
        rr.rerank_run({"q1": [RunRecord("q1", "zz", 1.0)]}, topics, TEXTS, {"bm25": run, "dpr": dpr})


def test_rerank_run_min_policy_uses_source_run_minimum(folder):
    rr = ScoreInjectReranker(folder(recipe_for_variant("BM25CAT")), device="cpu", missing="min")
    run = {"q1": [RunRecord("q1", d, 1.0) for d in ["a", "b"]]}
    # the source run scores 'a' and a doc outside the candidates with the query's minimum 5.0
    src = {"q1": {"a": 30.0, "x": 5.0}}
    seen = []
    rr.model.predict = lambda inputs, batch_size=32, progress=False, **_: (
        seen.extend(inputs) or [0.0] * len(inputs))
    rr.rerank_run(run, {"q1": QUERY}, TEXTS, {"bm25": src})
    decoded = [rr.model.tokenizer.decode(ids) for ids, _ in seen]
    assert " [SEP] 60 [SEP] " in decoded[0] and " [SEP] 10 [SEP] " in decoded[1]


def test_pyserini_pipeline_lucene_searcher_to_reranker(folder, scifact_lucene, data_root):
    from rerankinject.io.formats import document_text, read_collection
    from rerankinject.jvm import start_jvm
    from rerankinject.search.lucene import BM25Searcher

    start_jvm()
    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher(str(scifact_lucene))
    searcher.set_bm25(0.9, 0.4)
    query = "0-dimensional biomaterials show inductive properties"
    hits = searcher.search(query, k=10)
    assert len(hits) == 10
    rr = ScoreInjectReranker(folder(recipe_for_variant("BM25CAT")), device="cpu")
    seen = []
    orig = rr.model.predict
    rr.model.predict = lambda inputs, batch_size=32, progress=False, **_: (
        seen.extend(inputs) or orig(inputs, batch_size))
    recs = rr.rerank_hits(query, hits, searcher, query_id="1", depth=8)
    assert [r.doc_id for r in recs[8:]] == [h.docid for h in hits[8:]]
    assert {r.doc_id for r in recs} == {h.docid for h in hits}
    corpus = read_collection(data_root / "scifact/beir/corpus.jsonl")
    want = recipe_for_variant("BM25CAT").render_query({"bm25": {h.docid: h.score for h in hits}},
                                                      [h.docid for h in hits[:8]])
    built = rr.model.builder.encode(query, [document_text(corpus[h.docid]) for h in hits[:8]], want)
    assert seen == built  # text from the index, hit scores injected as bm25

    # our BM25Searcher drops in too, and scores a candidate without a score exactly
    bm25 = BM25Searcher(scifact_lucene)
    recs2 = rr.rerank_hits(query, bm25.search(query, 10), bm25, query_id="1", depth=8)
    assert [r.doc_id for r in recs2] == [r.doc_id for r in recs]
    assert [r.score for r in recs2] == pytest.approx([r.score for r in recs], abs=1e-5)
    extra = hits[12].docid if len(hits) > 12 else bm25.search(query, 20)[15].docid
    cands = [Candidate(h.docid, document_text(corpus[h.docid]), {"bm25": h.score}) for h in hits[:3]]
    cands.append(Candidate(extra, document_text(corpus[extra]), {}))
    rr_s = ScoreInjectReranker(rr.model.model_dir, device="cpu", scorers={"bm25": bm25})
    seen2 = []
    rr_s.model.predict = lambda inputs, batch_size=32, progress=False, **_: (
        seen2.extend(inputs) or [0.0] * len(inputs))
    rr_s.rerank(query, cands)
    exact = {h.docid: h.score for h in bm25.search(query, 20)}[extra]
    assert abs(bm25.score(query, extra) - exact) < 1e-4
    from rerankinject.injection.recipe import render_score

    assert rr_s.model.tokenizer.decode(seen2[-1][0]).count(f" {render_score(exact / 50)} [SEP]") >= 1
