"""Every stage on s3:// paths (a real S3 server, moto, on 127.0.0.1) gives what the same stage gives locally."""
from __future__ import annotations

import json

import pytest

from dfprep.storage import RemotePath
from test_s3_ingest import upload_tree


@pytest.fixture(scope="module")
def s3_work(s3_server, ingest_work) -> RemotePath:
    """The session's ingested WORK, copied to a bucket (ingest itself on s3 is tested in test_s3_ingest)."""
    bucket = RemotePath("s3", s3_server.new_bucket())
    upload_tree(ingest_work, bucket / "work")
    return bucket / "work"


def _entries(index: dict) -> dict[str, tuple]:
    return {e["name"]: (e["n_samples"], e["bytes"], e["sha256"]) for s in index["splits"].values()
            for e in s["shards"]}


def test_shards_on_s3_equal_local_and_verify(s3_work, ingest_work, tmp_path):
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards
    from dfprep.shards.verify import verify_shards

    cfg = dict(samples_per_shard=16, num_cpus=2, progress=False, augment="all")
    local = make_shards(ingest_work, tmp_path / "shards", ShardsConfig(**cfg))
    out = s3_work.parent / "shards"
    remote = make_shards(s3_work, out, ShardsConfig(**cfg))
    assert _entries(remote.index) == _entries(local.index) and _entries(remote.index)      # the same shards, byte for byte
    assert json.loads((out / "index.json").read_text())["source"]["work"] == str(s3_work)
    assert (out / "wids-train.json").is_file() and not list(out.rglob(".tmp-*"))
    assert verify_shards(out, s3_work) == []
    again = make_shards(s3_work, out, ShardsConfig(**cfg))                 # a rerun keeps every shard
    assert again.written == 0


def test_analyze_reads_and_writes_s3(s3_work, ingest_work, tmp_path):
    from dfprep.analysis.run import analyze

    local = analyze(ingest_work, out=tmp_path / "report", gallery_size=2, augment_preview=False)
    remote = analyze(s3_work, gallery_size=2, augment_preview=False)          # default: WORK/report, in the bucket
    report = s3_work / "report"
    assert remote["outputs"]["html"] == str(report / "index.html")
    assert "<html" in (report / "index.html").read_text().lower()
    stats = json.loads((report / "stats.json").read_text())
    for key in ("totals", "labels", "videos_by_label_status", "identity", "similarity"):
        assert stats[key] == json.loads(json.dumps(local[key], default=str)), key
    assert sorted(p.name for p in (report / "figures").iterdir()) == \
        sorted(p.name for p in (tmp_path / "report" / "figures").iterdir())
