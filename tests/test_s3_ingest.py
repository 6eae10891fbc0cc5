"""`dfprep ingest` with ROOT and WORK in object storage: a real S3 server (moto) on 127.0.0.1."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.fs as pafs
import pytest

from cluster_util import env_without_ray
from hold_util import held, hold_env, last_scheduled, release, wait_until
from dfprep.storage import RemotePath


def upload_tree(local, dest: RemotePath) -> None:
    pafs.copy_files(str(local), dest.fs_path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=dest.fs)


def store_files(work) -> dict[str, bytes]:
    """Every batch file of a WORK (local Path or RemotePath), by its path under WORK."""
    out = {}
    for sub in ("videos.parquet", "faces.parquet"):
        for p in sorted((work / sub).rglob("*.parquet")):
            out[str(p.relative_to(work))] = p.read_bytes()
    return out


def test_ingest_from_and_into_s3_equals_local(bucket, synth_corpus, ingest_work):
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    upload_tree(synth_corpus, bucket / "root")
    s = ingest(bucket / "root", bucket / "work", IngestConfig(frames=8, num_cpus=2, progress=False))
    assert s.processed_this_run == 16 and s.root == str(bucket / "root")
    assert store_files(bucket / "work") == store_files(ingest_work)     # byte for byte the local run's files
    left = [p.relative_to(bucket) for p in bucket.rglob("*") if ".tmp-" in p.name or "_journal" in str(p)]
    assert left == []                                                  # no temporary key, no journal left
    run = json.loads((bucket / "work" / "run.json").read_text())
    assert run["stages"]["cpu_s"]["fetch"] > 0                          # videos were read from the store
    again = ingest(bucket / "root", bucket / "work", IngestConfig(frames=8, num_cpus=2, progress=False))
    assert again.processed_this_run == 0 and again.resumed == 16


@pytest.mark.slow
def test_store_killed_mid_ingest_then_rerun_completes(s3_server, synth_corpus, ingest_work, tmp_path):
    """The server goes away mid-run: one clear line, exit 1; back again, the same command completes with
    every video exactly once and the same files as a local run.

    The store stops at a known point: the last video handed out is held by its worker (`hold_util`) until a
    result is in the bucket and the server is down; then it is released and must read the video from the
    dead store."""
    bucket = RemotePath("s3", s3_server.new_bucket())
    upload_tree(synth_corpus, bucket / "root")
    work = bucket / "work"
    cmd = [sys.executable, "-m", "dfprep", "ingest", str(bucket / "root"), "--out", str(work), "--frames", "8",
           "--num-cpus", "2", "--no-progress", "--batch-videos", "2"]
    video, gate = last_scheduled(synth_corpus), tmp_path / "gate"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=hold_env(env_without_ray(), video, gate))
    wait_until(proc, lambda: held(gate, video) and any(work.rglob("*.arrow")), f"{video} held with a journal "
               "file in the bucket")
    s3_server.stop()
    release(gate, video)
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        s3_server.start()
    text = out.decode()
    assert proc.returncode == 1, text
    assert "the store" in text and "Traceback" not in text, text
    assert "rerun the same command" in text
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env_without_ray())
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads((work / "run.json").read_text())
    assert run["resumed"] > 0 and run["resumed"] + run["processed_this_run"] == 16
    assert _rows_equal(work, ingest_work)        # other batch cuts (--batch-videos 2), the same rows


def _rows_equal(a, b) -> bool:
    from dfprep.storage import dataset

    def rows(w):
        t = dataset(w / "faces.parquet").to_table().sort_by([("part", "ascending"), ("video", "ascending"),
                                                              ("frame_idx", "ascending"), ("track_id", "ascending")])
        v = dataset(w / "videos.parquet").to_table().sort_by([("part", "ascending"), ("video", "ascending")])
        return t, v
    (fa, va), (fb, vb) = rows(a), rows(b)
    return fa.equals(fb) and va.equals(vb)
