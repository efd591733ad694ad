"""The Ray engine on a real local cluster (2 CPUs, started once): equality with the local engine, a replica lost in
mid-run, the 2-CPU pool-sizing trap, bad input refused before any Ray work, and the dense index built on Ray.

Real data (a SciFact slice), a tiny real BERT cross-encoder and MiniLM; neither Ray nor the models are mocked.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from rerankinject.cluster import RayOptions, actor_stage, plan_pool  # noqa: E402
from rerankinject.injection.recipe import recipe_for_variant  # noqa: E402
from rerankinject.io.runs import read_run  # noqa: E402
from rerankinject.rerank.__main__ import main as rerank_main  # noqa: E402
from rerankinject.rerank.reranker import ScoreInjectReranker  # noqa: E402
from tests._ce_util import make_tiny_bert  # noqa: E402
from tests._slices import scifact_slice, write_corpus  # noqa: E402

DEPTH = 20


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray of 2 CPUs for the module (the machine's cores); its GCS address for other drivers."""
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def files(tmp_path_factory, data_root):
    """A SciFact slice: corpus, 12 topics and a BM25-shaped run of the top 20 per query (real texts)."""
    tmp = tmp_path_factory.mktemp("ray")
    docs, topics, _ = scifact_slice(data_root, n_docs=60, n_queries=12)
    corpus = write_corpus(docs, tmp / "corpus.jsonl")
    (tmp / "topics.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in topics.items()))
    lines = []
    for n, q in enumerate(topics):
        ids = [docs[(n * 7 + i) % len(docs)].doc_id for i in range(DEPTH + 5)]
        lines += [f"{q} Q0 {d} {r + 1} {30.0 - r * 0.7 - n * 0.01:.4f} bm25\n" for r, d in enumerate(ids)]
    (tmp / "run.trec").write_text("".join(lines))
    model = make_tiny_bert(tmp / "bm25cat", recipe=recipe_for_variant("BM25CAT"))
    return tmp, corpus, tmp / "topics.tsv", tmp / "run.trec", model


def _argv(files, out: Path, *extra: str) -> list[str]:
    tmp, corpus, topics, run, model = files
    return ["--run", str(run), "--topics", str(topics), "--corpus", str(corpus), "--model", str(model),
            "--source", f"bm25={run}", "--depth", str(DEPTH), "--batch-size", "8", "--group-pairs", "64",
            "--device", "cpu", "--output", str(out), *extra]


@pytest.fixture(scope="module")
def local_run(files):
    out = files[0] / "local.trec"
    assert rerank_main(_argv(files, out, "--threads", "2")) == 0
    return out


def _within(a: Path, b: Path, tol: float) -> None:
    ra, rb = read_run(a), read_run(b)
    assert list(ra) == list(rb)
    for q in ra:
        sa = {r.doc_id: r.score for r in ra[q]}
        sb = {r.doc_id: r.score for r in rb[q]}
        assert sa.keys() == sb.keys()
        assert max(abs(sa[d] - sb[d]) for d in sa) <= tol


def test_plan_pool_leaves_cpu_for_tasks():
    plan = plan_pool({"CPU": 2.0})
    assert plan.replicas == 2 and plan.replicas * plan.cpus <= 2.0 - 1.0 and plan.threads == 1
    assert plan_pool({"CPU": 8.0}, replicas=2).cpus == 1.0
    gpu = plan_pool({"CPU": 16.0, "GPU": 8.0}, gpus_per_replica=1)
    assert (gpu.replicas, gpu.gpus, gpu.cpus) == (8, 1.0, 1.0)
    with pytest.raises(ValueError, match="GPUs"):
        plan_pool({"CPU": 2.0}, replicas=2, gpus_per_replica=1)


def test_rerank_ray_byte_identical_to_local(ray_cluster, files, local_run):
    """Same groups and batches on both engines: the TREC files are byte-identical (pool of 2 on 2 CPUs)."""
    out = files[0] / "ray.trec"
    assert rerank_main(_argv(files, out, "--engine", "ray")) == 0
    assert out.read_bytes() == local_run.read_bytes()


def test_replica_lost_mid_run_still_equal(ray_cluster, files, local_run, tmp_path):
    """A replica exits its process on its 3rd batch; Ray restarts it and retries: the run equals the local one."""
    marker = tmp_path / "chaos"
    opts = RayOptions(replicas=2, max_restarts=2, max_task_retries=3, chaos=(3, str(marker)))
    tmp, corpus, topics, run, model = files
    rr = ScoreInjectReranker(model, batch_size=8, group_pairs=64, ray=opts)
    from rerankinject.io.formats import read_collection

    topics_d = dict(line.split("\t", 1) for line in topics.read_text().splitlines())
    runs = read_run(run)
    got = rr.rerank_run(runs, topics_d, read_collection(corpus), {"bm25": runs}, depth=DEPTH)
    assert marker.exists(), "no replica died: the fault was not injected"
    want = read_run(local_run)
    assert list(got) == list(want)
    for q in want:
        assert [(r.doc_id, r.score) for r in got[q]] == [(r.doc_id, r.score) for r in want[q]]


def _task_then_pool_job(plan, options) -> list[int]:
    """A task stage (like a read) feeding an actor pool: the shape that starved on 2 CPUs."""

    class Echo:
        def __call__(self, batch):
            return {"id": np.asarray(batch["id"]) * 2}

    ds = ray.data.range(40, override_num_blocks=8).map_batches(lambda b: {"id": b["id"]}, num_cpus=0.25)
    return sorted(int(r["id"]) for r in actor_stage(ds, Echo, plan, options, {}).iter_rows())


def test_pool_sized_from_cluster_does_not_hang(ray_cluster):
    """Two replicas on 2 CPUs plus a task stage finish; one whole CPU per actor (the old trap) would hang forever."""
    opts = RayOptions(replicas=2)
    plan = plan_pool(ray.cluster_resources(), opts.replicas)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(_task_then_pool_job(plan, opts)), daemon=True)
    t0 = time.perf_counter()
    worker.start()
    worker.join(timeout=90)
    assert not worker.is_alive(), "the Ray job hung: the actor pool starves the task stage (2-CPU trap)"
    assert result and result[0] == [2 * i for i in range(40)]
    assert time.perf_counter() - t0 < 90


