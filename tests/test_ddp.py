"""Data-parallel training from the library: 2 processes (torchrun, gloo on CPU) equal 1 process with 2 accumulation
steps on the same data, within float tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests._ce_util import make_tiny_bert


def _local_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    topics = {f"q{i}": f"topic {i} question about subject {i % 3}" for i in range(8)}
    docs = {f"d{i}": f"passage number {i} discussing subject {i % 3} and topic {i % 5}" for i in range(24)}
    (folder / "queries.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in topics.items()))
    (folder / "collection.tsv").write_text("".join(f"{d}\t{t}\n" for d, t in docs.items()))
    (folder / "qrels.txt").write_text("".join(f"q{i} 0 d{(3 * i) % 24} 1\n" for i in range(8)))
    with open(folder / "run.bm25.trec", "w") as fh:
        for i in range(8):
            for r, j in enumerate(range(10)):
                fh.write(f"q{i} Q0 d{(3 * i + j) % 24} {r + 1} {20.0 - r - 0.1 * i:.4f} bm25\n")
    (folder / "dataset.json").write_text(json.dumps({"topics": "queries.tsv", "qrels": "qrels.txt",
                                                     "corpus": "collection.tsv", "runs": {"bm25": "run.bm25.trec"},
                                                     "rel_level": 1}))
    return folder


def _config(tmp: Path, data: Path, model: Path, out: str, batch: int, accum: int) -> Path:
    cfg = {"dataset": str(data), "sources": {"bm25": str(data / "run.bm25.trec")}, "variant": "BM25CAT",
           "init_model": str(model), "output_dir": str(tmp / out), "negatives_per_positive": 2, "neg_depth": 10,
           "val_queries": 2, "val_depth": 5, "loss": "pairwise", "lr": 1e-3, "warmup_steps": 0, "max_steps": 4,
           "batch_size": batch, "grad_accum": accum, "eval_steps": 4, "eval_at_start": False, "max_length": 48,
           "threads": 1, "seed": 7, "log_steps": 1}
    path = tmp / f"{out}.json"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_two_process_ddp_matches_one_process_with_accumulation(tmp_path):
    data = _local_dataset(tmp_path / "data")
    model = make_tiny_bert(tmp_path / "tiny", dropout=0.0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path.cwd())}
    env.pop("WORLD_SIZE", None)
    single = subprocess.run([sys.executable, "-m", "rerankinject.train", "--config",
                             str(_config(tmp_path, data, model, "single", 2, 2))],
                            env=env, capture_output=True, text=True, timeout=240)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "rerankinject.train", "--config", str(_config(tmp_path, data, model, "ddp", 2, 1))],
                         env=env, capture_output=True, text=True, timeout=240)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    curve_1 = json.loads((tmp_path / "single" / "validation_curve.json").read_text())
    curve_2 = json.loads((tmp_path / "ddp" / "validation_curve.json").read_text())
    assert curve_1["pairs_seen"] == curve_2["pairs_seen"] == 4 * 2 * 2 * 2  # steps x batch x (accum|procs) x 2
    w1 = _weights(tmp_path / "single" / "checkpoint-4")
    w2 = _weights(tmp_path / "ddp" / "checkpoint-4")
    init = _weights(model)
    moved = 0
    for name, a in w1.items():
        torch.testing.assert_close(w2[name], a, rtol=1e-4, atol=2e-5, msg=name)
        moved += not torch.equal(a, init[name]) if name in init else 0
    assert moved > 10  # the runs really trained
    losses_1 = [x["loss"] for x in curve_1["train_loss"]]
    losses_2 = [x["loss"] for x in curve_2["train_loss"]]
    assert losses_1 == pytest.approx(losses_2, rel=1e-4, abs=1e-5)
