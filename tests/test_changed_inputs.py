"""A listed video is known by its content, not its name: a file replaced since it was ingested (another size, or
the same size with other bytes) is processed again and counted in `changed`; a truncated download replaced by the
good file is redone without --overwrite; a copy with new modification times is not redone; a WORK written before
content hashes existed resumes with nothing redone. Real H.264 files of a small synth corpus."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cluster_util import parquet_files
from dfprep.cli import app
from dfprep.ingest.summary import IngestSummary

PART = "dfdc_train_part_0"
TRUNC = "truncated.mp4"          # a listed REAL whose file is the first half of another video's


def _cfg(**kw):
    from dfprep.ingest.config import IngestConfig

    return IngestConfig(**{"frames": 4, "identity": False, "num_cpus": 1, "progress": False, **kw})


def _ingest(root: Path, work: Path) -> IngestSummary:
    from dfprep.ingest.run import ingest

    return ingest(root, work, _cfg())


def _rows(work: Path) -> dict[str, dict]:
    from dfprep.formats.work.videos import VIDEO_SCHEMA

    return {r["video"]: r for r in ds.dataset(work / "videos.parquet", schema=VIDEO_SCHEMA).to_table().to_pylist()}


def _crops(work: Path, video: str) -> list[bytes]:
    t = ds.dataset(work / "faces.parquet").to_table(filter=ds.field("video") == video,
                                                     columns=["frame_idx", "track_id", "jpeg"]).to_pylist()
    return [r["jpeg"] for r in sorted(t, key=lambda r: (r["frame_idx"], r["track_id"]))]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """One part of 6 real H.264 videos plus TRUNC (half a file: an `error` row), ingested once."""
    from dfprep.synth import SynthConfig, make_corpus

    top = tmp_path_factory.mktemp("changed")
    make_corpus(top / "root", SynthConfig(parts=1, videos=6, duration=1.0, fps=10, seed=3, workers=1))
    part = top / "root" / PART
    meta = json.loads((part / "metadata.json").read_text())
    donor = sorted(v for v, m in meta.items() if m["label"] == "REAL")[0]
    good = (part / donor).read_bytes()
    (part / TRUNC).write_bytes(good[:len(good) // 2])
    meta[TRUNC] = {"label": "REAL", "split": "train"}
    (part / "metadata.json").write_text(json.dumps(meta))
    first = _ingest(top / "root", top / "work")
    return SimpleNamespace(top=top, root=top / "root", work=top / "work", meta=meta, donor=donor, good=good,
                           first=first, rows=_rows(top / "work"))


def _copy(base, dest: Path) -> SimpleNamespace:
    shutil.copytree(base.root, dest / "root")        # copy2: modification times kept
    shutil.copytree(base.work, dest / "work")
    state = json.loads((dest / "work" / "_state.json").read_text())         # the same ROOT, moved
    moved = str((dest / "root").resolve())
    roots = [{**r, "root": moved} for r in state["roots"]]
    (dest / "work" / "_state.json").write_text(json.dumps({**state, "root": moved, "roots": roots}))
    return SimpleNamespace(root=dest / "root", part=dest / "root" / PART, work=dest / "work")


def test_every_row_records_size_and_content_hash(base):
    """ok and error rows alike carry the file's size and head/tail hash; the cache holds each file's stamp."""
    from dfprep.formats.work.inputs import read_stamps
    from dfprep.ingest.inputs import head_tail_sha256

    part = base.root / PART
    assert base.rows[TRUNC]["status"] == "error" and base.first.processed_this_run == len(base.rows)
    stamps = read_stamps(base.work, 0)
    for name, row in base.rows.items():
        size, digest = head_tail_sha256(part / name)
        assert (row["bytes"], row["head_tail_sha256"]) == (size, digest), name
        st = os.stat(part / name)
        assert stamps[name] == (st.st_size, st.st_mtime_ns, digest)


def test_replaced_files_are_redone_and_a_touched_copy_is_not(base, tmp_path):
    """In one rerun: a video overwritten by another (other size), one with the same size and other bytes, and the
    truncated download replaced by the good file are processed again (`changed` 3), their rows and crops those of
    the new files; a file whose modification time alone changed is not, and the rerun after that does nothing."""
    c = _copy(base, tmp_path)
    names = sorted(v for v in base.rows if v != TRUNC)
    other = next(v for v in names if base.rows[v]["n_faces"] and base.rows[v]["bytes"] != base.rows[names[0]]["bytes"])
    replaced, flipped, touched = names[0], next(v for v in names[1:] if v != other), next(
        v for v in reversed(names) if v not in (other, names[0]))
    assert len({replaced, flipped, touched, other}) == 4
    shutil.copyfile(c.part / other, c.part / replaced)               # another video: other size
    data = bytearray((c.part / flipped).read_bytes())                # same size, other bytes
    mid = len(data) // 2
    data[mid:mid + 64] = bytes(b ^ 0xFF for b in data[mid:mid + 64])
    (c.part / flipped).write_bytes(bytes(data))
    (c.part / TRUNC).write_bytes(base.good)                         # the download, finished
    st = os.stat(c.part / touched)
    os.utime(c.part / touched, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    before = parquet_files(c.work)

    s = _ingest(c.root, c.work)
    assert s.changed == 3 and s.processed_this_run == 3, s
    assert s.resumed == len(base.rows) - 3
    rows = _rows(c.work)
    assert rows[TRUNC]["status"] == "ok" and rows[TRUNC]["bytes"] == len(base.good)
    assert rows[replaced]["head_tail_sha256"] == rows[other]["head_tail_sha256"]
    assert rows[replaced]["bytes"] == rows[other]["bytes"] != base.rows[replaced]["bytes"]
    assert _crops(c.work, replaced) == _crops(c.work, other) != _crops(base.work, replaced)
    assert rows[flipped]["bytes"] == base.rows[flipped]["bytes"]
    assert rows[flipped]["head_tail_sha256"] != base.rows[flipped]["head_tail_sha256"]
    assert {v: r for v, r in rows.items() if v not in (replaced, flipped, TRUNC)} == \
        {v: r for v, r in base.rows.items() if v not in (replaced, flipped, TRUNC)}
    assert parquet_files(c.work) != before

    from dfprep.formats.work.inputs import read_stamps

    assert read_stamps(c.work, 0)[touched][1] == os.stat(c.part / touched).st_mtime_ns   # the new time, cached
    after = parquet_files(c.work)
    again = _ingest(c.root, c.work)
    assert again.processed_this_run == 0 and again.changed == 0 and parquet_files(c.work) == after


def test_a_copy_with_new_modification_times_is_not_redone(base, tmp_path):
    """Every input copied to a new disk without its times (and the cache gone): the content hashes match, nothing
    is processed or rewritten, and the cache now holds the new times."""
    from dfprep.formats.work.inputs import read_stamps
    from dfprep.formats.work.names import INPUTS as INPUTS_DIR

    c = _copy(base, tmp_path)
    shutil.rmtree(c.work / INPUTS_DIR)
    for p in c.part.iterdir():
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
    before = parquet_files(c.work)
    s = _ingest(c.root, c.work)
    assert s.processed_this_run == 0 and s.changed == 0 and parquet_files(c.work) == before
    assert read_stamps(c.work, 0) == {v: (os.stat(c.part / v).st_size, os.stat(c.part / v).st_mtime_ns,
                                          base.rows[v]["head_tail_sha256"]) for v in base.rows}


def test_a_work_from_before_content_hashes_resumes_with_nothing_redone(base, tmp_path):
    """Batch files without the head_tail_sha256 column and no cache (a WORK of the previous version): nothing is
    processed, no batch file is rewritten; the files found are taken as the ones ingested and their hashes cached."""
    from dfprep.formats.work.inputs import read_stamps
    from dfprep.formats.work.names import INPUTS as INPUTS_DIR

    c = _copy(base, tmp_path)
    shutil.rmtree(c.work / INPUTS_DIR)
    for p in sorted((c.work / "videos.parquet").rglob("batch-*.parquet")):
        t = pq.read_table(p)
        pq.write_table(t.drop_columns(["head_tail_sha256"]), p)
    before = parquet_files(c.work)
    s = _ingest(c.root, c.work)
    assert s.processed_this_run == 0 and s.changed == 0 and s.resumed == len(base.rows)
    assert parquet_files(c.work) == before
    assert {v: st[2] for v, st in read_stamps(c.work, 0).items()} == \
        {v: r["head_tail_sha256"] for v, r in base.rows.items()}


def test_a_run_with_nothing_to_do_keeps_the_last_runs_plan(base, tmp_path):
    """run.json after a no-op run: this run's counts, the last processing run's plan, stages, timeline and (under
    last_processing) its counts and timings."""
    c = _copy(base, tmp_path)
    first = json.loads((c.work / "run.json").read_text())
    s = _ingest(c.root, c.work)
    run = json.loads((c.work / "run.json").read_text())
    assert run == json.loads(json.dumps(s.record))
    assert run["processed_this_run"] == 0 and run["resumed"] == first["processed_this_run"]
    assert run["plan"] == first["plan"] and run["plan"]["workers"] >= 1
    assert run["stages"] == first["stages"] and run["outputs"]["timeline"] == first["outputs"]["timeline"]
    assert run["last_processing"]["processed_this_run"] == first["processed_this_run"]
    assert run["last_processing"]["timings"] == first["timings"]
    again = _ingest(c.root, c.work)                   # a second no-op keeps the same record
    assert again.plan == first["plan"] and again.last_processing == run["last_processing"]


@pytest.mark.parametrize("name", ["../x.mp4", "/etc/passwd", "s3:x/y.mp4"])
def test_a_batch_plan_naming_a_path_is_refused(base, tmp_path, name):
    """A recorded batch plan whose video name is a path (absolute, `..`, a separator): one line naming the plan
    file and the name, exit 2, nothing written."""
    c = _copy(base, tmp_path)
    plan_path = c.work / "_batches" / "part-0.json"
    plan = json.loads(plan_path.read_text())
    plan["batches"][0]["videos"].append(name)
    plan_path.write_text(json.dumps(plan))
    before = {p: p.read_bytes() for p in c.work.rglob("*") if p.is_file()}
    res = CliRunner().invoke(app, ["ingest", str(c.root), "--out", str(c.work), "--frames", "4", "--no-identity",
                                   "--num-cpus", "1", "--no-progress"])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and str(plan_path) in lines[0] and repr(name) in lines[0], lines
    assert {p: p.read_bytes() for p in c.work.rglob("*") if p.is_file()} == before


def test_on_object_storage_a_replaced_object_is_redone(base, bucket):
    """ROOT and WORK in S3 (moto): an object overwritten with another video is redone; one rewritten with the same
    bytes (a new LastModified, as a re-upload gives) is recognised by its head and tail, read by range, and not."""
    import pyarrow.fs as pafs

    from dfprep.ingest.run import ingest
    from dfprep.storage import as_path

    pafs.copy_files(str(base.root), (bucket / "root").fs_path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=bucket.fs)
    root, work = as_path(f"{bucket}/root"), as_path(f"{bucket}/work")
    first = ingest(root, work, _cfg())
    assert first.processed_this_run == len(base.rows)
    from dfprep.formats.work.inputs import read_stamps

    stamp = read_stamps(work, 0)
    names = sorted(v for v in base.rows if v != TRUNC)
    replaced = names[0]
    other = next(v for v in names if base.rows[v]["bytes"] != base.rows[replaced]["bytes"])
    part = root / PART
    with bucket.fs.open_output_stream((part / replaced).fs_path) as fh:
        fh.write((base.root / PART / other).read_bytes())
    with bucket.fs.open_output_stream((part / names[1]).fs_path) as fh:       # same bytes, uploaded again
        fh.write((base.root / PART / names[1]).read_bytes())
    s = ingest(root, work, _cfg())
    assert s.changed == 1 and s.processed_this_run == 1, s
    t = ds.dataset((work / "videos.parquet").fs_path, filesystem=bucket.fs).to_table(
        columns=["video", "head_tail_sha256"]).to_pylist()
    hashes = {r["video"]: r["head_tail_sha256"] for r in t}
    assert hashes[replaced] == hashes[other] == base.rows[other]["head_tail_sha256"]
    now = read_stamps(work, 0)[names[1]]
    assert now[1] != stamp[names[1]][1] and now[2] == stamp[names[1]][2]      # a new time, the same content
