"""A WORK grows by videos within a part: only the added videos are processed, finished batch files stay as they
were, an interrupted grown run resumes to the same files, a shrunk part is refused, a video whose entry changed
(missing -> present, unlisted -> listed) is redone. Real H.264 from the session's synth corpus."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from cluster_util import env_without_ray, journal_count, parquet_files, wait_for
from dfprep.cli import app
from dfprep.ingest.summary import IngestSummary

PART = "dfdc_train_part_0"
# added later: a whole family (hvrakwoats and its FAKE wecwaochmk), a lone REAL and one FAKE of a family already
# there, so no warning of a video already ingested depends on them; they sort between the first ones
ADDED = ["hvrakwoats.mp4", "kaadarnqgq.mp4", "qxnpzsqooy.mp4", "wecwaochmk.mp4"]
BATCH = 2
ARGS = ["--frames", "8", "--batch-videos", str(BATCH), "--num-cpus", "2", "--no-progress"]


def _cfg(**kw):
    from dfprep.ingest.config import IngestConfig

    return IngestConfig(**{"frames": 8, "batch_videos": BATCH, "num_cpus": 2, "progress": False, **kw})


def _ingest(root: Path, work: Path, **kw) -> IngestSummary:
    from dfprep.ingest.run import ingest

    return ingest(root, work, _cfg(**kw))


@contextmanager
def changed_part(part: Path, keys: list[str] = (), files: list[str] = ()):
    """The part with some metadata.json keys and video files taken away; all put back, byte for byte, on exit."""
    meta_path = part / "metadata.json"
    before = meta_path.read_bytes()
    away = part.parent.parent / f"away-{part.parent.name}"
    away.mkdir(exist_ok=True)
    meta = json.loads(before)
    for k in keys:
        meta.pop(k)
    meta_path.write_text(json.dumps(meta))
    for f in files:
        (part / f).rename(away / f)
    try:
        yield
    finally:
        for f in files:
            (away / f).rename(part / f)
        meta_path.write_bytes(before)


def _rows(work: Path, sub: str, part: int = 0) -> dict[str, list[dict]]:
    """Rows of videos.parquet or faces.parquet per video, in a stable order."""
    out: dict[str, list[dict]] = {}
    for r in ds.dataset(Path(work) / sub).to_table(filter=ds.field("part") == part).to_pylist():
        out.setdefault(r["video"], []).append(r)
    return {v: sorted(rs, key=lambda r: (r.get("frame_idx") or 0, r.get("track_id") or 0)) for v, rs in out.items()}


def _sha(files: dict[str, bytes]) -> dict[str, str]:
    return {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}


def _plan(work: Path) -> dict[int, list[str]]:
    data = json.loads((work / "_batches" / "part-0.json").read_text())
    return {b["index"]: b["videos"] for b in data["batches"]}


def _everything(work: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(work)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(work.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def growth(synth_corpus, tmp_path_factory):
    """Part 0 without ADDED ingested, the WORK copied aside, then ADDED put back and the same WORK ingested again."""
    base = tmp_path_factory.mktemp("grow")
    root, work = base / "root", base / "work"
    shutil.copytree(synth_corpus / PART, root / PART)
    part = root / PART
    with changed_part(part, keys=ADDED, files=ADDED):
        first = _ingest(root, work)
    first_files = parquet_files(work)
    shutil.copytree(work, base / "first")
    grown = _ingest(root, work)
    return SimpleNamespace(root=root, part=part, work=work, first=first, grown=grown, first_files=first_files,
                           first_copy=base / "first", base=base)


def test_added_videos_are_the_only_ones_processed(growth, ingest_work):
    """Only the added videos are processed, into new batches; the old batch files are byte-identical; every
    video's rows and crops equal a one-run ingest's of the whole part (the session fixture's)."""
    shown = sorted(set(json.loads((growth.part / "metadata.json").read_text())) - set(ADDED))
    assert growth.first.processed_this_run == len(shown) and growth.first.videos == len(shown)
    g = growth.grown
    assert g.processed_this_run == len(ADDED) and g.resumed == len(shown)
    assert g.changed == 0 and g.retried == 0 and g.videos == len(shown) + len(ADDED)
    timeline = [json.loads(ln)["video"] for ln in (growth.work / "timeline.jsonl").read_text().splitlines()]
    assert sorted(timeline) == sorted(ADDED)

    now = parquet_files(growth.work)
    assert {k: _sha(now)[k] for k in growth.first_files} == _sha(growth.first_files)
    n_old = -(-len(shown) // BATCH)
    want = {i: shown[i * BATCH:(i + 1) * BATCH] for i in range(n_old)}
    want.update({n_old + i: ADDED[i * BATCH:(i + 1) * BATCH] for i in range(-(-len(ADDED) // BATCH))})
    assert _plan(growth.work) == want                          # the ADDED names interleave with the first ones
    assert sorted(set(now) - set(growth.first_files)) == sorted(
        f"{sub}/part-0/batch-{i:05d}.parquet" for sub in ("faces.parquet", "videos.parquet") for i in want
        if i >= n_old)

    for sub in ("videos.parquet", "faces.parquet"):
        mine, one_run = _rows(growth.work, sub), _rows(ingest_work, sub)
        assert mine == one_run, sub
    assert all(len(rs) == 1 for rs in _rows(growth.work, "videos.parquet").values())
    assert sum(len(rs) for rs in _rows(growth.work, "faces.parquet").values()) > 0

    again = _ingest(growth.root, growth.work)                  # nothing new: nothing done, nothing rewritten
    assert again.processed_this_run == 0 and parquet_files(growth.work) == now


def test_a_work_from_before_plans_grows_the_same_way(growth, tmp_path):
    """A WORK written before batch plans were recorded (no _batches/): unchanged, it gets the old rule's plan
    and nothing is done; grown, its finished files are kept as they are and the added videos get new batches:
    the same files as a WORK that recorded its plan."""
    work = tmp_path / "work"
    shutil.copytree(growth.first_copy, work)
    shutil.rmtree(work / "_batches")
    with changed_part(growth.part, keys=ADDED, files=ADDED):
        same = _ingest(growth.root, work)
    assert same.processed_this_run == 0 and parquet_files(work) == growth.first_files
    assert _plan(work) == _plan(growth.first_copy)
    shutil.rmtree(work / "_batches")
    grown = _ingest(growth.root, work)
    assert grown.processed_this_run == len(ADDED) and grown.resumed == growth.first.videos
    assert parquet_files(work) == parquet_files(growth.work) and _plan(work) == _plan(growth.work)


@pytest.mark.slow
def test_grown_run_interrupted_resumes_to_the_same_files(growth, tmp_path):
    """The grown run is stopped (SIGINT) once its last new batch is written while one video of the first new batch
    hangs (DFPREP_FAULTS): the rerun processes just that video and ends with the uninterrupted run's files. A
    recorded plan is what makes this so: cut afresh from the files, the open batch would get a new index."""
    work = tmp_path / "work"
    shutil.copytree(growth.first_copy, work)
    hung = ADDED[0]
    cmd = [sys.executable, "-m", "dfprep.cli", "ingest", str(growth.root), "--out", str(work), *ARGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(env_without_ray(), DFPREP_FAULTS=f"hang:{hung}"))
    plan = _plan(growth.work)
    last, hung_batch = max(plan), next(i for i, vs in plan.items() if hung in vs)
    assert hung_batch != last
    last_file = work / "videos.parquet" / "part-0" / f"batch-{last:05d}.parquet"
    try:
        reached = wait_for(lambda: last_file.exists() and journal_count(work) >= len(plan[hung_batch]) - 1, 240)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert reached, out.decode()
    assert proc.returncode != 0, out.decode()
    assert not (work / "videos.parquet" / "part-0" / f"batch-{hung_batch:05d}.parquet").exists()
    assert _plan(work) == plan

    interrupted = tmp_path / "interrupted"
    shutil.copytree(work, interrupted)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env_without_ray())
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads((work / "run.json").read_text())
    assert run["processed_this_run"] == 1 and run["resumed"] == run["videos"] - 1
    assert parquet_files(work) == parquet_files(growth.work) and _plan(work) == plan

    # the hung video taken away before its batch finished: it leaves the batch (nothing of it was written)
    with changed_part(growth.part, keys=[hung], files=[hung]):
        left = _ingest(growth.root, interrupted)
    assert left.processed_this_run == 0
    assert _plan(interrupted) == {**plan, hung_batch: [v for v in plan[hung_batch] if v != hung]}
    rows = _rows(interrupted, "videos.parquet")
    assert sorted(rows) == sorted(v for vs in plan.values() for v in vs if v != hung)
    assert rows == {v: r for v, r in _rows(growth.work, "videos.parquet").items() if v != hung}


def test_removed_or_lost_video_is_refused_and_nothing_written(growth):
    """A video of a finished batch gone from metadata.json and the folder, or an ingested video whose file is
    gone (now `missing`), stops the run: exit 2, one line naming the part and the video; WORK untouched."""
    before = _everything(growth.work)
    name = ADDED[1]                                                # in a grown batch
    args = ["ingest", str(growth.root), "--out", str(growth.work), *ARGS]
    runner = CliRunner()
    for keys, files, says in (([name], [name], "removed from metadata.json and the folder"),
                              ([], [name], f"{name} now missing")):
        with changed_part(growth.part, keys=keys, files=files):
            res = runner.invoke(app, args)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2, res.output
        assert len(lines) == 1 and "part 0 changed" in lines[0] and name in lines[0] and says in lines[0], lines
        assert _everything(growth.work) == before


def test_missing_then_present_and_unlisted_then_listed_are_processed(growth, ingest_work, tmp_path):
    """A listed video whose file was missing, and a file that metadata.json did not list, are processed once
    the file appears / the key is added: their batch is reopened for just them, and the files equal a one-run
    ingest's of the whole part byte for byte (default --batch-videos: one batch, the session fixture's). A
    change that needs no processing (missing -> a FIFO in its place) rewrites just that row."""
    missing, unlisted = "qxnpzsqooy.mp4", "wecwaochmk.mp4"
    work = tmp_path / "work"
    with changed_part(growth.part, keys=[unlisted], files=[missing]):
        first = _ingest(growth.root, work, batch_videos=16)
        rows = _rows(work, "videos.parquet")
        os.mkfifo(growth.part / missing)          # missing -> a FIFO: its row is rewritten, nothing is processed
        try:
            fifo = _ingest(growth.root, work, batch_videos=16)
        finally:
            (growth.part / missing).unlink()
    assert rows[missing][0]["status"] == "missing" and rows[unlisted][0]["status"] == "unlisted"
    assert first.processed_this_run == len(rows) - 2
    assert fifo.processed_this_run == 0 and fifo.changed == 1
    after = _rows(work, "videos.parquet")
    assert after[missing][0]["status"] == "error" and after[missing][0]["error"].startswith("not a regular file")
    assert {v: r for v, r in after.items() if v != missing} == {v: r for v, r in rows.items() if v != missing}

    second = _ingest(growth.root, work, batch_videos=16)
    assert second.processed_this_run == 2 and second.changed == 2 and second.resumed == len(rows) - 2
    rows = _rows(work, "videos.parquet")
    assert rows[missing][0]["status"] == "ok" and rows[unlisted][0]["status"] == "ok"
    assert rows[unlisted][0]["label"] == "FAKE" and rows[missing][0]["n_faces"] > 0
    one_run = {k: v for k, v in parquet_files(ingest_work).items() if "/part-0/" in k}
    assert parquet_files(work) == one_run
