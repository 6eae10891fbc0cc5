"""What `dfprep ingest` withstands, read top to bottom: hostile metadata, hostile file-system objects, symlinks
out of ROOT, bad option values, errors caused by a setting, and resource bombs.

Every corpus is real (dfprep.synth videos, PyAV-encoded files, FIFOs, sockets, symlinks); nothing is mocked.
The rule throughout: a bad input is that part's or that video's problem, recorded with a precise reason in
videos.parquet (status, error) or run.json (problems); the run goes on and exits 0. A bad option value is a
usage error (exit 2, one line) before any work.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pyarrow.dataset as ds
import pytest
from typer.testing import CliRunner

from cluster_util import env_without_ray
from dfprep.cli import app

runner = CliRunner()
FAST = ["--frames", "2", "--no-faces", "--num-cpus", "2", "--no-progress"]
LONG_KEY = "é" * 128 + ".mp4"            # 132 characters, 260 bytes in UTF-8
BOMB = "bomb.mp4"


def _all_rows(work: Path) -> list[dict]:
    return ds.dataset(work / "videos.parquet").to_table().to_pylist()


def _videos(work: Path, part: int = 0) -> dict[str, dict]:
    """One part's rows by video name."""
    return {r["video"]: r for r in _all_rows(work) if r["part"] == part}


def _run_json(work: Path) -> dict:
    return json.loads((work / "run.json").read_text())


def _big_video(path: Path, width: int, height: int, frames: int = 2) -> None:
    """A tiny H.264 file of huge frames (flat grey: a few KB however large the frame)."""
    with av.open(str(path), mode="w", format="mp4") as out:
        st = out.add_stream("libx264", rate=8)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.options = {"preset": "ultrafast", "crf": "51"}
        img = np.full((height, width, 3), 128, np.uint8)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)


def _make_socket(path: Path) -> None:
    """A UNIX socket file at `path` (bound by a relative name: socket paths are limited to ~108 bytes)."""
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        s = socket.socket(socket.AF_UNIX)
        s.bind(path.name)
        s.close()
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    """One corpus holding every discovery-level attack, ingested once with default settings.

    part 0: 4 valid videos plus the hostile entries below; part 1: metadata.json nested 200,000 levels deep;
    part 2: a symlink to a part folder outside ROOT. Outside ROOT: that folder and a video (`outside/`).
    """
    from dfprep.synth import SynthConfig, make_corpus

    base = tmp_path_factory.mktemp("hostile")
    root, outside = base / "root", base / "outside"
    make_corpus(root, SynthConfig(parts=2, videos=4, duration=1.0, fps=8, seed=5))
    p0, p1 = root / "dfdc_train_part_0", root / "dfdc_train_part_1"
    meta = json.loads((p0 / "metadata.json").read_text())
    valid = sorted(meta)
    outside.mkdir()
    shutil.copytree(p1, outside / "part")                 # a whole part, reachable only through a symlink
    (root / "dfdc_train_part_2").symlink_to(outside / "part", target_is_directory=True)
    shutil.copy(p0 / valid[0], outside / "secret.mp4")

    shutil.copy(p0 / valid[0], p0 / "label_list.mp4")
    meta["label_list.mp4"] = {"label": ["REAL"]}
    meta[LONG_KEY] = {"label": "REAL"}
    os.mkfifo(p0 / "fifo.mp4")
    meta["fifo.mp4"] = {"label": "REAL"}
    _make_socket(p0 / "socket.mp4")
    meta["socket.mp4"] = {"label": "REAL"}
    (p0 / "inside.mp4").symlink_to(valid[1])              # stays inside ROOT: fine
    meta["inside.mp4"] = {"label": "REAL"}
    (p0 / "leaves.mp4").symlink_to(outside / "secret.mp4")
    meta["leaves.mp4"] = {"label": "REAL"}
    (p0 / "devnull.mp4").symlink_to("/dev/null")
    meta["devnull.mp4"] = {"label": "REAL"}
    _big_video(p0 / BOMB, 4200, 4200)
    meta[BOMB] = {"label": "REAL"}
    (p0 / "metadata.json").write_text(json.dumps(meta))
    depth = 200_000
    (p1 / "metadata.json").write_text('{"a.mp4": ' + "[" * depth + "]" * depth + "}")

    work = base / "work"
    res = runner.invoke(app, ["ingest", str(root), "--out", str(work), *FAST])
    assert res.exit_code == 0, res.output
    return {"root": root, "outside": outside, "work": work, "rows": _videos(work), "all": _all_rows(work),
            "run": _run_json(work),
            "valid": valid, "base": base}


