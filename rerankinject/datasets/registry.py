"""Named data sets (TREC DL 2019/2020, BEIR SciFact and NFCorpus, MS MARCO training text) under a data root.

A data root is found from ``--data-root``, else ``$RERANKINJECT_DATA``, else ``../shared/data`` (beside the
working directory or beside the project checkout) when it exists. Every file is checked against its SHA-256
before first use in a process. ``python -m rerankinject.datasets download NAME --mirror URL`` fetches the files
of a data set (from the public originals where they have a stable address, else from a mirror such as a
``file://`` copy of the data root), checking each checksum.

Names: ``dl19``, ``dl20`` (MS MARCO passage, graded qrels, relevant at grade >= 2), ``scifact-train``,
``scifact-test``, ``nfcorpus-train``, ``nfcorpus-dev``, ``nfcorpus-test`` (BEIR, relevant at grade >= 1) and
``msmarco-train`` (dev-small training text, no qrels of its own here).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..io.formats import read_qrels, read_queries

__all__ = [
    "ANSERINI_TOOLS",
    "DatasetSpec",
    "DATASETS",
    "find_data_root",
    "sha256_of",
    "Dataset",
    "load_dataset",
    "LOCAL_SPEC",
    "is_dataset",
    "load_local_dataset",
    "resolve_topics",
    "resolve_qrels",
    "rel_level_for",
    "download",
]

logger = logging.getLogger(__name__)


ANSERINI_TOOLS = ("https://raw.githubusercontent.com/castorini/anserini-tools/"
                  "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3/topics-and-qrels/")

_SHA256: dict[str, str] = {
    "msmarco-dl/derived/collection.tsv":
        "3dbd8c062b23045604e1a65301c8e5c7fd6c52dd735d8d3dd72fe2a36a1c2c16",
    "msmarco-dl/derived/queries.dl19.tsv":
        "7b2b24d3a3170130a4f73a3740bf049d4ca7d7710c3302d6a8800c000539587c",
    "msmarco-dl/derived/queries.dl20.tsv":
        "254f23ea315252e25ad8702647bf96c38b956c7aa33a80bf45e836a8cc034b81",
    "msmarco-dl/derived/run.ada2_dl19.trec":
        "e18081f6bd2ae2dab53dc8c7f25e8ac0b7a7416a8bf9e5c4cc841dcd0431e6ff",
    "msmarco-dl/derived/run.ada2_dl20.trec":
        "20b3c93341aa63897e3e110eb68799a089ab91378918188ca80253d016ca3b3e",
    "msmarco-dl/derived/run.bm25_dl19.trec":
        "a5e4978474dab842881caac9455f10000d7b7f92237aa712acc0659ad83a418e",
    "msmarco-dl/derived/run.bm25_dl20.trec":
        "a0e4f3293c1673324d687d9f657ba23dd2406c846253a5ff432afdf03be978b5",
    "msmarco-dl/derived/run.bm25rm3_dl19.trec":
        "b7bea82dac949a1ec7d01c5de9a31149a241e2895654d284049b5a11bd8ac43c",
    "msmarco-dl/derived/run.bm25rm3_dl20.trec":
        "297bbb62a31469af21c632abee5f654834c523df6ee4b2e8cb00fe9d8e663e37",
    "msmarco-dl/derived/run.spladepp_dl19.trec":
        "1f2a95ca09c5ce55537d567d026605c1f0ef222fc3f832cb06dfab9a3d0ad8da",
    "msmarco-dl/derived/run.spladepp_dl20.trec":
        "9704bb13a79acad9e776083b799d6d82ab24e3b3b305de4c1f642df477fc9d54",
    "msmarco-dl/derived/run.tasb_dl19.trec":
        "46018accb6e116d01abba9d53cdc8c25036eff48ec8ab1f2d6a75fcb79f216bd",
    "msmarco-dl/derived/run.tasb_dl20.trec":
        "016aa78da667ac91ff3703e71c04ada33b48d76101d0cbd48f8f1e7b2dd3859c",
    "msmarco-dl/official/qrels.dl19-passage.txt":
        "8a1f10d550732e4cd91d7fc49846a3784de4040972f583e69285a88f3c5fee92",
    "msmarco-dl/official/qrels.dl20-passage.txt":
        "60d4c34561f9687f8f73e0a752ba80ab80159b3e9c1bedd0a351f747ed6f5684",
    "msmarco-dl/official/qrels.msmarco-passage.dev-subset.txt":
        "34ef51a24e049b3dd19b0a448b764f26b0def22ec42f421ecba2db91f82e7042",
    "msmarco-dl/official/topics.dl19-passage.txt":
        "518992da259fb61f64e4790791df91a7b42ea5773f374aed59220ebb51d58d90",
    "msmarco-dl/official/topics.dl20.txt":
        "726cb4018b85a335fcbe09004df7f084ec1bf20531961d9af7b0c71dd609e69b",
    "msmarco-dl/official/topics.msmarco-passage.dev-subset.txt":
        "f4f71fa87b6be4fb968cca2b8f8554c4ebd003e6c3488af3ac1cc5629c3de189",
    "msmarco-dl/rank_llm/ada2_dl19.json":
        "9b6e71e0c3731acd4e49aeb9fd79852d0f5ac2641cd67f1984d40e47325eb51d",
    "msmarco-dl/rank_llm/ada2_dl20.json":
        "2c56701e81cb8bdda9aeba9960fd4c646b243fd4ac8e6d9b6dfc810e00d58fde",
    "msmarco-dl/rank_llm/bm25_dl19.json":
        "4f3e4aba8bb68c1b38405da010f44537f31d3b5fff7088ef97c03caed1076674",
    "msmarco-dl/rank_llm/bm25_dl19.trec.txt":
        "cbada2e4f710f8cafb8f1fd54e2289011b3273cdc044adb2380af21f63a6c861",
    "msmarco-dl/rank_llm/bm25_dl20.json":
        "68b0ea4515ea022de921d54d5a53b4e93ed2f2993d350323c3173e47f3cea9f0",
    "msmarco-dl/rank_llm/bm25rm3_dl19.json":
        "b5ab68b20a83b5f718bfa0d6f788b2f839100123e85c0b95768331d01c676631",
    "msmarco-dl/rank_llm/bm25rm3_dl20.json":
        "22c8290ef0187082a68fde70f5bef0af8e14619d8110a6a92fde97d64e7c31ac",
    "msmarco-dl/rank_llm/rankgpt35_bm25_dl19.trec.txt":
        "99a546b9aeb8ff706219724db9c2fdf24b562e490698af63f77f069b2e32d787",
    "msmarco-dl/rank_llm/rankgpt35_bm25_dl20.trec.txt":
        "4d32f3e5ff8f1397b3ad9d3b2de247d116d8baeab0553f6eff54dd308f11b447",
    "msmarco-dl/rank_llm/spladepp_dl19.json":
        "2b4a11fe6877a4cb0138426add49b3b70bc2d46390ce5a9b0120cca26cec4099",
    "msmarco-dl/rank_llm/spladepp_dl20.json":
        "58fc0d071956898e40384b781217f5a945b2b9dc049045ad9c865521e52a3fbd",
    "msmarco-dl/rank_llm/tasb_dl19.json":
        "6af564b78da890ded64787ca4c6d32de232bfe5b4030e1ca868a8fc75d79baec",
    "msmarco-dl/rank_llm/tasb_dl20.json":
        "a9eb6abdc576d1f3fd17047fc437843c35d6f45ee61abc395986ce3ad932b33b",
    "msmarco-train/devsmall.bm25top20-labeled.jsonl":
        "8659c44a49fc9d585817368f6bf67bf7a3805a175d0c1d63dc39f66f7b304a3f",
    "msmarco-train/devsmall.query-positive.jsonl":
        "870abc1b41809d75604327a32d1ee2afbf74269e542a5e354e90b733e6c67a8d",
    "msmarco-train/train.triples-head100.jsonl":
        "0f3eab25f5d373d532cd38a3cf150e779ba6da25b3c3cf5c29b35178c65702f5",
    "nfcorpus/beir/corpus.jsonl":
        "10cc83ef1826b1425e6a87090b5140b39b27755d5a27e48215a88611c899991f",
    "nfcorpus/beir/qrels/dev.tsv":
        "b1d38b5e8f78c4a5820bce2b7ec2db54911d7690dc601e76811846b211180bd8",
    "nfcorpus/beir/qrels/test.tsv":
        "f8fba6ef3d4dd9c3a242a8ba4ae38276fc3622fce7dcbae764766d564542fd2a",
    "nfcorpus/beir/qrels/train.tsv":
        "6336b80f9bffc4f063f3aa450047ad35c0b7c534efe4a6ba35e16dbace047f6a",
    "nfcorpus/beir/queries.jsonl":
        "d024e6621b84925d485ae473d316a0c3af31c62c8068a59fb29d22f7613aef2a",
    "scifact/beir/corpus.jsonl":
        "d2d0b03f01859f5392dcfd1cd53179ae3d6fdd1291bfa579b2e34b1665e1cef1",
    "scifact/beir/qrels/test.tsv":
        "68c0ac63f1c24b9e8ce497649694f09b2d0850bab7ec2b103cc66996f5f8b3a3",
    "scifact/beir/qrels/train.tsv":
        "ac0902d9b1cb717df182aaff1306175877fdb8f55bb5c3e8597ad694fc8e539f",
    "scifact/beir/queries.jsonl":
        "f33f85a3944794c2a2af28df24dcbfb883614c1e3ac566efc997a74e51e89c57",
    "scifact/reference/anserini.qrels.scifact.test.txt":
        "8b7315286f8dc823956025a1fc9c9ff0bfe142d7b409458ccd758cfa0713ccba",
    "scifact/reference/anserini.topics.scifact.test.tsv":
        "d7c7e6451a8ea46e3b02c30be57ecbf79d3e3a0bbb7fe04d0d74858a53431feb",
}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set's files live under the data root (relative paths) and how to judge relevance."""

    name: str
    description: str
    topics: str | None
    qrels: str | None
    corpus: str | None
    runs: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    rel_level: int = 1
    topics_from_qrels: bool = False  # BEIR: queries.jsonl holds every split; keep the split's queries

    def files(self) -> list[str]:
        """Every relative path this data set uses."""
        paths = [p for p in (self.topics, self.qrels, self.corpus) if p]
        return paths + list(self.runs.values()) + list(self.extra.values())


