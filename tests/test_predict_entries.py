"""`dfprep predict` gives a row to every *.mp4 entry of INPUT (real H.264 videos beside a FIFO, a symlink loop, a
folder named x.mp4, symlinks leaving INPUT), never opens the ones that are no regular file or that lead out of
INPUT, and scores a video whose file was replaced by its new bytes."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]


def _predict(run: Path, input: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "dfprep", "predict", str(run), str(input), "--out", str(out),
                           "--workers", "0", "--frames", "2", "--device", "cpu", "--no-progress", *extra],
                          env=env, cwd=input.parent, capture_output=True, text=True, timeout=600)


def _rows(path: Path) -> dict[str, float]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["filename", "label"]
    return {r[0]: float(r[1]) for r in rows[1:]}


def _mp4_entries(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.lower().endswith(".mp4"))


def test_every_mp4_entry_gets_a_row_and_nothing_outside_input_is_opened(two_face_videos, tiny_run, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "pipe")                  # opened, it would block predict forever: the test would time out
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    videos = [v.name for v in two_face_videos]
    for src in two_face_videos:
        shutil.copy(src, inbox / src.name)        # synthetic videos: the real samples are never copied
    os.mkfifo(inbox / "fifo.mp4")
    os.symlink("loop_b.mp4", inbox / "loop_a.mp4")
    os.symlink("loop_a.mp4", inbox / "loop_b.mp4")
    (inbox / "x.mp4").mkdir()
    os.symlink("/etc/passwd", inbox / "y.mp4")
    os.symlink(outside / "pipe", inbox / "z.mp4")
    os.symlink(inbox / videos[0], inbox / "same_inside.mp4")      # a symlink that stays in INPUT is read

    out = tmp_path / "sub" / "submission.csv"
    res = _predict(tiny_run, inbox, out)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = _rows(out)
    assert sorted(rows) == _mp4_entries(inbox) and len(rows) == 9
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    reasons = {d["filename"]: d["reason"] for d in report["defaulted"]}
    refused = {"fifo.mp4", "loop_a.mp4", "loop_b.mp4", "x.mp4", "y.mp4", "z.mp4"}
    assert refused <= set(reasons)
    for name in refused:
        assert rows[name] == 0.5
    assert reasons["fifo.mp4"] == "not a regular file (fifo); never opened"
    assert reasons["x.mp4"] == "not a regular file (directory); never opened"
    assert reasons["loop_a.mp4"].startswith("cannot stat the file (") and "symbolic links" in reasons["loop_a.mp4"]
    assert reasons["y.mp4"] == "symlink leaves INPUT: -> /etc/passwd; never opened (--follow-symlinks to read it)"
    assert reasons["z.mp4"].startswith(f"symlink leaves INPUT: -> {outside / 'pipe'}; never opened")
    text = " ".join(res.stdout.split())
    for name in refused:
        assert f"warning {name}: {reasons[name]}; written as 0.5" in text
    # the real videos are decoded and scored (the inside symlink as the file it names)
    assert report["per_video"][videos[0]]["n_faces"] > 0 and "same_inside.mp4" not in reasons
    assert rows["same_inside.mp4"] == rows[videos[0]]

    # --follow-symlinks reads the ones leaving INPUT as ingest's option does; the outside FIFO is still never
    # opened (it is no regular file), /etc/passwd is read and fails to decode
    res = _predict(tiny_run, inbox, out, "--follow-symlinks")
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(out.with_name(out.name + ".report.json").read_text())
    reasons = {d["filename"]: d["reason"] for d in report["defaulted"]}
    assert len(_rows(out)) == 9 and report["config"]["follow_symlinks"] is True
    assert reasons["z.mp4"] == "not a regular file (fifo); never opened"
    assert "leaves INPUT" not in reasons["y.mp4"] and "never opened" not in reasons["y.mp4"]


def test_a_replaced_video_is_scored_again_from_its_new_bytes(two_face_videos, tiny_run, tmp_path):
    """predict keeps no scores between runs (its journal lives for one run): a file replaced under its name gets
    the score of its new content, and the report records the size it was scored at."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    videos = [v.name for v in two_face_videos]
    for src in two_face_videos:
        shutil.copy(src, inbox / src.name)        # synthetic videos: the real samples are never copied
    out = tmp_path / "submission.csv"
    assert _predict(tiny_run, inbox, out).returncode == 0
    before = _rows(out)
    assert before[videos[0]] != before[videos[1]]
    shutil.copy(two_face_videos[1], inbox / videos[0])        # other bytes, other size, same name
    res = _predict(tiny_run, inbox, out)
    assert res.returncode == 0, res.stdout + res.stderr
    after = _rows(out)
    assert after[videos[0]] == before[videos[1]] and after[videos[1]] == before[videos[1]]
    report = json.loads((tmp_path / "submission.csv.report.json").read_text())
    assert report["per_video"][videos[0]]["size"] == two_face_videos[1].stat().st_size
