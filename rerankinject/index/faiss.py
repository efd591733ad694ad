"""Dense index building: a resumable faiss index in the layout Pyserini's ``FaissSearcher`` reads.

:func:`build_dense_index` writes ``index`` (a faiss inner-product index, flat by default or HNSW), ``docid`` (one
doc id per line, row order) and ``encoder.json`` (model path, pooling, normalize, max_length, dim) so that search
rebuilds the matching query encoder (:func:`load_encoder_settings`). Embeddings are written in checkpointed shards
in a work folder beside the index (``.NAME.partial``); an interrupted build resumes at the first unfinished shard.
The index folder appears atomically (temporary folder, then rename).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..cluster import RayOptions
from ..encode.encoder import _FORMAT_VERSION, ENCODER_META, TextEncoder
from ..errors import DataError
from ..io.files import replace_dir
from ..io.formats import document_text, iter_collection

__all__ = ["work_dir_for", "build_dense_index"]

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# index building


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
                      collection_format: str = "auto",
                      doc_ids: Iterable[str] | None = None, encoder: TextEncoder | None = None,
                      progress: bool = True, ray: RayOptions | None = None) -> dict[str, Any] | None:
    """Encode a collection and write a faiss index that ``pyserini.search.faiss.FaissSearcher`` reads.

    Documents are embedded as ``title + " " + text`` (:func:`~rerankinject.io.formats.document_text`, the text the
    Lucene index holds). Every ``shard_size`` documents the embeddings are saved to
    ``.NAME.partial/shard-NNNNN.npy`` beside the index; a later call with the same collection and encoder settings
    reuses the finished shards (a different collection or setting is refused: delete the work folder or pass
    ``overwrite``). When all shards are done the index is written into a temporary folder, renamed to
    ``index_dir`` and the work folder is removed.

    Args:
        collection: collection file/folder (see :mod:`rerankinject.io.formats`).
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
        collection_format: one of :data:`~rerankinject.io.formats.COLLECTION_FORMATS` (default: detected).
        ray: encode the shards on a Ray actor pool of encoder replicas
            (:func:`~rerankinject.encode.ray_engine.encode_shards`); same shards, same checkpoints, same layout.

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
    if max_shards is not None and ray is not None:
        raise ValueError("max_shards (a deliberate interruption) is not supported on the Ray engine")
    if index_dir.exists() and not overwrite:
        raise DataError(f"index folder already exists: {index_dir} (pass --overwrite to rebuild)")
    t0 = time.perf_counter()
    wanted = set(doc_ids) if doc_ids is not None else None
    ids: list[str] = []
    texts: list[str] = []
    seen: set[str] = set()
    for doc in iter_collection(collection, collection_format):
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
        if ray is not None:
            from ..encode.ray_engine import encode_shards

            t1 = time.perf_counter()
            spans = [(i, texts[i * shard_size:min((i + 1) * shard_size, len(ids))]) for i in todo]
            for i, emb in encode_shards(settings, spans, encoder.batch_size, ray):
                _save_npy_atomic(work / _shard_name(i), emb)  # checkpointed as it arrives, as locally
                encoded += len(emb)
                bar.update(len(emb))
            enc_seconds = time.perf_counter() - t1
        for n_new, i in enumerate(todo if ray is None else []):
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
            "device": encoder.device if ray is None else f"ray:{ray.device}",
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


