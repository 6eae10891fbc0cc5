"""`dfprep ingest` end to end on synth corpora with hostile files, resume, interruption and faults."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
from typer.testing import CliRunner

from cluster_util import env_without_ray
from hold_util import held, hold_env, last_scheduled, wait_until
from dfprep.cli import app

runner = CliRunner()


def _videos(work: Path) -> dict[str, dict]:
    return {r["video"]: r for r in ds.dataset(work / "videos.parquet").to_table().to_pylist()}


def _files(work: Path) -> dict[str, bytes]:
    out = {}
    for sub in ("videos.parquet", "faces.parquet"):
        for p in sorted((work / sub).rglob("*.parquet")):
            out[str(p.relative_to(work))] = p.read_bytes()
    return out


def test_hostile_corpus_and_resume(tmp_path):
    from dfprep.synth import SynthConfig, make_corpus
    from dfprep.synth.hostile import add_hostile_files

    root, work = tmp_path / "root", tmp_path / "work"
    make_corpus(root, SynthConfig(parts=1, videos=6, duration=1.0, fps=10, seed=3))
    expected = add_hostile_files(root / "dfdc_train_part_0", seed=3)
    args = ["ingest", str(root), "--out", str(work), "--frames", "4", "--num-cpus", "2", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "videos total" in res.output and "error" in res.output
    rows = _videos(work)
    for key, status in expected.items():
        assert rows[key]["status"] == status, (key, rows[key])
        if status != "ok":
            assert rows[key]["error"], key
    meta = json.loads((root / "dfdc_train_part_0" / "metadata.json").read_text())
    on_disk = {p.name for p in (root / "dfdc_train_part_0").glob("*.mp4")}
    assert set(rows) == set(meta) | on_disk  # every key and every file, exactly once
    assert sum(1 for r in rows.values() if r["status"] == "ok") >= 6
    for r in rows.values():
        if r["status"] == "ok":
            assert r["codec"] == "h264" and r["n_frames"] > 0 and len(r["sampled_frames"]) == min(4, r["n_frames"])
    run = json.loads((work / "run.json").read_text())
    assert sum(run["by_status"].values()) == len(rows)
    assert run["by_status"]["error"] == sum(1 for s in expected.values() if s == "error")
    assert run["versions"]["ray"] and run["config"]["frames"] == 4
    first = _files(work)
    assert first and not list(work.rglob(".tmp-*")) and not (work / "_journal").exists()

    res = runner.invoke(app, args)  # same arguments: nothing to do, same files
    assert res.exit_code == 0, res.output
    run2 = json.loads((work / "run.json").read_text())
    assert run2["processed_this_run"] == 0 and run2["resumed"] == len(rows)
    assert _files(work) == first

    res = runner.invoke(app, args[:-1] + ["--frames", "6", "--no-progress"])  # other settings: refused
    assert res.exit_code == 2 and "other settings" in res.output


def test_fatal_misuse_exits_nonzero(tmp_path):
    res = runner.invoke(app, ["ingest", str(tmp_path / "absent"), "--out", str(tmp_path / "w")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["ingest", str(tmp_path), "--out", str(tmp_path / "w")])
    assert res.exit_code == 2 and "matches no dataset layout" in res.output and "dfdc_train_part_N" in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    # a bad option value: tests/test_hostile_inputs.py::test_bad_option_value_is_one_usage_line_before_any_work


def test_faces_on_synth(ingest_work, synth_corpus):
    from PIL import Image
    import io

    summary = json.loads((synth_corpus / "synth.json").read_text())
    rows = _videos(ingest_work)
    faces = ds.dataset(ingest_work / "faces.parquet").to_table().to_pylist()
    assert faces
    by_video: dict[str, list] = {}
    for f in faces:
        by_video.setdefault(f["video"], []).append(f)
        img = Image.open(io.BytesIO(f["jpeg"]))
        assert img.format == "JPEG" and img.size == (224, 224)
        v = rows[f["video"]]
        assert 0 <= f["x1"] < f["x2"] <= v["width"] and 0 <= f["y1"] < f["y2"] <= v["height"]
        assert f["prob"] >= 0.95 and f["frame_idx"] in v["sampled_frames"]
        assert len(f["landmarks"]) == 5 and f["phash"] is not None and f["frame_phash"] in v["frame_phash"]
    for part, info in summary["parts"].items():
        for name in info["no_face"]:
            assert rows[name]["status"] == "ok" and rows[name]["n_faces"] == 0
        for name in info["portrait"]:
            assert rows[name]["height"] > rows[name]["width"] and rows[name]["n_faces"] > 0
        for name in info["multi_face"]:
            fs = by_video[name]
            assert rows[name]["n_tracks"] == 2
            # each track stays on one person: the two people stand side by side
            cx = {t: [(f["x1"] + f["x2"]) / 2 for f in fs if f["track_id"] == t] for t in (0, 1)}
            assert max(cx[0]) < min(cx[1]) or max(cx[1]) < min(cx[0])
        for name, v in info["videos"].items():
            if v["faces"] == 1 and v["label"] == "REAL":
                assert rows[name]["n_tracks"] == 1, name
    for name, r in rows.items():
        if r["status"] == "ok":
            assert r["n_faces"] == len(by_video.get(name, []))
            assert r["frames_with_face"] == len({f["frame_idx"] for f in by_video.get(name, [])})


def test_interrupt_then_resume_equals_uninterrupted(ingest_work, synth_corpus, tmp_path):
    """SIGINT the driver mid-run, rerun: the files equal the uninterrupted run's, byte for byte.

    The run is interrupted at a known point: the last video handed out is held by its worker (`hold_util`), so
    the run cannot finish, and the signal comes once that video is held and another video's result is on disk."""
    work, gate = tmp_path / "work", tmp_path / "gate"
    cmd = [sys.executable, "-m", "dfprep.cli", "ingest", str(synth_corpus), "--out", str(work), "--frames", "8",
           "--num-cpus", "2", "--no-progress"]
    video = last_scheduled(synth_corpus)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=hold_env(env_without_ray(), video, gate))
    wait_until(proc, lambda: held(gate, video) and (any((work / "_journal").rglob("*.arrow"))
                                                    or any((work / "videos.parquet").rglob("*.parquet"))),
               f"{video} held with a result on disk")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out.decode()
    assert not (work / "videos.parquet").exists() or len(_files(work)) < len(_files(ingest_work))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env_without_ray())
    assert done.returncode == 0, done.stdout + done.stderr
    run = json.loads((work / "run.json").read_text())
    assert run["resumed"] > 0
    assert _files(work) == _files(ingest_work)


