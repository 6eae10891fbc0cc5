"""train, predict, evaluate and explain on remote paths: a real S3 server (moto's, on 127.0.0.1) and a plain http
server (Python's), against the same commands on local folders, which they must equal byte for byte.

The shards and runs are the smallest of tests/test_train.py and tests/test_predict.py. Every torch computation
here runs on one thread: the reference and the remote runs must do the same arithmetic, and a shared 2-core
machine trains ~15x faster that way.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import torch

from dfprep.shards.config import ShardsUsageError
from dfprep.storage import RemotePath, StorageError, as_path
from dfprep.train.config import TrainConfig
from dfprep.train.errors import BadShardError, TrainUsageError
from test_train import write_shards

REPO = Path(__file__).resolve().parents[1]
TRAIN = dict(model="smallcnn", epochs=2, batch_size=8, input_size=32, workers=2, lr=3e-3, seed=3, augment=True,
             deterministic=True, device="cpu", progress=False)
TRAIN_FLAGS = ["--model", "smallcnn", "--epochs", "2", "--batch-size", "8", "--input-size", "32", "--workers", "2",
               "--lr", "0.003", "--seed", "3", "--augment", "--deterministic", "--device", "cpu", "--no-progress"]
TIMINGS = {"seconds", "train_seconds", "val_seconds", "train_samples_per_s"}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _upload(local: Path, dest: RemotePath) -> RemotePath:
    pafs.copy_files(str(local), dest.fs_path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=dest.fs)
    return dest


def _stable(obj):
    """metrics.json without its wall-clock timings (the only values two equal runs do not share)."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def _files(run) -> set[str]:
    """The files of a RUN, the TensorBoard event file names (which carry a time and a host) as `tb/*`."""
    names = {p.relative_to(run) if isinstance(p, RemotePath) else p.relative_to(run).as_posix()
             for p in run.rglob("*") if p.is_file()}
    return {"tb/*" if n.startswith("tb/") else n for n in names}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**TRAIN, **kw})


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """2 train shards (2 steps an epoch), 1 val, 1 test; 8 samples of 32 px each."""
    return write_shards(tmp_path_factory.mktemp("shards"), splits=(("train", 2), ("val", 1), ("test", 1)),
                        per_shard=8, per_video=2, size=32)


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory) -> Path:
    """The same training on local folders: what every remote run must equal."""
    from dfprep.train.run import train

    run = tmp_path_factory.mktemp("local") / "run"
    assert train(shards, run, _cfg()).status == "complete"
    return run