def _dl(year: str, topics: str) -> DatasetSpec:
    runs = {r: f"msmarco-dl/derived/run.{r}_dl{year}.trec" for r in ("bm25", "bm25rm3", "tasb", "spladepp", "ada2")}
    return DatasetSpec(
        name=f"dl{year}",
        description=f"TREC Deep Learning 20{year} passage (MS MARCO); top-100 first-stage runs with passage text",
        topics=f"msmarco-dl/official/{topics}",
        qrels=f"msmarco-dl/official/qrels.dl{year}-passage.txt",
        corpus="msmarco-dl/derived/collection.tsv",
        runs=runs,
        extra={"queries": f"msmarco-dl/derived/queries.dl{year}.tsv"},
        rel_level=2,
    )


def _beir(name: str, split: str) -> DatasetSpec:
    return DatasetSpec(
        name=f"{name}-{split}",
        description=f"BEIR {name} ({split} queries, full corpus)",
        topics=f"{name}/beir/queries.jsonl",
        qrels=f"{name}/beir/qrels/{split}.tsv",
        corpus=f"{name}/beir/corpus.jsonl",
        rel_level=1,
        topics_from_qrels=True,
    )


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        _dl("19", "topics.dl19-passage.txt"),
        _dl("20", "topics.dl20.txt"),
        _beir("scifact", "train"),
        _beir("scifact", "test"),
        _beir("nfcorpus", "train"),
        _beir("nfcorpus", "dev"),
        _beir("nfcorpus", "test"),
        DatasetSpec(
            name="msmarco-train",
            description="MS MARCO dev-small training text (queries with a positive; 600 with labelled BM25 top-20)",
            topics="msmarco-dl/official/topics.msmarco-passage.dev-subset.txt",
            qrels="msmarco-dl/official/qrels.msmarco-passage.dev-subset.txt",
            corpus=None,
            extra={
                "query_positive": "msmarco-train/devsmall.query-positive.jsonl",
                "bm25top20": "msmarco-train/devsmall.bm25top20-labeled.jsonl",
                "triples_head": "msmarco-train/train.triples-head100.jsonl",
            },
            rel_level=1,
        ),
    ]
}