def test_hang_and_crash_are_that_videos_error(synth_corpus, tmp_path):
    meta = json.loads((synth_corpus / "dfdc_train_part_0" / "metadata.json").read_text())
    names = sorted(meta)
    hang, crash = names[0], names[1]
    env = dict(env_without_ray(), DFPREP_FAULTS=f"hang:{hang},crash:{crash}")
    work = tmp_path / "work"
    cmd = [sys.executable, "-m", "dfprep.cli", "ingest", str(synth_corpus), "--out", str(work), "--parts", "0",
           "--frames", "4", "--num-cpus", "2", "--timeout", "8", "--no-faces", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _videos(work)
    assert rows[hang]["status"] == "error" and "timed out" in rows[hang]["error"]
    assert rows[crash]["status"] == "error" and "died" in rows[crash]["error"]
    assert all(r["status"] == "ok" for n, r in rows.items() if n not in (hang, crash))
    assert len(rows) == len(meta)


def test_boxes_from_original(synth_corpus, tmp_path):
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    work = tmp_path / "work"
    ingest(synth_corpus, work, IngestConfig(parts="0", frames=4, num_cpus=2, progress=False,
                                            boxes_from_original=True))
    faces = ds.dataset(work / "faces.parquet").to_table(
        columns=["video", "label", "original", "frame_idx", "track_id", "x1", "y1", "x2", "y2", "jpeg"]).to_pylist()
    key = {(f["video"], f["frame_idx"], f["track_id"]): f for f in faces}
    fakes = [f for f in faces if f["label"] == "FAKE" and (f["original"], f["frame_idx"], f["track_id"]) in key]
    assert fakes
    differ = 0
    for f in fakes:
        o = key[(f["original"], f["frame_idx"], f["track_id"])]
        assert (f["x1"], f["y1"], f["x2"], f["y2"]) == (o["x1"], o["y1"], o["x2"], o["y2"])
        differ += f["jpeg"] != o["jpeg"]
    assert differ == len(fakes)  # same window, different (swapped) face


def test_parquet_readable_by_plain_pyarrow(ingest_work):
    t = pq.read_table(ingest_work / "faces.parquet", columns=["video", "part"])
    assert t.num_rows > 0 and set(t.column("part").to_pylist()) == {0, 1}
    md = pq.ParquetFile(next((ingest_work / "faces.parquet").rglob("*.parquet"))).metadata
    assert all(md.row_group(i).num_rows <= 256 for i in range(md.num_row_groups))


def test_a_work_grows_by_parts(synth_corpus, ingest_work, tmp_path):
    """Ingesting part 0, then parts 0-1 into the same WORK processes only part 1 (the part selection is not a
    setting) and ends with the files of a run over both parts at once. Growth by videos within a part, and a
    part that shrank: tests/test_grow.py."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    work = tmp_path / "grow"
    first = ingest(synth_corpus, work, IngestConfig(parts="0", frames=8, num_cpus=2, progress=False))
    part0 = {k: v for k, v in _files(work).items() if "part-0" in k}
    assert part0 and not any("part-1" in k for k in _files(work))
    second = ingest(synth_corpus, work, IngestConfig(parts="0-1", frames=8, num_cpus=2, progress=False))
    assert second.processed_this_run == second.videos - first.videos > 0
    assert second.resumed == first.videos
    assert {k: v for k, v in _files(work).items() if "part-0" in k} == part0
    assert _files(work) == _files(ingest_work)        # the session fixture ingested both parts in one run