@pytest.fixture(scope="module")
def remote_shards(shards, s3_server) -> RemotePath:
    return _upload(shards, as_path(f"s3://{s3_server.new_bucket()}/shards"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Python's static file server (no Range requests, like many simple servers), recording what it was asked."""
    requests: list = []

    def log_message(self, *args) -> None:
        pass

    def log_request(self, code="-", size="-") -> None:
        type(self).requests.append((self.command, self.path))


@pytest.fixture(scope="module")
def http_shards(shards):
    handler = type("Handler", (_QuietHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(shards)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def assert_same_run(remote: RemotePath, local: Path) -> None:
    assert _sha((remote / "model.pt").read_bytes()) == _sha((local / "model.pt").read_bytes())
    assert _stable(json.loads((remote / "metrics.json").read_text())) == \
        _stable(json.loads((local / "metrics.json").read_text()))
    for name in ("val_predictions.csv", "test_predictions.csv", "rank0_shards.json", "steps.csv"):
        assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    epochs = {"checkpoints/epoch-001.pt", "checkpoints/epoch-002.pt"}     # how many are kept is an option
    assert _files(remote) - epochs == _files(local) - epochs
    assert not list(remote.rglob(".tmp-*"))                 # every object was moved onto its name whole


# --- train -----------------------------------------------------------------------------------------------------

def test_train_from_s3_and_from_http_into_s3_equals_local(reference, remote_shards, http_shards, bucket):
    from dfprep.train.run import train

    url, requests = http_shards
    for source, run, named in ((remote_shards, bucket / "from-s3", remote_shards.uri),
                               (url, bucket / "from-http", url.rstrip("/"))):
        s = train(source, run, _cfg())                   # 2 DataLoader workers, each opening its own streams
        assert s.status == "complete"
        assert_same_run(run, reference)
        assert json.loads((run / "config.json").read_text())["shards"] == named       # the URI, not a local path
    # index.json and whole shards, streamed: no folder listing, no ranged re-reads of one shard
    tars = {f"/{p}" for p in json.loads((reference / "rank0_shards.json").read_text())}
    gets = [p for m, p in requests if m == "GET"]
    assert set(gets) <= {"/index.json", "/val-000000.tar", "/test-000000.tar"} | tars and tars <= set(gets)


def test_resume_from_a_remote_run(reference, remote_shards, bucket):
    from dfprep.train.run import train

    run = bucket / "run"
    s = train(remote_shards, run, _cfg(max_steps=3))      # stops mid-way through epoch 2
    assert s.status == "stopped" and (run / "checkpoints" / "last.pt").is_file()
    with pytest.raises(TrainUsageError, match=f"{run} already holds a run; use --resume"):
        train(remote_shards, run, _cfg())
    # an upload cut off by a failure leaves a temporary key: never read, removed by the next run
    (run / "checkpoints" / ".tmp-0badf00d-last.pt").write_bytes(b"half a checkpoint")
    s = train(remote_shards, run, _cfg(resume=True, keep_checkpoints=1))
    assert s.status == "complete" and s.steps == 4
    assert_same_run(run, reference)
    # epoch-001.pt, pulled to resume, is dropped from the store as it is locally (one epoch checkpoint kept)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-002.pt", "last.pt"]


def _tamper(shards: Path, dest: Path) -> Path:
    """A copy of SHARDS whose first train shard has one sample's label flipped: same size, another sha256."""
    shutil.copytree(shards, dest)
    tar = dest / "train-000000.tar"
    with tarfile.open(tar) as t:
        member = next(m for m in t.getmembers() if m.name.endswith(".cls"))
    data = bytearray(tar.read_bytes())
    data[member.offset_data] = ord("1") if data[member.offset_data] == ord("0") else ord("0")
    tar.write_bytes(bytes(data))
    return dest


def test_a_tampered_remote_shard_is_refused_as_a_local_one(shards, bucket, tmp_path):
    from typer.testing import CliRunner

    from dfprep.train.run import train
    from test_train import _app

    tampered = _tamper(shards, tmp_path / "tampered")
    with pytest.raises(BadShardError) as local:
        train(tampered, tmp_path / "run", _cfg(epochs=1, workers=0))
    remote = _upload(tampered, bucket / "shards")
    res = CliRunner().invoke(_app(), [str(remote), "--out", str(bucket / "run"), *TRAIN_FLAGS, "--workers", "0"])
    text = " ".join(res.output.split())
    assert res.exit_code == 1 and text.startswith("error: shard s3://") and len(res.output.strip().splitlines()) == 1
    assert "sha256" in text
    assert text == f"error: {local.value}".replace(str(tampered.resolve()), str(remote))   # the same check, word for word
    assert not (bucket / "run" / "model.pt").exists()


@pytest.mark.slow
def test_the_store_failing_mid_train_is_one_line_and_resume_finishes(reference, remote_shards, bucket, s3_server):
    """The server goes away after the first epoch's checkpoint: one line, exit 1; back, `--resume` finishes the
    run as if nothing happened."""
    run = bucket / "run"
    cmd = [sys.executable, "-m", "dfprep", "train", str(remote_shards), "--out", str(run), *TRAIN_FLAGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (run / "checkpoints" / "last.pt").is_file():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGSTOP)              # frozen while the store goes away: nothing races it
        s3_server.stop()
        os.killpg(proc.pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        s3_server.start()
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]      # errors go to stderr, one line
    assert proc.returncode == 1, out + err
    assert len(lines) == 1 and lines[0].startswith("error: s3://") and "cannot" in lines[0], out + err
    assert "the store failed, not the data: rerun with --resume" in lines[0] and "Traceback" not in err
    res = subprocess.run(cmd + ["--resume"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert_same_run(run, reference)


# --- predict, evaluate, explain ----------------------------------------------------------------------------------

FRAMES = 4


@pytest.fixture(scope="module")
def results_layout(synth_corpus, tmp_path_factory, s3_server) -> tuple[Path, RemotePath, list[str]]:
    """BASE/run (test_predict's small frame RUN) and BASE/root/dfdc_train_part_0 (a single-face, a two-face and a
    no-face video of the synth corpus, a truncated copy, their metadata.json); the same tree in a bucket."""
    from dfprep.formats.run import write_config
    from dfprep.train.checkpoint import save_model
    from dfprep.train.models import build_model

    base = tmp_path_factory.mktemp("results")
    torch.manual_seed(0)
    model = build_model("smallcnn")
    with torch.no_grad():
        model.head.weight.abs_()
        model.head.bias.zero_()
    save_model(base / "run", model)
    write_config(base / "run", {"model": "smallcnn", "unit": "frame", "clip_len": None, "input_size": 64,
                               "video_agg": "mean"})
    src = synth_corpus / "dfdc_train_part_0"
    kinds = json.loads((synth_corpus / "synth.json").read_text())["parts"]["dfdc_train_part_0"]["videos"]
    names = [min(n for n, v in kinds.items() if v["kind"] == k) for k in ("single_face", "multi_face", "no_face")]
    part = base / "root" / "dfdc_train_part_0"
    part.mkdir(parents=True)
    for n in names:
        shutil.copy(src / n, part / n)
    (part / "zz_truncated.mp4").write_bytes((src / names[0]).read_bytes()[:5000])
    meta = json.loads((src / "metadata.json").read_text())
    (part / "metadata.json").write_text(json.dumps({n: meta[n] for n in names}))
    return base, _upload(base, as_path(f"s3://{s3_server.new_bucket()}")), names


@pytest.fixture(scope="module")
def local_submission(results_layout, tmp_path_factory) -> Path:
    from dfprep.inference.predict import predict

    base, _, _ = results_layout
    out = tmp_path_factory.mktemp("local_pred") / "sub.csv"
    predict(base / "run", base / "root", out, frames=FRAMES, workers=0, device="cpu")
    return out


def _scores(report: dict) -> dict:
    return {n: (v["prob"], v["n_faces"], v["n_scored"], v["reason"] is None) for n, v in report["per_video"].items()}


def test_predict_evaluate_explain_with_every_path_on_s3(results_layout, local_submission, tmp_path, monkeypatch):
    from dfprep.inference.evaluate import evaluate_submission
    from dfprep.inference.explain import explain
    from test_predict import _cli

    base, bucket, names = results_layout
    monkeypatch.setenv("DFPREP_SPOOL_DIR", str(tmp_path / "spool"))
    sub = bucket / "out" / "sub.csv"
    res = _cli("predict", str(bucket / "run"), str(bucket / "root"), "--out", str(sub), "--frames", str(FRAMES),
               "--workers", "0", "--device", "cpu", "--no-progress")
    assert res.exit_code == 0, res.output
    assert sub.read_bytes() == local_submission.read_bytes()
    report = json.loads((bucket / "out" / "sub.csv.report.json").read_text())
    local = json.loads(local_submission.with_name("sub.csv.report.json").read_text())
    assert _scores(report) == _scores(local) and report["submission"] == str(sub)
    assert report["per_video"]["zz_truncated.mp4"]["reason"].startswith("not decoded")
    assert sum(v["reason"] is None for v in report["per_video"].values()) == 2
    assert sorted(p.name for p in (bucket / "out").iterdir()) == ["sub.csv", "sub.csv.report.json"]
    spooled = tmp_path / "spool" / "dfprep-spool"
    assert spooled.is_dir() and not list(spooled.iterdir())    # each video was spooled, and deleted once decoded

    metrics = bucket / "out" / "metrics.json"
    res = _cli("evaluate", str(sub), str(bucket / "root"), "--out", str(metrics))
    assert res.exit_code == 0, res.output
    expected = json.loads(json.dumps(evaluate_submission(local_submission, base / "root").as_json()))
    got = json.loads(metrics.read_text())
    assert got["metrics"] == expected["metrics"] and got["matched"] == 3
    assert (got["missing"], got["extra"]) == (expected["missing"], expected["extra"]) == ([], ["zz_truncated.mp4"])

    video = names[1]                                        # two faces
    cams = bucket / "cams"
    res = _cli("explain", str(bucket / "run"), str(bucket / "root" / "dfdc_train_part_0" / video), "--out", str(cams),
               "--frames", "2", "--device", "cpu")
    assert res.exit_code == 0, res.output
    want = explain(base / "run", base / "root" / "dfdc_train_part_0" / video, tmp_path / "cams", frames=2,
                   device="cpu")
    index = json.loads((cams / "index.json").read_text())
    assert index["items"] == json.loads(json.dumps(want.as_json()["items"])) and len(index["items"]) == 4
    for it in index["items"]:
        assert (cams / it["file"]).read_bytes() == (tmp_path / "cams" / it["file"]).read_bytes()
    assert not list(bucket.rglob(".tmp-*"))


@pytest.mark.slow
def test_predict_on_ray_spools_each_remote_video_in_its_worker(results_layout, local_submission, tmp_path,
                                                              monkeypatch):
    import ray

    from test_predict import _cli

    _, bucket, _ = results_layout
    spool, staging = tmp_path / "worker-spool", tmp_path / "staging"
    monkeypatch.setenv("DFPREP_STAGING_DIR", str(staging))     # the journal of a remote OUT
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "DFPREP_SPOOL_DIR": str(spool)}})
    try:
        sub = bucket / "ray" / "sub.csv"
        res = _cli("predict", str(bucket / "run"), str(bucket / "root"), "--out", str(sub), "--frames", str(FRAMES),
                   "--device", "cpu", "--no-progress")
    finally:
        ray.shutdown()
    assert res.exit_code == 0, res.output
    assert sub.read_bytes() == local_submission.read_bytes()
    assert (spool / "dfprep-spool").is_dir() and not list((spool / "dfprep-spool").iterdir())   # by the workers
    assert staging.is_dir() and not list(staging.iterdir())


def test_a_store_that_fails_is_never_blamed_on_the_data(results_layout, s3_server):
    """The store not answering is a StorageError naming the object: not a missing index.json, not a bad shard,
    not a video scored 0.5; the commands say so in one line, exit 1."""
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import read_index
    from dfprep.inference.inputs import list_videos
    from dfprep.inference.predict import crop_detector, ingest_config, predict_videos
    from test_predict import _cli

    _, bucket, _ = results_layout
    videos = list_videos(bucket / "root")
    model, cfg = load_model(bucket / "run")
    icfg = ingest_config(FRAMES)
    detect = crop_detector(icfg).detect
    s3_server.stop()
    try:
        with pytest.raises(StorageError, match=r"s3://.*/shards.*cannot read from the store"):
            read_index(bucket / "shards")
        with pytest.raises(StorageError, match=rf"{videos[0]}: cannot read from the store"):
            predict_videos(model, cfg, videos, icfg, detect)
        res = _cli("evaluate", str(bucket / "sub.csv"), str(bucket / "root"))
    finally:
        s3_server.start()
    assert res.exit_code == 1 and res.output.startswith(f"error: {bucket}/sub.csv: cannot read from the store")
    assert len(res.output.strip().splitlines()) == 1
    with pytest.raises(ShardsUsageError, match="index.json: not found"):        # the store back: the data's turn
        read_index(bucket / "shards")