# Public addresses of the originals that can be fetched file by file (others come from a mirror).
_UPSTREAM: dict[str, str] = {
    "msmarco-dl/official/" + f: ANSERINI_TOOLS + f
    for f in (
        "qrels.dl19-passage.txt",
        "qrels.dl20-passage.txt",
        "topics.dl19-passage.txt",
        "topics.dl20.txt",
        "qrels.msmarco-passage.dev-subset.txt",
        "topics.msmarco-passage.dev-subset.txt",
    )
}


def _candidate_roots() -> list[Path]:
    here = Path(__file__).resolve().parent.parent
    return [Path.cwd() / ".." / "shared" / "data", here / ".." / "shared" / "data"]


def find_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: the argument, else ``$RERANKINJECT_DATA``, else ``../shared/data`` if present.

    Raises:
        DataError: the given or configured folder does not exist, or no default is found.

    """
    if data_root is not None or os.environ.get("RERANKINJECT_DATA"):
        root = Path(data_root if data_root is not None else os.environ["RERANKINJECT_DATA"])
        if not root.is_dir():
            src = "--data-root" if data_root is not None else "$RERANKINJECT_DATA"
            raise DataError(f"data root ({src}) is not a folder: {root}")
        return root.resolve()
    for root in _candidate_roots():
        if root.is_dir():
            return root.resolve()
    raise DataError("no data root found: pass --data-root DIR or set RERANKINJECT_DATA "
                    "(default ../shared/data does not exist)")


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def _verified(path: str, size: int, mtime_ns: int, expected: str) -> bool:
    return sha256_of(Path(path)) == expected


def _check(root: Path, rel: str) -> Path:
    path = root / rel
    if not path.is_file():
        raise DataError(f"data file missing: {path} (fetch it with `python -m rerankinject.datasets download`)")
    expected = _SHA256.get(rel)
    if expected is not None:
        st = path.stat()
        if not _verified(str(path), st.st_size, st.st_mtime_ns, expected):
            raise DataError(f"checksum mismatch for {path}: expected sha256 {expected}")
    return path


class Dataset:
    """A named data set resolved under a data root; every file is checksum-verified on first access."""

    def __init__(self, spec: DatasetSpec, root: Path):
        self.spec = spec
        self.root = root

    @property
    def name(self) -> str:
        """The registered name, e.g. ``dl19``."""
        return self.spec.name

    @property
    def rel_level(self) -> int:
        """Minimum grade counted as relevant by binary measures (2 for TREC DL, 1 for BEIR)."""
        return self.spec.rel_level

    def path(self, rel: str) -> Path:
        """The verified absolute path of one of this data set's files."""
        return _check(self.root, rel)

    @property
    def topics_path(self) -> Path:
        """Path of the topics/queries file."""
        if not self.spec.topics:
            raise DataError(f"data set {self.name!r} has no topics")
        return self.path(self.spec.topics)

    @property
    def qrels_path(self) -> Path:
        """Path of the qrels file."""
        if not self.spec.qrels:
            raise DataError(f"data set {self.name!r} has no qrels")
        return self.path(self.spec.qrels)

    @property
    def corpus_path(self) -> Path:
        """Path of the collection (TSV or JSONL)."""
        if not self.spec.corpus:
            raise DataError(f"data set {self.name!r} has no corpus")
        return self.path(self.spec.corpus)

    def run_path(self, run: str) -> Path:
        """Path of a bundled first-stage run, e.g. ``bm25`` or ``tasb``."""
        if run not in self.spec.runs:
            raise DataError(f"data set {self.name!r} has no run {run!r} (known: {', '.join(self.spec.runs) or 'none'})")
        return self.path(self.spec.runs[run])

    def extra_path(self, key: str) -> Path:
        """Path of an extra file, e.g. ``query_positive`` for ``msmarco-train``."""
        if key not in self.spec.extra:
            raise DataError(f"data set {self.name!r} has no file {key!r} (known: {', '.join(self.spec.extra)})")
        return self.path(self.spec.extra[key])

    def qrels(self) -> dict[str, dict[str, int]]:
        """The relevance judgments ``{qid: {docid: grade}}``."""
        return read_qrels(self.qrels_path)

    def topics(self) -> dict[str, str]:
        """The queries ``{qid: text}`` (for BEIR splits: only the split's queries)."""
        queries = read_queries(self.topics_path)
        if self.spec.topics_from_qrels:
            judged = self.qrels()
            queries = {q: t for q, t in queries.items() if q in judged}
        return queries

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, root={str(self.root)!r})"