# --- metadata.json: what its keys and values may be ---------------------------------------------------------------

def test_label_that_is_not_a_string_is_rejected(hostile):
    """Attack: `{"a.mp4": {"label": ["REAL"]}}`, a label that is a list (unhashable, not a string).
    Result: that entry is `rejected` with the reason naming the value; its file is never opened."""
    row = hostile["rows"]["label_list.mp4"]
    assert row["status"] == "rejected" and row["error"] == "label ['REAL'] is not REAL or FAKE"
    assert row["decoder"] is None and row["label"] is None


def test_key_longer_than_a_file_name_is_rejected(hostile):
    """Attack: a metadata key of more than 255 bytes (here 132 characters, 260 bytes of UTF-8): no file system
    can hold such a name, and opening it fails with ENAMETOOLONG.
    Result: `rejected`, "key is longer than 255 bytes (a file name cannot be); never opened"; the run goes on."""
    from dfprep.dataset import key_problem

    assert key_problem("é" * 125 + ".mp4") is None                   # 254 bytes: a legal name
    row = hostile["rows"][LONG_KEY]
    assert row["status"] == "rejected"
    assert row["error"] == "key is longer than 255 bytes (a file name cannot be); never opened"
    assert all(hostile["rows"][v]["status"] == "ok" for v in hostile["valid"])


def test_metadata_nested_200000_levels_is_that_parts_problem(hostile, tmp_path):
    """Attack: a metadata.json nested 200,000 levels deep (a parser recursing per level would blow its stack).
    Result: RecursionError is caught: that part's problem in run.json ("nested too deeply"), its videos
    reported as unlisted; the other parts are ingested and the run exits 0."""
    from dfprep.dataset import MetadataError, read_metadata

    p = tmp_path / "metadata.json"
    p.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(MetadataError, match="nested too deeply"):
        read_metadata(p)
    part1 = str(hostile["root"] / "dfdc_train_part_1" / "metadata.json")
    assert any(q.startswith(part1) and "nested too deeply" in q for q in hostile["run"]["problems"])
    assert {r["status"] for r in hostile["all"] if r["part"] == 1} == {"unlisted"}
    assert hostile["run"]["by_status"]["ok"] >= len(hostile["valid"])


# --- the file system: what a listed name may turn out to be -----------------------------------------------------

def test_metadata_json_that_is_a_fifo_is_never_opened(hostile, tmp_path):
    """Attack: metadata.json is a FIFO (opening it to read blocks until a writer comes: forever).
    Result: only stat is called; that part's problem "metadata.json is not a regular file", its videos
    unlisted. `dfprep ingest` and `dfprep analyze --metadata-only ROOT` both return promptly (exit 0)."""
    root = tmp_path / "root"
    p0, p1 = root / "dfdc_train_part_0", root / "dfdc_train_part_1"
    p0.mkdir(parents=True)
    p1.mkdir()
    os.mkfifo(p0 / "metadata.json")
    shutil.copy(hostile["root"] / "dfdc_train_part_0" / hostile["valid"][0], p0 / "a.mp4")
    (p1 / "metadata.json").write_text('{"gone.mp4": {"label": "REAL"}}')
    work = tmp_path / "work"
    for args in (["ingest", str(root), "--out", str(work), *FAST],
                 ["analyze", "--metadata-only", str(root), "--out", str(tmp_path / "report"),
                  "--no-augment-preview"]):
        done = subprocess.run([sys.executable, "-m", "dfprep.cli", *args], capture_output=True, text=True,
                              timeout=180, env=env_without_ray())
        assert done.returncode == 0, (args[0], done.stdout + done.stderr)
    rows = {r["video"]: r for r in _all_rows(work)}
    assert rows["a.mp4"]["status"] == "unlisted" and rows["gone.mp4"]["status"] == "missing"
    assert any("metadata.json is not a regular file" in q for q in _run_json(work)["problems"])


