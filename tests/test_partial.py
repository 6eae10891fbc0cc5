"""An unfinished ingest is never trusted downstream: after a SIGKILL mid-ingest (a first run: no run.json; a
grown run: the old run.json, new batches without files), `dfprep shards` and `dfprep analyze` refuse WORK in one
line (exit 2, nothing written) unless --allow-partial, which index.json and stats.json then record, and `shards
verify --work` says so. The kill is deterministic: one video hangs (DFPREP_FAULTS), so the run cannot finish; the
process tree is frozen with SIGSTOP once a batch file exists, then killed. Real H.264 of a small synth corpus."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster_util import dfprep_cmd, env_without_ray, wait_for
from dfprep.cli import app

ARGS = ["--frames", "4", "--no-identity", "--batch-videos", "1", "--num-cpus", "2", "--no-progress"]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _killed_ingest(root: Path, work: Path, parts: str, hang: str, part: int) -> None:
    """`dfprep ingest` with `hang` hanging, SIGKILLed (with every process it started) once a batch of `part` is
    written: a run that cannot have finished."""
    cmd = dfprep_cmd("ingest", str(root), "--out", str(work), "--parts", parts, *ARGS)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(env_without_ray(), DFPREP_FAULTS=f"hang:{hang}"))
    folder = work / "videos.parquet" / f"part-{part}"
    try:
        reached = wait_for(lambda: folder.is_dir() and any(p.name.startswith("batch-") for p in folder.iterdir())
                           or proc.poll() is not None, 300)
    finally:
        os.killpg(proc.pid, signal.SIGSTOP)                 # frozen: nothing finishes while the tree is collected
        for pid in _descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        out, _ = proc.communicate(timeout=60)
    assert reached and proc.returncode == -signal.SIGKILL, out.decode()[-3000:]


def _videos(root: Path, part: int) -> list[str]:
    return sorted(json.loads((root / f"dfdc_train_part_{part}" / "metadata.json").read_text()))


def _refused(args: list[str], work: Path) -> str:
    res = CliRunner().invoke(app, args)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1, lines
    assert str(work) in lines[0] and "unfinished" in lines[0] and "--allow-partial" in lines[0], lines
    return lines[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from dfprep.synth import SynthConfig, make_corpus

    root = tmp_path_factory.mktemp("partial") / "root"
    make_corpus(root, SynthConfig(parts=2, videos=4, duration=1.0, fps=10, seed=5, workers=1))
    return root


@pytest.mark.slow
def test_killed_first_ingest_is_refused_then_allowed_as_partial(corpus, tmp_path):
    from dfprep.analysis.run import analyze
    from dfprep.ingest.completion import unfinished_ingest
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards
    from dfprep.shards.verify import verify_shards

    work = tmp_path / "work"
    names = _videos(corpus, 0)
    _killed_ingest(corpus, work, "0", names[0], 0)
    assert not (work / "run.json").exists()
    reason = unfinished_ingest(work)
    assert reason and reason.endswith(f"of {len(names)} planned videos not finished"), reason

    shards = tmp_path / "shards"
    line = _refused(["shards", str(work), "--out", str(shards), "--no-progress"], work)
    assert reason in line and not shards.exists()
    _refused(["analyze", str(work), "--no-progress"], work)
    assert not (work / "report").exists()

    index = make_shards(work, shards, ShardsConfig(allow_partial=True, use_ray=False, progress=False,
                                                   split="1,1", balance="none")).index
    on_disk = json.loads((shards / "index.json").read_text())
    assert index["partial"] is True and on_disk["partial"] is True
    assert any("--allow-partial" in w and reason in w for w in on_disk["warnings"])
    assert verify_shards(shards, work) == []                      # cut as partial, said so: verify agrees
    on_disk["partial"] = False                                    # the same shards, not declared partial
    (shards / "index.json").write_text(json.dumps(on_disk))
    problems = verify_shards(shards, work)
    assert any("the ingest is unfinished" in p and reason in p for p in problems), problems

    stats = analyze(work, allow_partial=True, augment_preview=False)
    assert stats["partial"] is True and stats["partial_reason"] == reason
    assert stats["totals"]["videos"] < len(names)
    html = Path(stats["outputs"]["html"]).read_text()
    assert "Partial WORK" in html and reason in html


@pytest.mark.slow
def test_grown_then_killed_ingest_is_refused(corpus, tmp_path):
    """Part 0 ingested to the end, then a run adding part 1 killed: the old run.json is there, but the grown plan's
    batches are not all written: refused, naming how many videos are unfinished; finishing the ingest clears it."""
    from dfprep.ingest.completion import unfinished_ingest
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    work = tmp_path / "work"
    cfg = dict(frames=4, identity=False, batch_videos=1, num_cpus=2, progress=False)
    ingest(corpus, work, IngestConfig(parts="0", **cfg))
    assert unfinished_ingest(work) is None
    _killed_ingest(corpus, work, "0-1", _videos(corpus, 1)[0], 1)
    assert (work / "run.json").is_file()
    reason = unfinished_ingest(work)
    total = len(_videos(corpus, 0)) + len(_videos(corpus, 1))
    assert reason and reason.endswith(f"of {total} planned videos not finished"), reason
    _refused(["shards", str(work), "--out", str(tmp_path / "shards"), "--no-progress"], work)
    _refused(["analyze", str(work), "--no-progress"], work)

    done = ingest(corpus, work, IngestConfig(parts="0-1", **cfg))
    assert done.videos == total and unfinished_ingest(work) is None


def test_a_journal_left_or_no_run_json_is_unfinished(ingest_work, tmp_path):
    """The two states a stop leaves besides missing batches: a batch reopened to redo a video (its journal beside
    the old batch file, which still holds the old rows) and the end never recorded (no run.json). Both refused."""
    import shutil

    import pyarrow.dataset as ds

    from dfprep.formats.work.faces import empty_faces
    from dfprep.formats.work.batches import journal_file, read_journal, write_journal
    from dfprep.ingest.batches import Batch
    from dfprep.ingest.completion import unfinished_ingest

    assert unfinished_ingest(ingest_work) is None
    reopened, unrecorded = tmp_path / "reopened", tmp_path / "unrecorded"
    shutil.copytree(ingest_work, reopened)
    shutil.copytree(ingest_work, unrecorded)
    (unrecorded / "run.json").unlink()
    assert unfinished_ingest(unrecorded) == "no run.json: the last ingest stopped before recording its end"

    row = ds.dataset(reopened / "videos.parquet" / "part-0").to_table().slice(0, 1).to_pylist()[0]
    path = journal_file(reopened, Batch(0, 0), row["video"])
    write_journal(path, row, empty_faces())
    assert read_journal(path)[0]["video"] == row["video"]
    reason = unfinished_ingest(reopened)
    plans = [json.loads(p.read_text()) for p in sorted((reopened / "_batches").glob("part-*.json"))]
    total = sum(len(b["videos"]) for plan in plans for b in plan["batches"])
    batch0 = next(b["videos"] for plan in plans if plan["part"] == 0 for b in plan["batches"] if b["index"] == 0)
    assert reason == f"{len(batch0)} of {total} planned videos not finished"
    for work in (reopened, unrecorded):
        _refused(["shards", str(work), "--out", str(tmp_path / "shards"), "--no-progress"], work)
        _refused(["analyze", str(work), "--no-progress"], work)
