"""The length match of scripts/build_msmarco_clean.py: negatives drawn to the positives' length distribution."""

from __future__ import annotations

import importlib.util
import random
import statistics
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "build_msmarco_clean.py"


def _script():
    spec = importlib.util.spec_from_file_location("build_msmarco_clean", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_length_match_gives_negatives_the_positives_lengths_and_keeps_every_positive():
    """Positives of ~25 words, negatives of 25-125 (most long): after the match the kept negatives' median length is
    the positives' bin, every positive and the candidates' order stay, and a seed gives one answer."""
    build = _script()
    rng = random.Random(0)
    texts, cands, qrels = {}, {}, {}
    for q in range(300):
        pos = f"p{q}"
        texts[pos] = " ".join(["w"] * rng.randint(22, 28))
        negs = [f"n{q}-{i}" for i in range(20)]
        for i, d in enumerate(negs):
            texts[d] = " ".join(["w"] * (rng.randint(22, 28) if i < 4 else rng.randint(60, 125)))
        cands[str(q)] = [*negs[:10], pos, *negs[10:]]
        qrels[str(q)] = {pos: 1}
    kept, keep = build.length_match(cands, qrels, texts, seed=1)
    assert max(keep) == 1.0 and min(keep) >= 0.0
    assert all(f"p{q}" in kept[str(q)] for q in range(300))
    assert all(kept[q] == [d for d in cands[q] if d in set(kept[q])] for q in cands)  # order kept
    negs_before = [len(texts[d].split()) for q, ds in cands.items() for d in ds if not d.startswith("p")]
    negs_after = [len(texts[d].split()) for q, ds in kept.items() for d in ds if not d.startswith("p")]
    assert statistics.median(negs_before) > 60 and statistics.median(negs_after) < 30
    assert build.length_match(cands, qrels, texts, seed=1)[0] == kept