def test_listed_fifo_and_socket_are_never_opened(hostile):
    """Attack: a listed `.mp4` that is a FIFO (av.open would block forever) or a UNIX socket.
    Result: `error`, "not a regular file (fifo); never opened" (socket likewise): only stat is called, no
    worker time is spent; before, a FIFO was misreported as an absent file."""
    rows = hostile["rows"]
    for name, kind in (("fifo.mp4", "fifo"), ("socket.mp4", "socket")):
        assert rows[name]["status"] == "error", rows[name]
        assert rows[name]["error"] == f"not a regular file ({kind}); never opened"
        assert rows[name]["decoder"] is None


# --- symlinks -----------------------------------------------------------------------------------------------------

def test_symlinks_leaving_root_are_rejected_by_default(hostile):
    """Attack: a listed video that is a symlink to a file outside ROOT, one to /dev/null, and a part folder
    that is a symlink to a folder outside ROOT (reading files a ROOT's owner did not mean to expose).
    Result: the videos are `rejected`, "symlink leaves ROOT: -> <target>; never opened"; the part is skipped
    with a run.json problem naming its target. A symlink that stays inside ROOT is ingested as usual."""
    rows, outside = hostile["rows"], hostile["outside"]
    secret = os.path.realpath(outside / "secret.mp4")
    assert rows["leaves.mp4"]["status"] == "rejected"
    assert rows["leaves.mp4"]["error"] == f"symlink leaves ROOT: -> {secret}; never opened"
    assert rows["devnull.mp4"]["status"] == "rejected" and "-> /dev/null" in rows["devnull.mp4"]["error"]
    assert rows["inside.mp4"]["status"] == "ok"
    target = os.path.realpath(outside / "part")
    assert any(f"symlink leaves ROOT: -> {target}; part skipped" in q for q in hostile["run"]["problems"])
    assert not any(r["part"] == 2 for r in hostile["all"])
    assert hostile["run"]["settings"]["follow_symlinks"] is False


def test_follow_symlinks_allows_them(hostile):
    """`--follow-symlinks` (an output setting: it changes what is written) follows them: the outside video and
    the outside part are ingested; a symlink to a device is still no regular file and never opened."""
    work = hostile["base"] / "work_follow"
    res = runner.invoke(app, ["ingest", str(hostile["root"]), "--out", str(work), "--follow-symlinks", *FAST])
    assert res.exit_code == 0, res.output
    rows = _videos(work)
    assert rows["leaves.mp4"]["status"] == "ok"
    assert rows["devnull.mp4"]["status"] == "error"
    assert rows["devnull.mp4"]["error"] == "not a regular file (character device); never opened"
    part2 = [r for r in _all_rows(work) if r["part"] == 2]
    assert part2 and all(r["status"] == "ok" for r in part2)
    run = _run_json(work)
    assert run["settings"]["follow_symlinks"] is True and run["fingerprint"] != hostile["run"]["fingerprint"]


# --- option values --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("option,value,word", [("--decoder", "ffmpeg", "pyav-nonref"),
                                               ("--detector", "foo", "mtcnn"),
                                               ("--max-pixels", "0", ">= 1"),
                                               ("--frames", "0", ">= 1"),
                                               ("--parts", "x-y", "bad part")])
def test_bad_option_value_is_one_usage_line_before_any_work(tmp_path, option, value, word):
    """Attack: `--decoder ffmpeg`, `--detector foo`, `--max-pixels 0`: a value no video could be processed
    with. Result: exit 2 with one line naming the choices, before any work: WORK is not even created (not a
    run that records the same error for every video)."""
    root = tmp_path / "root"
    (root / "dfdc_train_part_0").mkdir(parents=True)
    (root / "dfdc_train_part_0" / "metadata.json").write_text('{"a.mp4": {"label": "REAL"}}')
    work = tmp_path / "work"
    res = runner.invoke(app, ["ingest", str(root), "--out", str(work), option, value])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and word in lines[0], res.output
    assert not work.exists()


