"""How ingest uses a machine: the plan for every resource shape, refusals that name what is missing, and
real runs on 1 CPU, with detector actors, and with an impossible request (no hang)."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.dataset as ds
import pytest

from cluster_util import env_without_ray
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.resources import ResourceError, make_plan


def cpu_node(n):
    return {"CPU": float(n)}


def test_plan_cpu_only_detects_in_every_worker():
    for cpus in (1, 2, 16):
        p = make_plan(IngestConfig(), [cpu_node(cpus)])
        assert (p.detection, p.detectors, p.workers, p.worker_cpus, p.inflight_per_worker) == \
            ("in-worker", 0, cpus, 1.0, 1)
        assert p.device == "cpu" and p.detector_threads == 1 and not p.det_cross_video
    p = make_plan(IngestConfig(), [cpu_node(4)] * 3)          # a cluster whose nodes have no GPU
    assert (p.detection, p.workers, p.nodes) == ("in-worker", 12, 3)
    assert "2 decode worker(s)" in make_plan(IngestConfig(), [cpu_node(2)]).describe()


def test_plan_gpu_node_uses_detector_actors_and_two_videos_per_worker():
    p = make_plan(IngestConfig(), [{"CPU": 16.0, "GPU": 1.0}])
    assert (p.detection, p.device, p.detectors, p.detector_gpus, p.detector_cpus) == ("actors", "cuda", 1, 1.0, 1.0)
    assert (p.workers, p.worker_cpus, p.inflight_per_worker, p.det_cross_video) == (15, 1.0, 2, True)
    p = make_plan(IngestConfig(gpus_per_detector=0.25), [{"CPU": 16.0, "GPU": 1.0}])
    assert (p.detectors, p.workers) == (4, 12)
    # GPU node plus CPU-only nodes: detectors fit only on the GPU node, workers use every CPU left
    p = make_plan(IngestConfig(), [{"CPU": 8.0, "GPU": 2.0}, cpu_node(8), cpu_node(8)])
    assert (p.detectors, p.workers) == (2, 22)
    # dlib never asks for a GPU
    assert make_plan(IngestConfig(detector="dlib"), [{"CPU": 4.0, "GPU": 1.0}]).detection == "in-worker"


def test_plan_cpu_detector_actors_on_one_cpu_share_it():
    p = make_plan(IngestConfig(detectors=1), [cpu_node(1)])
    assert (p.detection, p.detectors, p.workers) == ("actors", 1, 1)
    assert p.detector_cpus + p.workers * p.worker_cpus <= 1.0 and p.worker_cpus > 0
    p = make_plan(IngestConfig(detectors=1), [cpu_node(2)])
    assert (p.detector_cpus, p.workers, p.worker_cpus, p.inflight_per_worker) == (1.0, 1, 1.0, 2)


@pytest.mark.parametrize("cfg, nodes, words", [
    (IngestConfig(gpus_per_detector=1), [cpu_node(2)], ["face detector", "GPU"]),
    (IngestConfig(detector_resource="detector"), [cpu_node(2), cpu_node(2)], ["face detector", "detector"]),
    (IngestConfig(detectors=3), [{"CPU": 16.0, "GPU": 1.0}], ["3 face detectors", "at most 1"]),
    (IngestConfig(), [{"CPU": 0.0, "GPU": 1.0}], ["no CPU"]),
    (IngestConfig(), [], ["no CPU"]),
])
def test_plan_refuses_what_no_node_can_offer(cfg, nodes, words):
    with pytest.raises(ResourceError) as exc:
        make_plan(cfg, nodes)
    msg = str(exc.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def _files(work):
    return {str(p.relative_to(work)): p.read_bytes()
            for sub in ("videos.parquet", "faces.parquet") for p in sorted((work / sub).rglob("*.parquet"))}


def _intervals(work):
    out = []
    for line in (work / "timeline.jsonl").read_text().splitlines():
        rec = json.loads(line)
        out.append((rec["video"], rec["spans"]))
    return out


def _decode_during_other_detect(work) -> int:
    """Pairs of different videos where one was being decoded while the other was in face detection."""
    recs = _intervals(work)
    n = 0
    for va, a in recs:
        for vb, b in recs:
            if va != vb and "decode" in a and "detect" in b:
                if a["decode"][0] < b["detect"][1] and b["detect"][0] < a["decode"][1]:
                    n += 1
    return n


def test_stages_of_different_videos_overlap(ingest_work):
    """Default plan on 2 CPUs (detection in each worker): decoding and detection of different videos run
    at the same time, measured from the workers' own stage timestamps."""
    run = json.loads((ingest_work / "run.json").read_text())
    assert run["plan"]["workers"] == 2 and run["plan"]["detection"] == "in-worker"
    assert _decode_during_other_detect(ingest_work) > 0
    assert run["stages"]["decode_detect_overlap_s"] > 0 and run["stages"]["videos"] == run["processed_this_run"]
    assert set(run["stages"]["cpu_s"]) >= {"probe", "decode", "detect", "crop", "write"}


def test_detector_actor_overlaps_decoding_and_gives_the_same_files(synth_corpus, ingest_work, tmp_path):
    """One worker, one CPU detector actor, decord: the worker decodes its next video while the actor
    detects the last one; the crops equal the in-worker plan's (default decoder) byte for byte."""
    from dfprep.ingest.run import ingest

    work = tmp_path / "w"
    s = ingest(synth_corpus, work, IngestConfig(frames=8, num_cpus=2, detectors=1, workers=1, decoder="decord",
                                                progress=False))
    assert (s.plan["detection"], s.plan["workers"], s.plan["inflight_per_worker"]) == ("actors", 1, 2)
    assert _decode_during_other_detect(work) > 0
    faces = {k: v for k, v in _files(work).items() if k.startswith("faces")}
    assert faces == {k: v for k, v in _files(ingest_work).items() if k.startswith("faces")}
    videos = ds.dataset(work / "videos.parquet").to_table()
    assert set(videos.column("decoder").to_pylist()) == {"decord"}
    assert videos.drop(["decoder"]).equals(ds.dataset(ingest_work / "videos.parquet").to_table().drop(["decoder"]))


def test_one_cpu_completes(synth_corpus, ingest_work, tmp_path):
    work = tmp_path / "w"
    cmd = [sys.executable, "-m", "dfprep.cli", "ingest", str(synth_corpus), "--out", str(work), "--frames", "8",
           "--num-cpus", "1", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env_without_ray())
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads((work / "run.json").read_text())
    assert run["plan"]["workers"] == 1 and run["plan"]["cpus"] == 1.0
    assert _files(work) == _files(ingest_work)
    assert all(r["status"] == "ok" for r in ds.dataset(work / "videos.parquet").to_table().to_pylist())


@pytest.mark.parametrize("extra, word", [(["--gpus-per-detector", "1"], "GPU"),
                                         (["--detector-resource", "tpu_box"], "tpu_box")])
def test_impossible_request_stops_at_once_with_one_line(synth_corpus, tmp_path, extra, word):
    work = tmp_path / "w"
    cmd = [sys.executable, "-m", "dfprep.cli", "ingest", str(synth_corpus), "--out", str(work), "--num-cpus", "2",
           "--no-progress", *extra]
    # A wait for a placement would outlast this timeout (the scheduler's placement limit is 120 s).
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env_without_ray())
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot place" in lines[0] and word in lines[0], lines
    assert not (work / "videos.parquet").exists()
