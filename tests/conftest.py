"""Shared fixtures: a small synthetic DFDC corpus and its ingest, built once per test session."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

# Tests that stop a run with SIGINT (test_ingest, test_grow, test_hostile_shards, test_shard_faults) need the
# child to take it. A shell starts a background job (`cmd &` without job control, `nohup`) with SIGINT ignored,
# and an ignored signal stays ignored through fork and exec, so the dfprep child would never see it: catch it
# here instead (a caught signal is reset to the default in every child at exec), as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"needs the real DFDC and FaceForensics++ samples (brtujopkby.mp4, lynaeydofd.mp4, 519.mp4, "
                    f"519_515.mp4, dfdc_train_part_0_metadata.json) in {REAL_DATA}, i.e. ../shared/data/real beside "
                    f"the repository; a clone of the repository alone does not have them")
    return REAL_DATA


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    """2 parts x 8 videos, 1 s at 10 fps, 320x240: REAL/FAKE families, one no-face and one two-face per part."""
    from dfprep.synth import SynthConfig, make_corpus

    root = tmp_path_factory.mktemp("corpus")
    make_corpus(root, SynthConfig(parts=2, videos=8, duration=1.0, fps=10, seed=0))
    return root


@pytest.fixture(scope="session")
def ingest_work(synth_corpus, tmp_path_factory) -> Path:
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    work = tmp_path_factory.mktemp("work")
    ingest(synth_corpus, work, IngestConfig(frames=8, num_cpus=2, progress=False))
    return work


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 for the whole session, with this process's AWS variables pointing at it."""
    from s3server import S3Server, apply_env, restore_env

    server = S3Server().start()
    old = apply_env(server)
    try:
        yield server
    finally:
        server.stop()
        restore_env(old)


@pytest.fixture
def bucket(s3_server):
    """A fresh, empty bucket on the test server, as a RemotePath."""
    from dfprep.storage import as_path

    return as_path(f"s3://{s3_server.new_bucket()}")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A RUN folder holding an untrained seeded smallcnn frame model: enough for predict's plumbing."""
    import torch

    from dfprep.formats.run import write_config
    from dfprep.train.checkpoint import save_model
    from dfprep.train.models import build_model

    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("tiny_run")
    save_model(run, build_model("smallcnn"))
    write_config(run, {"model": "smallcnn", "unit": "frame", "clip_len": None, "input_size": 64})
    return run


@pytest.fixture(scope="session")
def two_face_videos(synth_corpus, ingest_work) -> tuple[Path, Path]:
    """Two synthetic videos of part 0 in which ingest found faces, of different sizes (largest first)."""
    import pyarrow.dataset as ds

    rows = ds.dataset(ingest_work / "videos.parquet").to_table(columns=["part", "video", "n_faces", "bytes"]).to_pylist()
    found = sorted((r for r in rows if r["part"] == 0 and (r["n_faces"] or 0) > 0), key=lambda r: -r["bytes"])
    assert len(found) >= 2 and found[0]["bytes"] != found[-1]["bytes"], found
    part = synth_corpus / "dfdc_train_part_0"
    return part / found[0]["video"], part / found[-1]["video"]
