"""ONNX Runtime backend for cross-encoder scoring on CPU: fp32 (fused attention) and dynamic int8.

The model is exported with ``torch.onnx.export(dynamo=False)`` from the Hugging Face model loaded with
``attn_implementation="eager"`` (ONNX Runtime's BERT optimizer fuses attention only for that graph), optimised
with ``onnxruntime.transformers.optimizer`` (model_type ``bert``) and, for int8, quantised with
``quantize_dynamic(per_channel=True)`` (per-tensor int8 loses ranking fidelity: per-query Spearman .96-.975 vs
.99) using ``DefaultTensorType=FLOAT`` (needed to quantise the fused graph). Exports are cached beside the weights
(or under ``~/.cache/rerankinject/onnx`` when the model folder is read-only), keyed by a hash of the weights.

:class:`OnnxScorer` follows :class:`~rerankinject.scoring.PairScorer`, so the same token ids go through every backend.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .batching import pad_arrays, score_by_length

__all__ = ["OnnxScorer", "export_onnx"]

logger = logging.getLogger(__name__)

def _ffn_output_matmuls(path: Path) -> list[str]:
    """Names of the FFN down-projection MatMuls (``.../output/dense/MatMul``, not the attention output)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith("/output/dense/MatMul")
            and "/attention/" not in n.name]


def _weights_hash(model_dir: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        p = model_dir / name
        if p.is_file():
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _cache_dir(model_dir: Path) -> Path:
    local = model_dir / "onnx"
    try:
        local.mkdir(exist_ok=True)
        probe = local / ".write-test"
        probe.write_text("")
        probe.unlink()
        return local
    except OSError:
        d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rerankinject" / "onnx"
        d = d / hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]
        d.mkdir(parents=True, exist_ok=True)
        return d


def export_onnx(model_dir: str | os.PathLike, quantize: bool = False, cache_dir: str | os.PathLike | None = None,
                opset: int = 17, full_int8: bool = False) -> Path:
    """Export (once) a sequence-classification checkpoint to an optimised ONNX graph; optionally int8.

    Args:
        model_dir: the checkpoint folder.
        quantize: dynamic int8 (per-channel weights); the FFN output projections stay fp32 unless ``full_int8``.
        cache_dir: where the graphs go (default: ``<model_dir>/onnx`` or the user cache).
        opset: ONNX opset of the export.
        full_int8: quantise every MatMul and attention.

    Returns:
        The path of the ``.onnx`` file (reused when already exported for the same weights).
    """
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModelForSequenceClassification

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise DataError(f"not a Hugging Face model folder (no config.json): {model_dir}")
    out_dir = Path(cache_dir) if cache_dir else _cache_dir(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = _weights_hash(model_dir)
    fused = out_dir / f"model-{key}.fp32.onnx"
    target = (out_dir / f"model-{key}.{'int8-full' if full_int8 else 'int8-ffnfp32'}.onnx") if quantize else fused
    if target.is_file():
        return target
    if not fused.is_file():
        raw = out_dir / f".model-{key}.raw.onnx"
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=1,
                                                                   attn_implementation="eager", dtype=torch.float32)
        model.eval()
        example = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long),
                   torch.zeros(2, 16, dtype=torch.long))
        axes = {0: "batch", 1: "seq"}
        with torch.inference_mode():
            torch.onnx.export(model, example, str(raw), input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["logits"], opset_version=opset, dynamo=False,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                            "logits": {0: "batch"}})
        cfg = AutoConfig.from_pretrained(str(model_dir))
        opt = optimize_model(str(raw), model_type="bert", num_heads=cfg.num_attention_heads,
                             hidden_size=cfg.hidden_size)
        tmp = fused.with_suffix(".tmp")
        opt.save_model_to_file(str(tmp))
        os.replace(tmp, fused)
        raw.unlink(missing_ok=True)
        logger.info("exported %s (fused ops: %s)", fused, opt.get_fused_operator_statistics())
    if quantize:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = target.with_suffix(".tmp.onnx")
        keep = [] if full_int8 else _ffn_output_matmuls(fused)
        quantize_dynamic(str(fused), str(tmp), per_channel=True, weight_type=QuantType.QInt8,
                         nodes_to_exclude=keep, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(tmp, target)
        logger.info("quantised %s", target)
    return target


class OnnxScorer:
    """Score (input_ids, token_type_ids) pairs with ONNX Runtime on CPU.

    Args:
        model_dir: the checkpoint folder (the same one the torch backend loads).
        quantize: use the dynamic int8 graph (FFN output projections in fp32 unless ``full_int8``).
        threads: CPU threads in all (default: all cores).
        pad_id: the tokenizer's pad token id.
        workers: batches run concurrently (one session, thread-safe ``run``), each on ``threads // workers``
            intra-op threads.
    """

    def __init__(self, model_dir: str | os.PathLike, quantize: bool = False, threads: int | None = None,
                 pad_id: int = 0, workers: int = 1, full_int8: bool = False):
        import onnxruntime as ort

        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.path = export_onnx(model_dir, quantize=quantize, full_int8=full_int8)
        self.workers = workers
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = max(1, (threads or os.cpu_count() or 1) // workers)
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.pad_id = pad_id
        self.backend = ("onnx-int8-full" if full_int8 else "onnx-int8") if quantize else "onnx"

    def _batch(self, items: Sequence[tuple[list[int], list[int]]]) -> dict[str, Any]:
        ids, types, mask = pad_arrays(items, self.pad_id)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {k: v for k, v in feed.items() if k in self.input_names}

    def predict(self, inputs: Sequence[tuple[list[int], list[int]]], batch_size: int = 32,
                progress: bool = False, groups: Sequence[Sequence[str]] | None = None) -> list[float]:
        """Raw logits in input order; length-sorted batches with dynamic padding."""
        def score(items: list[tuple[list[int], list[int]]]) -> list[float]:
            return self.session.run(["logits"], self._batch(items))[0][:, 0].astype(np.float64).tolist()

        return score_by_length(inputs, batch_size, score, self.workers, progress, desc="score(onnx)")
