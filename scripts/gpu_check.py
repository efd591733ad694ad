"""GPU check: training inputs/s (bf16, the Hugging Face Trainer path) and re-ranking pairs/s against
sentence-transformers' ``CrossEncoder.predict`` on the same card; JSON out. Run by ``scripts/gpu_check.sh``.

Texts are synthetic (random vocabulary words at MS MARCO lengths: queries ~10 tokens, passages ~80) so that the
check needs no data set on the GPU machine; throughput, not quality, is measured. The model is all-MiniLM-L6-v2
with a cross-encoder head (the start of every model here). ``--smoke`` runs tiny sizes on any device (CPU test).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _texts(tokenizer, n: int, words: int, rng: random.Random) -> list[str]:
    vocab = [w for w in tokenizer.get_vocab() if w.isalpha() and len(w) > 2]
    return [" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(n)]


def rerank_check(n_pairs: int, batch: int) -> dict:
    """Our scorer (bf16 autocast on CUDA) vs ``CrossEncoder.predict`` (same weights, same card), pairs/s."""
    import torch
    from sentence_transformers import CrossEncoder

    from rerankinject.injection.recipe import recipe_for_variant
    from rerankinject.scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        ce = CrossEncoderModel(DEFAULT_INIT_MODEL(), recipe=recipe_for_variant("CAT", max_length=192))
        ce.save(tmp)
        ours = CrossEncoderModel(tmp)
        queries = _texts(ours.tokenizer, n_pairs // 100 + 1, 8, rng)
        passages = _texts(ours.tokenizer, n_pairs, 70, rng)
        inputs = [x for i in range(0, n_pairs, 100)
                  for x in ours.builder.encode(queries[i // 100], passages[i:i + 100], [{}] * len(passages[i:i + 100]))]
        ours.predict(inputs[:batch], batch_size=batch)  # warm-up
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        ours.predict(inputs, batch_size=batch)
        t_ours = time.perf_counter() - t0
        st = CrossEncoder(tmp, max_length=192, activation_fn=torch.nn.Identity())
        pairs = [(queries[i // 100], passages[i]) for i in range(n_pairs)]
        st.predict(pairs[:batch], batch_size=batch)
        t0 = time.perf_counter()
        st.predict(pairs, batch_size=batch, show_progress_bar=False)
        t_st = time.perf_counter() - t0
    return {"pairs": n_pairs, "batch_size": batch, "ours_pairs_per_s": n_pairs / t_ours, "ours_dtype": ours.dtype,
            "st_pairs_per_s": n_pairs / t_st, "ratio": t_st / t_ours}


def train_check(steps: int, groups: int, group_size: int) -> dict:
    """Training inputs/s of :func:`rerankinject.train.trainer.train_model` (bf16 on CUDA), listwise groups."""
    import torch
    import transformers

    from rerankinject.injection.recipe import recipe_for_variant
    from rerankinject.io.formats import Document
    from rerankinject.scoring.model import DEFAULT_INIT_MODEL, CrossEncoderModel
    from rerankinject.train.config import TrainConfig
    from rerankinject.train.examples import Example, GroupDataset, TokenCache
    from rerankinject.train.trainer import train_model

    rng = random.Random(1)
    ce = CrossEncoderModel(DEFAULT_INIT_MODEL(), recipe=recipe_for_variant("BM25CAT", max_length=192))
    n_q = max(groups * 4, 64)
    queries = dict(zip((f"q{i}" for i in range(n_q)), _texts(ce.tokenizer, n_q, 8, rng), strict=True))
    docs = _texts(ce.tokenizer, n_q * group_size, 70, rng)
    corpus = {f"d{i}": Document(f"d{i}", "", t) for i, t in enumerate(docs)}
    examples = [Example(q, [f"d{i * group_size + j}" for j in range(group_size)],
                        [{"bm25": str(rng.randint(0, 100))} for _ in range(group_size)])
                for i, q in enumerate(queries)]
    ds = GroupDataset(examples, queries, corpus, ce.builder, TokenCache(ce.tokenizer, 192))
    marks: dict = {}

    class Clock(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: D102
            if state.global_step == 3:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                marks["t0"] = time.perf_counter()

        def on_train_end(self, args, state, control, **kw):  # noqa: D102
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            marks["t1"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(dataset="synthetic", sources={"bm25": "x"}, variant="BM25CAT", loss="listwise",
                          negatives_per_positive=group_size - 1, batch_size=groups, max_steps=steps, lr=5e-5,
                          warmup_steps=0, eval_steps=10 ** 6, eval_at_start=False, log_steps=10 ** 6,
                          output_dir=out, max_length=192).validate()
        train_model(cfg, ce, ds, None, callbacks=[Clock()])
    timed = (steps - 3) * groups * group_size
    return {"steps_timed": steps - 3, "inputs_per_step": groups * group_size,
            "train_inputs_per_s": timed / (marks["t1"] - marks["t0"]),
            "precision": "bf16" if torch.cuda.is_available() else "fp32"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="gpu_check.json")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (any device)")
    args = p.parse_args(argv)
    import torch

    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    result = {"device": card, "torch": torch.__version__}
    if args.smoke:
        result["rerank"] = rerank_check(256, 64)
        result["train"] = train_check(5, 2, 4)
    else:
        result["rerank"] = rerank_check(200_000, 512)
        result["train"] = train_check(60, 128, 8)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
