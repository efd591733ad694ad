"""Text API of ScoreInjectReranker (predict/rank with first-stage scores), the recipe for other tools (config.json
field, model card, text pairs) and sentence-transformers' CrossEncoder scoring our checkpoint with our scores."""

from __future__ import annotations

import json

import pytest

from rerankinject.errors import DataError
from rerankinject.injection import text_pairs
from rerankinject.injection.interop import CONFIG_KEY
from rerankinject.injection.normalize import Normalizer
from rerankinject.injection.recipe import InjectionRecipe, recipe_for_variant
from rerankinject.io.runs import RunRecord
from rerankinject.rerank.reranker import RankedPassage, ScoreInjectReranker
from rerankinject.scoring.model import CrossEncoderModel
from tests._ce_util import make_tiny_bert, with_recipe

QUERY = "do fleas carry disease"
IDS = ["a", "b", "c", "d", "e"]
TEXTS = ["Fleas can transmit plague and murine typhus to humans.", "The stock market closed higher on Friday.",
         "Cats often get fleas in the summer months.", "A recipe for banana bread with walnuts.",
         "Flea bites cause itching and sometimes allergic reactions."]
BM25 = [12.5, 3.0, 9.25, 1.5, 8.0]
SHIPPED = "models/minilm-l6-msmarco-bm25cat"


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def bm25cat(tiny_base, tmp_path):
    return ScoreInjectReranker(with_recipe(tiny_base, tmp_path / "m", recipe_for_variant("BM25CAT")), device="cpu",
                               batch_size=2)


def _run_path(rr: ScoreInjectReranker) -> dict[str, float]:
    run = {"q1": [RunRecord("q1", d, s) for d, s in zip(IDS, BM25, strict=True)]}
    out = rr.rerank_run(run, {"q1": QUERY}, dict(zip(IDS, TEXTS, strict=True)), {"bm25": run})
    return {r.doc_id: r.score for r in out["q1"]}


def test_predict_and_rank_equal_the_run_path(bm25cat):
    ref = _run_path(bm25cat)
    got = bm25cat.predict([(QUERY, t, {"bm25": s}) for t, s in zip(TEXTS, BM25, strict=True)], batch_size=3)
    assert got == pytest.approx([ref[d] for d in IDS], abs=1e-5)
    ranked = bm25cat.rank(QUERY, TEXTS, scores={"bm25": BM25}, corpus_ids=IDS)
    assert [r.corpus_id for r in ranked] == sorted(IDS, key=lambda d: -ref[d])
    assert all(abs(r.score - ref[r.corpus_id]) <= 1e-5 and IDS[r.index] == r.corpus_id for r in ranked)
    per_passage = bm25cat.rank(QUERY, TEXTS, scores=[{"bm25": s} for s in BM25], top_k=2)
    assert per_passage == [RankedPassage(r.index, pytest.approx(r.score, abs=1e-5), None) for r in ranked[:2]]


def test_predict_groups_pairs_by_query_for_per_query_normalisers(tiny_base, tmp_path):
    recipe = InjectionRecipe(sources=("bm25",), normalizers={"bm25": Normalizer("minmax-query")}, variant="BM25CAT")
    rr = ScoreInjectReranker(with_recipe(tiny_base, tmp_path / "mq", recipe), device="cpu")
    other = [("banana bread", "A recipe for banana bread.", {"bm25": 40.0}),
             ("banana bread", "Walnuts.", {"bm25": 2.0})]
    mixed = [other[0], *[(QUERY, t, {"bm25": s}) for t, s in zip(TEXTS, BM25, strict=True)], other[1]]
    got = rr.predict(mixed)
    assert got[1:-1] == pytest.approx([r.score for r in sorted(rr.rank(QUERY, TEXTS, {"bm25": BM25}),
                                                               key=lambda r: r.index)], abs=1e-5)
    assert [got[0], got[-1]] == pytest.approx(rr.predict(other), abs=1e-5)


def test_missing_score_is_a_clear_error(bm25cat):
    with pytest.raises(DataError, match=r"pair 1 has no 'bm25' score.*injects bm25"):
        bm25cat.predict([(QUERY, TEXTS[0], {"bm25": 1.0}), (QUERY, TEXTS[1])])
    with pytest.raises(DataError, match="passage 0 has no 'bm25' score"):
        bm25cat.rank(QUERY, TEXTS)
    with pytest.raises(DataError, match="not finite"):
        bm25cat.predict([(QUERY, TEXTS[0], {"bm25": float("nan")})])
    with pytest.raises(ValueError, match="one score per passage"):
        bm25cat.rank(QUERY, TEXTS, scores={"bm25": BM25[:2]})
    with pytest.raises(ValueError, match="expected"):
        bm25cat.predict([(QUERY,)])
    with pytest.raises(DataError, match="repeat"):
        bm25cat.rank(QUERY, TEXTS[:2], scores={"bm25": BM25[:2]}, corpus_ids=["x", "x"])
    assert bm25cat.rank(QUERY, []) == [] and bm25cat.predict([]) == []


