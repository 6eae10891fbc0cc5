"""A real two-node Ray cluster (two raylets on loopback): same outputs as embedded Ray, placement by
resources, and a worker process or the whole second node killed in the middle of an ingest."""
from __future__ import annotations

import json
import random
import signal
import subprocess

import pytest

from cluster_util import dfprep_cmd, env_without_ray, journal_count, parquet_files, run, video_names, wait_for
from dfprep.localcluster import down, kill, node2_pids, up, worker_pids

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    port = random.randrange(20000, 40000, 10)
    address = up(port, head_cpus=2, node_cpus=2)
    yield address, port
    down(port)


def _ingest_args(root, work, address, *extra):
    return dfprep_cmd("ingest", str(root), "--out", str(work), "--frames", "8", "--address", address,
                      "--detector-resource", "detector", "--no-progress", *extra)


def test_two_node_ingest_equals_embedded(cluster, synth_corpus, ingest_work, tmp_path):
    address, port = cluster
    work = tmp_path / "work"
    res = run(_ingest_args(synth_corpus, work, address))
    assert res.returncode == 0, res.stdout + res.stderr
    assert parquet_files(work) == parquet_files(ingest_work)  # same rows, same crops, byte for byte
    s = json.loads((work / "run.json").read_text())
    head_id = {d["node_id"] for d in s["detectors"]}
    assert len(head_id) == 1  # detectors only where the `detector` resource is
    assert len(s["videos_per_node"]) == 2  # decoding ran on both nodes
    assert s["plan"]["cluster"].get("node2") == 1.0


def test_kill_worker_process_mid_ingest(cluster, synth_corpus, ingest_work, tmp_path):
    address, port = cluster
    work = tmp_path / "work"
    proc = subprocess.Popen(_ingest_args(synth_corpus, work, address), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env_without_ray())
    assert wait_for(lambda: journal_count(work) >= 1, timeout=180)
    victims = worker_pids(port, "VideoWorker")
    assert victims, "no VideoWorker process found in the cluster"
    kill(victims[:1], signal.SIGKILL)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out.decode()
    names = video_names(work)
    assert len(names) == len(set(names))  # every video exactly once
    assert parquet_files(work) == parquet_files(ingest_work)
    s = json.loads((work / "run.json").read_text())
    assert s["worker_restarts"] >= 1


def test_kill_second_node_mid_ingest(synth_corpus, ingest_work, tmp_path):
    port = random.randrange(40000, 50000, 10)
    address = up(port, head_cpus=2, node_cpus=2)
    try:
        work = tmp_path / "work"
        proc = subprocess.Popen(_ingest_args(synth_corpus, work, address, "--timeout", "120"),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env_without_ray())
        assert wait_for(lambda: journal_count(work) >= 1, timeout=180)
        victims = node2_pids(port)
        assert victims
        kill(victims, signal.SIGKILL)
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, out.decode()
        names = video_names(work)
        assert len(names) == len(set(names))
        assert parquet_files(work) == parquet_files(ingest_work)
    finally:
        down(port)


def _shard_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.tar"))}


def _comparable_stats(path):
    """stats.json minus what depends on when and where it ran (timings, paths)."""
    s = json.loads(path.read_text())
    for k in ("generated_at", "elapsed_s", "source"):
        s.pop(k, None)
    return s


def test_shards_and_analyze_equal_on_cluster(cluster, ingest_work, tmp_path):
    address, _ = cluster
    args = ["--split", "0.6,0.2,0.2", "--samples-per-shard", "16", "--seed", "3", "--no-progress"]
    local = run(dfprep_cmd("shards", str(ingest_work), "--out", str(tmp_path / "s_local"), "--num-cpus", "2",
                           *args))
    assert local.returncode == 0, local.stdout + local.stderr
    remote = run(dfprep_cmd("shards", str(ingest_work), "--out", str(tmp_path / "s_cluster"), "--address",
                            address, *args))
    assert remote.returncode == 0, remote.stdout + remote.stderr
    a, b = _shard_bytes(tmp_path / "s_local"), _shard_bytes(tmp_path / "s_cluster")
    assert a and a == b  # same shard checksums
    ia = json.loads((tmp_path / "s_local" / "index.json").read_text())
    ib = json.loads((tmp_path / "s_cluster" / "index.json").read_text())
    assert ia["splits"] == ib["splits"]
    # analyze reads the same WORK on any cluster: the numbers are the same
    for name in ("r1", "r2"):
        res = run(dfprep_cmd("analyze", str(ingest_work), "--out", str(tmp_path / name), "--no-augment-preview"))
        assert res.returncode == 0, res.stdout + res.stderr
    assert _comparable_stats(tmp_path / "r1" / "stats.json") == _comparable_stats(tmp_path / "r2" / "stats.json")
