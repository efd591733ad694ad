"""Pin the exact model input (decoded text and token ids) the re-ranker builds for each variant, normaliser and
template, and check that truncation never cuts an injected score."""

from __future__ import annotations

import pytest

from rerankinject.injection.normalize import Normalizer
from rerankinject.injection.recipe import InjectionRecipe, recipe_for_variant
from rerankinject.rerank.reranker import Candidate, ScoreInjectReranker
from tests._ce_util import make_tiny_bert, with_recipe

CLS, SEP = 101, 102
Q = [2054, 2003, 1037, 26735]  # what is a flea
P = [26735, 2015, 2024, 2235, 9728]  # fleas are small insects
QUERY, PASSAGE = "what is a flea", "fleas are small insects"
NUM = {"22": [2570], "40": [2871], "10": [2184], "71": [6390], "100": [2531], "0": [1014], "20": [2322],
       "200": [3263], "-100": [1011, 2531], "-16": [1011, 2385], "130": [7558], "-114": [1011, 12457],
       "31": [2861], "56": [5179], "14": [2403], "1100": [22096], "2000": [2456], "500": [3156],
       "0.22": [1014, 1012, 2570], "0.40": [1014, 1012, 2871], "0.10": [1014, 1012, 2184]}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture
def capture(tiny_base, tmp_path):
    def run(recipe, candidates, query=QUERY, **kw):
        return _capture(with_recipe(tiny_base, tmp_path / "m", recipe), candidates, query, **kw)
    return run

SHOWN = {"-100": "- 100", "-16": "- 16", "-114": "- 114", "0.22": "0. 22", "0.40": "0. 40", "0.10": "0. 10"}


def _capture(folder, candidates, query=QUERY, **kw):
    """The (input_ids, token_type_ids) the re-ranker feeds its model, and the tokenizer."""
    rr = ScoreInjectReranker(folder, device="cpu", **kw)
    seen = []
    orig = rr.model.predict

    def spy(inputs, batch_size=32, progress=False, **kw):
        seen.extend(inputs)
        return orig(inputs, batch_size, progress)

    rr.model.predict = spy
    rr.rerank(query, candidates)
    return seen, rr.model.tokenizer


def _cands(bm25=(11.0,), dpr=None):
    out = []
    for i, s in enumerate(bm25):
        scores = {"bm25": s}
        if dpr is not None:
            scores["dpr"] = dpr[i]
        out.append(Candidate(f"d{i}", PASSAGE, scores))
    return out


def test_cat_plain_folder(capture):
    seen, tok = capture(None, _cands())  # a plain HF folder loads as CAT; scores are ignored
    ids, types = seen[0]
    assert tok.decode(ids) == "[CLS] what is a flea [SEP] fleas are small insects [SEP]"
    assert ids == [CLS, *Q, SEP, *P, SEP]
    assert types == [0] * 6 + [1] * 6


def test_bm25cat_paper_renders_22(capture):
    seen, tok = capture(recipe_for_variant("BM25CAT"), _cands())
    ids, types = seen[0]
    assert tok.decode(ids) == "[CLS] what is a flea [SEP] 22 [SEP] fleas are small insects [SEP]"
    assert ids == [CLS, *Q, SEP, 2570, SEP, *P, SEP]
    assert types == [0] * 6 + [1] * 8


def test_dprcat(capture):
    seen, tok = capture(recipe_for_variant("DPRCAT"), [Candidate("d0", PASSAGE, {"dpr": 0.71})])
    ids, _ = seen[0]
    assert tok.decode(ids) == "[CLS] what is a flea [SEP] 71 [SEP] fleas are small insects [SEP]"
    assert ids == [CLS, *Q, SEP, 6390, SEP, *P, SEP]