# --- errors caused by a setting -------------------------------------------------------------------------------------

def test_error_caused_by_a_setting_is_redone_on_rerun(tmp_path):
    """Attack: a video that hangs its decoder (DFPREP_FAULTS=hang:NAME) under `--timeout 8`.
    Result: that video's error "timed out after 8 s", the others ok. Such an error is the setting's, not the
    file's: rerunning the same WORK with a larger --timeout (a scheduling setting, same fingerprint) reopens
    just its batch, processes just that video (run.json `retried`: 1) and ends ok; the batch files end
    byte-identical to a clean run's, and the other batches are not rewritten."""
    from dfprep.synth import SynthConfig, make_corpus

    root = tmp_path / "root"
    make_corpus(root, SynthConfig(parts=1, videos=4, duration=1.0, fps=8, seed=7))
    names = sorted(json.loads((root / "dfdc_train_part_0" / "metadata.json").read_text()))
    hang = names[0]

    def ingest(work: Path, timeout: str, faults: str = "") -> dict:
        cmd = [sys.executable, "-m", "dfprep.cli", "ingest", str(root), "--out", str(work), "--timeout", timeout,
               "--batch-videos", "2", *FAST]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              env=dict(env_without_ray(), DFPREP_FAULTS=faults))
        assert done.returncode == 0, done.stdout + done.stderr
        return _run_json(work)

    def files(work: Path) -> dict[str, bytes]:
        return {str(p.relative_to(work)): p.read_bytes()
                for sub in ("videos.parquet", "faces.parquet") for p in sorted((work / sub).rglob("*.parquet"))}

    work = tmp_path / "work"
    ingest(work, "8", f"hang:{hang}")
    rows = _videos(work)
    assert rows[hang]["status"] == "error" and rows[hang]["error"].startswith("timed out after 8 s")
    before = files(work)

    run = ingest(work, "120")
    rows = _videos(work)
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert run["retried"] == 1 and run["processed_this_run"] == 1 and run["resumed"] == len(names) - 1
    after = files(work)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"videos.parquet/part-0/batch-00000.parquet"}     # the hung video's batch only

    clean = tmp_path / "clean"
    ingest(clean, "120")
    assert files(clean) == after

    run = ingest(work, "120")                      # nothing left to redo
    assert run["retried"] == 0 and run["processed_this_run"] == 0 and files(work) == after


# --- resource bombs ---------------------------------------------------------------------------------------------------

def test_frame_over_the_pixel_budget_is_never_decoded(hostile, tmp_path):
    """Attack: a pixel bomb: a few KB of H.264 whose frames are 4200x4200 (an 8192x8192 one of 199 KB made one
    decode worker take 4+ GiB: every sampled frame is held in RGB).
    Result: the probe reads the frame size from the stream header and stops before decoding any frame: that
    video's error "frame 4200x4200 is over the pixel budget (--max-pixels 8294400)". The default budget is 4K
    (DFDC's largest): a 3840x2160 video passes, one pixel less of budget refuses it."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.probe import VideoError, probe

    assert os.path.getsize(hostile["root"] / "dfdc_train_part_0" / BOMB) < 200_000
    row = hostile["rows"][BOMB]
    assert row["status"] == "error"
    assert row["error"] == "frame 4200x4200 is over the pixel budget (--max-pixels 8294400)"
    assert row["decoder"] is None and row["sampled_frames"] is None
    assert hostile["run"]["settings"]["max_pixels"] == 3840 * 2160

    uhd = tmp_path / "uhd.mp4"
    _big_video(uhd, 3840, 2160)
    pr = probe(uhd, IngestConfig().max_pixels)
    assert (pr.width, pr.height) == (3840, 2160)
    with pytest.raises(VideoError, match=r"frame 3840x2160 is over the pixel budget \(--max-pixels 8294399\)"):
        probe(uhd, 3840 * 2160 - 1)