def test_cat_takes_plain_pairs(tiny_base, tmp_path):
    rr = ScoreInjectReranker(with_recipe(tiny_base, tmp_path / "cat", None), device="cpu")
    got = rr.predict([(QUERY, t) for t in TEXTS])
    assert [r.index for r in rr.rank(QUERY, TEXTS)] == sorted(range(5), key=lambda i: (-got[i], i))


def test_text_pair_raw_scores_and_rendered_scores():
    recipe = recipe_for_variant("BM25CAT")
    assert recipe.text_pair(QUERY, "p", {"bm25": 11.0}) == (QUERY, "22 [SEP] p")
    assert recipe.text_pair(QUERY, "p", {"bm25": "22"}) == recipe.text_pair(QUERY, "p", {"bm25": 11.0})
    with pytest.raises(ValueError, match="no 'bm25' score"):
        recipe.text_pair(QUERY, "p", {})
    per_query = InjectionRecipe(sources=("bm25",), normalizers={"bm25": Normalizer("minmax-query")})
    with pytest.raises(ValueError, match="per query"):
        per_query.text_pair(QUERY, "p", {"bm25": 3.0})
    assert [b for _, b in per_query.text_pairs(QUERY, ["x", "y"], [{"bm25": 1.0}, {"bm25": 3.0}])] == \
        ["0 [SEP] x", "100 [SEP] y"]


def test_sentence_transformers_crossencoder_gets_our_scores():
    """The shipped BM25CAT model in sentence-transformers, fed with text_pairs, equals our predict (1e-5)."""
    from sentence_transformers import CrossEncoder
    from torch.nn import Identity

    rr = ScoreInjectReranker(SHIPPED, device="cpu", threads=1)
    long_passage = " ".join(TEXTS * 12)  # ~130 words: cut to the recipe's max_length (160 tokens) by both
    passages = [*TEXTS, long_passage]
    scores = [{"bm25": s} for s in [*BM25, 20.0]]
    long_query = QUERY + " in dogs cats and humans living in warm humid climates near forests and rivers" * 2
    for query in (QUERY, long_query):
        ours = rr.predict([(query, p, s) for p, s in zip(passages, scores, strict=True)])
        pairs = text_pairs(SHIPPED, query, passages, scores)
        theirs = CrossEncoder(SHIPPED, device="cpu", activation_fn=Identity()).predict(pairs, batch_size=4)
        assert [float(x) for x in theirs] == pytest.approx(ours, abs=1e-5)
    # without the injected score, other tools score something else: that is why the card and config say so
    plain = CrossEncoder(SHIPPED, device="cpu", activation_fn=Identity()).predict([(QUERY, TEXTS[0])])
    assert abs(float(plain[0]) - ours[0]) > 1e-3


def test_save_puts_the_recipe_where_other_tools_look(tiny_base, tmp_path):
    from transformers import AutoConfig

    recipe = recipe_for_variant("BM25CAT", max_length=128)
    model = CrossEncoderModel(with_recipe(tiny_base, tmp_path / "src", recipe), device="cpu")
    out = tmp_path / "saved"
    model.save(out)
    cfg = json.loads((out / "config.json").read_text())
    assert InjectionRecipe.from_dict(cfg[CONFIG_KEY]).to_dict() == recipe.to_dict()
    assert getattr(AutoConfig.from_pretrained(str(out)), CONFIG_KEY)["variant"] == "BM25CAT"
    card = (out / "README.md").read_text()
    assert "BM25CAT" in card and CONFIG_KEY in card and "text_pairs" in card and "22 [SEP]" in card
    (out / "README.md").write_text("my own card\n")
    model.save(out)  # an existing card is kept
    assert (out / "README.md").read_text() == "my own card\n"
    again = ScoreInjectReranker(out, device="cpu")
    assert again.recipe.to_dict() == recipe.to_dict()
    assert again.predict([(QUERY, TEXTS[0], {"bm25": 1.0})]) == pytest.approx(
        ScoreInjectReranker(model=model).predict([(QUERY, TEXTS[0], {"bm25": 1.0})]), abs=1e-6)
