"""Object-storage paths as a user types them, against a real S3 server (moto on 127.0.0.1): a URI with `.` or
`..` segments is a usage error naming the argument before anything is written; an output in a bucket that does
not exist is a usage error naming the bucket (exit 2, nothing written), in ingest, shards, train and predict."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dfprep.storage import UnsupportedURI, as_path


@pytest.mark.parametrize("uri", ["s3://dfdc/outs/../evil", "s3://dfdc/./outs", "gs://b/a/..", "hdfs://nn/x/./y",
                                 "https://host/shards/../other", "file:///tmp/a/../b", "s3://dfdc/outs/.."])
def test_dot_segments_are_refused_where_a_uri_is_parsed(uri):
    with pytest.raises(UnsupportedURI, match=r"may not contain a '\.\.?' segment"):
        as_path(uri)


@pytest.mark.parametrize("uri", ["s3://dfdc/outs/..evil", "s3://dfdc/a.b/x..y", "https://host/s?q=../x"])
def test_dots_inside_a_name_are_not_segments(uri):
    assert str(as_path(uri)).startswith(uri.split("://")[0])


def _dfprep(*args: str):
    from dfprep.cli import app

    res = CliRunner().invoke(app, list(args))
    return res, [ln for ln in res.output.splitlines() if ln.strip()]


def _keys(bucket) -> list[str]:
    import pyarrow.fs as pafs

    return [i.path for i in bucket.fs.get_file_info(pafs.FileSelector(bucket.fs_path, recursive=True))]


@pytest.fixture(scope="module")
def frame_shards(tmp_path_factory) -> Path:
    from test_train import write_shards

    return write_shards(tmp_path_factory.mktemp("shards"))


def _commands(root: Path, work: Path, shards: Path, run: Path, out: str) -> dict[str, list[str]]:
    return {"ingest": ["ingest", str(root), "--out", out, "--num-cpus", "1"],
            "shards": ["shards", str(work), "--out", out],
            "train": ["train", str(shards), "--out", out, "--model", "smallcnn", "--workers", "0", "--no-progress"],
            "predict": ["predict", str(run), str(root / "dfdc_train_part_0"), "--out", f"{out}/submission.csv",
                        "--workers", "0", "--device", "cpu", "--no-progress"]}


def test_a_key_with_dot_segments_is_a_usage_error_before_anything_is_written(bucket, synth_corpus, ingest_work,
                                                                             frame_shards, tiny_run):
    out = f"{bucket}/outs/../evil"
    for name, args in _commands(synth_corpus, ingest_work, frame_shards, tiny_run, out).items():
        res, lines = _dfprep(*args)
        assert res.exit_code == 2 and len(lines) == 1, (name, res.output)
        assert lines[0].startswith(f"error: --out {out}") and "'..' segment" in lines[0], (name, lines)
    assert _keys(bucket) == []


def test_an_output_in_a_missing_bucket_is_a_usage_error_naming_it(s3_server, bucket, synth_corpus, ingest_work,
                                                                  frame_shards, tiny_run):
    missing = f"dfprep-missing-{uuid.uuid4().hex[:8]}"
    out = f"s3://{missing}/outs"
    for name, args in _commands(synth_corpus, ingest_work, frame_shards, tiny_run, out).items():
        res, lines = _dfprep(*args)
        text = " ".join(res.output.split())
        assert res.exit_code == 2 and len(lines) == 1, (name, res.output)
        assert f"the bucket '{missing}' does not exist" in text and "nothing was written" in text, (name, text)
        assert "rerun" not in text and "kept" not in text and "Traceback" not in text, (name, text)
    assert not as_path(f"s3://{missing}").exists() and _keys(bucket) == []