def test_cli_ray_address_and_bad_input_before_any_ray_work(ray_cluster, files, tmp_path, local_run):
    """Another process joins the cluster with --ray-address; a bad run fails with file:line before any Ray work.

    The joined run scores in other groups (``--group-pairs 1``: other batches, other padding) on one replica: equal
    to the local run within 1e-5, as a shard merge is.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = tmp_path / "addr.trec"
    argv = [*_argv(files, out, "--engine", "ray", "--ray-address", ray_cluster, "--replicas", "1")]
    argv[argv.index("--group-pairs") + 1] = "1"
    p = subprocess.run([sys.executable, "-m", "rerankinject.rerank", *argv], env=env, capture_output=True, text=True,
                       timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    _within(out, local_run, 1e-5)
    bad = tmp_path / "bad.trec"
    bad.write_text(files[3].read_text() + "q-missing Q0 nodoc 1 1.0 bm25\n")
    argv = _argv(files, tmp_path / "bad-out.trec", "--engine", "ray")
    argv[argv.index(str(files[3]))] = str(bad)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "rerankinject.rerank", *argv], env=env, capture_output=True,
                       text=True, timeout=240)
    n_lines = len(bad.read_text().splitlines())
    assert p.returncode == 1
    assert f"{bad}:{n_lines}:" in p.stderr and "not in the topics" in p.stderr
    assert "Started a local Ray instance" not in p.stderr and "ray cluster" not in p.stderr
    assert not (tmp_path / "bad-out.trec").exists()
    assert time.perf_counter() - t0 < 120


def test_dense_index_ray_equals_local(ray_cluster, files, tmp_path):
    """The dense index built on Ray: same doc ids and embeddings within 1e-5 of the local build (MiniLM)."""
    import faiss

    from rerankinject.index.faiss import build_dense_index

    corpus = files[1]
    some = [line.split('"_id": "')[1].split('"')[0] for line in corpus.read_text().splitlines()[:24]]
    build_dense_index(corpus, tmp_path / "local", shard_size=8, batch_size=4, device="cpu", progress=False,
                      doc_ids=some)
    meta = build_dense_index(corpus, tmp_path / "ray", shard_size=8, batch_size=4, device="cpu", progress=False,
                             doc_ids=some, ray=RayOptions(replicas=2))
    assert meta is not None and meta["device"] == "ray:cpu"
    assert (tmp_path / "ray" / "docid").read_text() == (tmp_path / "local" / "docid").read_text()
    a = faiss.read_index(str(tmp_path / "local" / "index"))
    b = faiss.read_index(str(tmp_path / "ray" / "index"))
    ea, eb = a.reconstruct_n(0, a.ntotal), b.reconstruct_n(0, b.ntotal)
    assert ea.shape == eb.shape
    np.testing.assert_allclose(eb, ea, atol=1e-5, rtol=0)
    print(f"dense ray vs local: max |diff| {np.abs(eb - ea).max():.3g} over {ea.shape}")
