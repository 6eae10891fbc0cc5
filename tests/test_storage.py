"""The filesystem layer (dfprep.storage) on local paths and on a real S3 server (moto, 127.0.0.1)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from dfprep.atomic import atomic_path, remove_stale_tmp, write_json, write_parquet
from dfprep.storage import RemotePath, StorageError, UnsupportedURI, as_path, dataset, local_copy


def test_local_paths_stay_paths(tmp_path):
    assert as_path(str(tmp_path)) == tmp_path
    assert as_path(f"file://{tmp_path}") == tmp_path
    assert isinstance(as_path("relative/folder"), Path)


@pytest.mark.parametrize("arg, words", [
    ("ftp://host/x", "unsupported scheme 'ftp://'"),
    ("s3:/bucket/x", "one slash"),
    ("s3:///x", "no bucket"),
    ("file://host/x", "absolute path"),
])
def test_unsupported_uris_are_refused(arg, words):
    with pytest.raises(UnsupportedURI, match=words):
        as_path(arg)


def test_remote_names():
    p = as_path("s3://bkt/a/b/c.tar")
    assert isinstance(p, RemotePath) and str(p) == "s3://bkt/a/b/c.tar"
    assert (p.name, p.stem, p.suffix, str(p.parent)) == ("c.tar", "c", ".tar", "s3://bkt/a/b")
    assert p.fs_path == "bkt/a/b/c.tar" and (p.parent / "d.json").uri == "s3://bkt/a/b/d.json"
    assert as_path("gcs://bkt/x") == as_path("gs://bkt/x")
    assert as_path("hdfs://nn:8020/data/x").fs_path == "/data/x"
    assert as_path("https://host/s/index.json").fs_path == "https://host/s/index.json"
    import pickle
    assert pickle.loads(pickle.dumps(p)) == p
    with pytest.raises(TypeError):
        open(p)                                     # no __fspath__: a local API never gets a remote name


def test_remote_reads_writes_and_listing(bucket):
    (bucket / "a/x.json").write_text('{"k": 1}')
    write_json(bucket / "a/b/y.json", {"k": 2})
    write_parquet(bucket / "t/part-0/batch-00000.parquet", pa.table({"v": [1, 2, 3]}))
    assert (bucket / "a/x.json").read_text() == '{"k": 1}'
    assert (bucket / "a/x.json").is_file() and (bucket / "a").is_dir() and not (bucket / "zz").exists()
    assert [p.name for p in (bucket / "a").iterdir()] == ["b", "x.json"]
    assert [p.relative_to(bucket) for p in bucket.glob("a/*.json")] == ["a/x.json"]
    assert [p.relative_to(bucket) for p in bucket.rglob("*.json")] == ["a/b/y.json", "a/x.json"]
    assert dataset(bucket / "t").to_table().column("v").to_pylist() == [1, 2, 3]
    assert not list(bucket.rglob(".tmp-*"))         # temporaries were moved onto their final keys
    with local_copy(bucket / "a/x.json") as local:
        assert local.read_bytes() == b'{"k": 1}'
    assert not local.exists()                       # the spool copy is deleted after the block


def test_failed_remote_write_leaves_nothing(bucket):
    with pytest.raises(RuntimeError):
        with atomic_path(bucket / "half.bin") as tmp:
            tmp.write_bytes(b"x" * 1000)
            raise RuntimeError("writer died")
    assert not (bucket / "half.bin").exists() and not list(bucket.rglob("*"))


def test_stale_remote_temporaries_are_removed(bucket):
    (bucket / "w/.tmp-1234abcd-batch.parquet").write_bytes(b"half")
    (bucket / "w/keep.parquet").write_bytes(b"whole")
    assert remove_stale_tmp(bucket / "w") == 1
    assert [p.name for p in (bucket / "w").iterdir()] == ["keep.parquet"]


def test_store_outage_is_a_storage_error(s3_server):
    bucket = as_path(f"s3://{s3_server.new_bucket()}")
    (bucket / "v.mp4").write_bytes(b"0" * 100)
    s3_server.stop()
    try:
        with pytest.raises(StorageError, match="cannot read from the store"):
            with local_copy(bucket / "v.mp4"):
                pass
    finally:
        s3_server.start()
    assert (bucket / "v.mp4").read_bytes() == b"0" * 100    # the restarted server kept the object


@pytest.mark.parametrize("command", [["shards", "/nonexistent-work", "--out", "ftp://h/shards"],
                                     ["ingest", "gopher://h/root", "--out", "w"]])
def test_cli_refuses_unsupported_scheme_in_one_line(tmp_path, command):
    r = subprocess.run([sys.executable, "-m", "dfprep", *command], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "unsupported scheme" in r.stderr and "Traceback" not in r.stderr
    assert not any(tmp_path.iterdir())              # no local folder named after the URI


def test_staged_output_uploads_finished_files_last_names_last(bucket, tmp_path):
    from dfprep.storage.staging import staged_output

    dest = bucket / "run"
    with staged_output(dest, last=("metrics.json",)) as st:
        (st.local / "tb").mkdir()
        (st.local / "tb" / "events.1").write_bytes(b"e1")
        (st.local / "metrics.json").write_text("{}")
        (st.local / ".tmp-12345678-model.pt").write_bytes(b"half")     # in progress: never uploaded
        assert st.sync() == 2
        (st.local / "tb" / "events.1").write_bytes(b"e1e2")               # rewritten: uploaded again
        assert st.sync() == 1
    assert sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file()) == ["metrics.json", "tb/events.1"]
    assert (dest / "tb/events.1").read_bytes() == b"e1e2"
    with staged_output(dest, pull=True) as st:                            # resume: the finished files come back
        assert (st.local / "tb" / "events.1").read_bytes() == b"e1e2"
        assert st.sync() == 0
    local = tmp_path / "here"
    with staged_output(local) as st:
        assert st.local == local and st.sync() == 0