def _unknown(name: str) -> DataError:
    return DataError(f"unknown data set {name!r} (known: {', '.join(DATASETS)})")


def load_dataset(name: str, data_root: str | os.PathLike | None = None) -> Dataset:
    """Look up a named data set under the data root.

    Raises:
        DataError: unknown name (the message lists the known ones) or no data root.

    """
    if name not in DATASETS:
        if (Path(name) / LOCAL_SPEC).is_file():
            return load_local_dataset(name)
        raise _unknown(name)
    return Dataset(DATASETS[name], find_data_root(data_root))


LOCAL_SPEC = "dataset.json"
"""The file that makes a folder a local data set (see :func:`load_local_dataset`)."""


def is_dataset(value: str | os.PathLike) -> bool:
    """True for a registered data set name or a local data set folder (one with ``dataset.json``)."""
    return str(value) in DATASETS or (Path(value) / LOCAL_SPEC).is_file()


def load_local_dataset(folder: str | os.PathLike) -> Dataset:
    """A data set described by ``folder/dataset.json`` (paths relative to the folder; no checksums).

    The JSON keys are the :class:`DatasetSpec` fields: ``name``, ``description``, ``topics``, ``qrels``, ``corpus``,
    ``runs`` ({name: file}), ``extra``, ``rel_level``. Derived data sets (e.g. the MS MARCO training set that
    ``scripts/prepare_msmarco.py`` builds) are written this way and used wherever a data set name is accepted.

    Raises:
        DataError: no ``dataset.json``, invalid JSON, or an unknown key (the message names the file).
    """
    from ..io.files import read_json

    spec_path = Path(folder) / LOCAL_SPEC
    if not spec_path.is_file():
        raise DataError(f"not a local data set: {spec_path} does not exist")
    data = read_json(spec_path)
    known = {f.name for f in dataclasses.fields(DatasetSpec)}
    if not isinstance(data, dict) or set(data) - known:
        bad = sorted(set(data) - known) if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{spec_path}: unknown key(s) {bad} (known: {', '.join(sorted(known))})")
    data.setdefault("name", Path(folder).name)
    data.setdefault("description", f"local data set {folder}")
    for key in ("topics", "qrels", "corpus"):
        data.setdefault(key, None)
    return Dataset(DatasetSpec(**data), Path(folder).resolve())