def test_score_first_template(capture):
    seen, tok = capture(recipe_for_variant("BM25CAT", template="score-first"), _cands())
    ids, types = seen[0]
    assert tok.decode(ids) == "[CLS] 22 [SEP] what is a flea [SEP] fleas are small insects [SEP]"
    assert ids == [CLS, 2570, SEP, *Q, SEP, *P, SEP]
    assert types == [0] * 3 + [1] * 11


def test_two_sources(capture):
    seen, tok = capture(recipe_for_variant("BM25DPRCAT"), _cands(dpr=[0.71]))
    ids, types = seen[0]
    assert tok.decode(ids) == "[CLS] what is a flea [SEP] 22 [SEP] 71 [SEP] fleas are small insects [SEP]"
    assert ids == [CLS, *Q, SEP, 2570, SEP, 6390, SEP, *P, SEP]
    assert types == [0] * 6 + [1] * 10


def test_custom_template(capture):
    recipe = recipe_for_variant("BM25DPRCAT", template="{query}{sep}bm25 {bm25} dense {dpr}{sep}{passage}")
    seen, tok = capture(recipe, _cands(dpr=[0.71]))
    ids, _ = seen[0]
    assert tok.decode(ids) == "[CLS] what is a flea [SEP] bm25 22 dense 71 [SEP] fleas are small insects [SEP]"
    assert ids == [CLS, *Q, SEP, 1038, 2213, 17788, 2570, 9742, 6390, SEP, *P, SEP]


@pytest.mark.parametrize("norm,render,expected", [
    (Normalizer("minmax", 0, 50), "int", ["22", "40", "10"]),
    (Normalizer("minmax-query"), "int", ["40", "100", "0"]),
    (Normalizer("zscore", mean=10.0, std=5.0), "int", ["20", "200", "-100"]),
    (Normalizer("zscore-query"), "int", ["-16", "130", "-114"]),
    (Normalizer("sum"), "int", ["31", "56", "14"]),
    (Normalizer("raw"), "int", ["1100", "2000", "500"]),
    (Normalizer("minmax", 0, 50), "decimal", ["0.22", "0.40", "0.10"]),
])
def test_each_normaliser(capture, norm, render, expected):
    recipe = InjectionRecipe(sources=("bm25",), normalizers={"bm25": norm}, render=render, variant="BM25CAT")
    seen, tok = capture(recipe, _cands(bm25=(11.0, 20.0, 5.0)))
    assert len(seen) == 3
    for (ids, _), text in zip(seen, expected, strict=True):
        shown = SHOWN.get(text, text)  # how BERT's decode spaces punctuation
        assert tok.decode(ids) == f"[CLS] what is a flea [SEP] {shown} [SEP] fleas are small insects [SEP]"
        assert ids == [CLS, *Q, SEP, *NUM[text], SEP, *P, SEP]


def test_truncation_keeps_score_and_caps_query(capture):
    recipe = recipe_for_variant("BM25CAT", max_length=64)
    long_q = " ".join(["flea"] * 50)
    long_p = " ".join(["insects"] * 500)
    seen, tok = capture(recipe, [Candidate("d0", long_p, {"bm25": 11.0})], query=long_q)
    ids, types = seen[0]
    assert len(ids) == len(types) == 64
    assert ids[:32] == [CLS] + [26735] * 30 + [SEP]  # the query is capped at 30 tokens
    assert ids[32:34] == [2570, SEP]  # the score survives intact
    assert ids[34:] == [9728] * 29 + [SEP]  # the passage gets the rest
    assert types == [0] * 32 + [1] * 32


def test_matches_hf_tokenizer_on_short_pairs(capture):
    """The built ids equal the tokenizer's own pair encoding of the recipe's text pair (no truncation)."""
    recipe = recipe_for_variant("BM25DPRCAT")
    seen, tok = capture(recipe, _cands(dpr=[0.71]))
    a, b = recipe.text_pair(QUERY, PASSAGE, {"bm25": "22", "dpr": "71"})
    enc = tok(a, b, return_token_type_ids=True)
    assert seen[0] == (list(enc["input_ids"]), list(enc["token_type_ids"]))