def _looks_like_name(value: str) -> bool:
    return os.sep not in value and "." not in value


def resolve_topics(value: str, data_root: str | os.PathLike | None = None, fmt: str = "auto",
                   field: str = "title") -> dict[str, str]:
    """Topics from a data set name (``dl19``) or a file path (TREC topics, TSV or BEIR JSONL).

    ``fmt`` and ``field`` are those of :func:`~rerankinject.io.formats.read_queries` (files only).
    """
    if is_dataset(value):
        return load_dataset(value, data_root).topics()
    if not Path(value).exists() and _looks_like_name(value):
        raise _unknown(value)
    return read_queries(value, fmt, field)


def resolve_qrels(value: str, data_root: str | os.PathLike | None = None,
                  fmt: str = "auto") -> dict[str, dict[str, int]]:
    """Qrels from a data set name or a file path (TREC or BEIR TSV; ``fmt``: ``auto``, ``trec`` or ``beir``)."""
    if is_dataset(value):
        return load_dataset(value, data_root).qrels()
    if not Path(value).exists() and _looks_like_name(value):
        raise _unknown(value)
    return read_qrels(value, fmt)


def rel_level_for(value: str) -> int:
    """Default relevance level of binary measures for a qrels name or file (2 for TREC DL, else 1)."""
    if value in DATASETS:
        return DATASETS[value].rel_level
    name = Path(value).name.lower()
    return 2 if ("dl19" in name or "dl20" in name or "dl-" in name or "trec-dl" in name) else 1


def _fetch(url: str, dest: Path, expected: str | None) -> None:
    """Download ``url`` to a temporary file beside ``dest``; rename it into place only if the checksum matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.download")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
        if expected is not None and sha256_of(tmp) != expected:
            raise DataError(f"checksum mismatch downloading {url}: expected sha256 {expected}")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        raise DataError(f"could not download {url}: {e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def download(name: str, data_root: str | os.PathLike | None = None, mirror: str | None = None,
             force: bool = False) -> list[Path]:
    """Fetch every file of a data set into the data root, verifying checksums; present valid files are kept.

    Args:
        name: a data set name.
        data_root: destination root (created); default as :func:`find_data_root`, else ``./data``.
        mirror: base URL of a copy of the data root (``https://...`` or ``file:///...``); files without a stable
            public address need it.
        force: download again even when a valid copy is present.

    Returns:
        The paths of the data set's files.

    """
    if name not in DATASETS:
        raise _unknown(name)
    if data_root is None:
        try:
            root = find_data_root()
        except DataError:
            root = Path("data").resolve()
    else:
        root = Path(data_root)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for rel in DATASETS[name].files():
        dest = root / rel
        expected = _SHA256.get(rel)
        if dest.is_file() and not force and (expected is None or sha256_of(dest) == expected):
            logger.info("ok (present): %s", rel)
            out.append(dest)
            continue
        if mirror:
            url = mirror.rstrip("/") + "/" + rel
        elif rel in _UPSTREAM:
            url = _UPSTREAM[rel]
        else:
            raise DataError(f"{rel} has no stable public address on its own; pass --mirror URL "
                            f"(a copy of the data root; sources are listed in docs/datasets.md)")
        logger.info("fetch %s", url)
        _fetch(url, dest, expected)
        out.append(dest)
    return out


