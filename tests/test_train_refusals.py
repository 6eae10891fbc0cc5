"""`dfprep train` refusing before it starts, and stopping while it starts: `--resume` with nothing to resume, a
refused run leaving no RUN folder behind, Ctrl-C while the loader's workers start (no "Exception ignored")."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


# ----------------------------------------------------------------- Ctrl-C while DataLoader workers start

# A real SIGINT raised in the parent at a fixed point inside torch's iterator __init__: the second worker's
# start (the spawn context pickles the dataset there, in the parent), the first worker already running.
INTERRUPT_AT_SECOND_WORKER = textwrap.dedent("""
    import gc, multiprocessing, signal, sys
    from torch.utils.data import DataLoader, IterableDataset
    from dfprep.train.workers import WorkerSafeLoader

    class Numbers(IterableDataset):
        pickled = 0

        def __iter__(self):
            return iter(range(4))

        def __getstate__(self):
            Numbers.pickled += 1
            if Numbers.pickled == 2:
                signal.raise_signal(signal.SIGINT)
            return self.__dict__

    cls = WorkerSafeLoader if sys.argv[1] == "dfprep" else DataLoader
    loader = cls(Numbers(), batch_size=None, num_workers=2, multiprocessing_context="spawn")
    try:
        it = iter(loader)
    except KeyboardInterrupt:
        print("interrupted", Numbers.pickled, flush=True)
    else:
        print("not interrupted", flush=True)
    gc.collect()
    print("children", len([p for p in multiprocessing.active_children() if p.is_alive()]), flush=True)
""")


def _interrupted_start(kind: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = tmp_path / "start.py"
    script.write_text(INTERRUPT_AT_SECOND_WORKER)
    return subprocess.run([sys.executable, str(script), kind], env=_env(), cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)


def test_ctrl_c_while_workers_start_prints_no_exception_ignored(tmp_path):
    res = _interrupted_start("dfprep", tmp_path)
    assert res.returncode == 0, res.stderr
    assert "interrupted 2" in res.stdout, res.stdout + res.stderr
    assert "Exception ignored" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert "children 0" in res.stdout, res.stdout          # the worker already started was stopped


def test_torchs_own_loader_shows_the_message_this_guards_against(tmp_path):
    """The same interrupt on torch's DataLoader: the half-built iterator's __del__ fails (why WorkerSafeLoader
    exists; if torch fixes it, this test says so)."""
    res = _interrupted_start("torch", tmp_path)
    assert "interrupted 2" in res.stdout, res.stdout + res.stderr
    assert "Exception ignored" in res.stderr and "has no attribute" in res.stderr, res.stderr


# ----------------------------------------------------------------- refusals before the run starts

@pytest.fixture(scope="module")
def frame_shards(tmp_path_factory) -> Path:
    from test_train import write_shards

    return write_shards(tmp_path_factory.mktemp("shards"))


def _train_cli(*args: str):
    from typer.testing import CliRunner

    from dfprep.cli import app

    res = CliRunner().invoke(app, ["train", *args, "--model", "smallcnn", "--workers", "0", "--epochs", "1",
                                   "--no-progress"])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    return res, lines


def test_resume_with_nothing_to_resume_is_one_line_not_a_fresh_start(frame_shards, tmp_path):
    missing = tmp_path / "no-such-run"
    res, lines = _train_cli(str(frame_shards), "--out", str(missing), "--resume")
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert lines[0].startswith("error: nothing to resume in RUN:") and str(missing) in " ".join(res.output.split())
    assert not missing.exists()
    empty = tmp_path / "empty-run"
    empty.mkdir()
    res, lines = _train_cli(str(frame_shards), "--out", str(empty), "--resume")
    assert res.exit_code == 2 and len(lines) == 1 and "nothing to resume in RUN" in lines[0], res.output
    assert empty.is_dir() and not any(empty.iterdir())          # the user's folder stays, untouched


def test_a_refused_train_leaves_no_run_folder(frame_shards, tmp_path):
    run = tmp_path / "new" / "deeper" / "run"
    res, lines = _train_cli(str(tmp_path / "not-shards"), "--out", str(run))      # no index.json there
    assert res.exit_code in (1, 2) and len(lines) == 1 and "index.json" in lines[0], res.output
    assert not (tmp_path / "new").exists()
    res, lines = _train_cli(str(frame_shards), "--out", str(run), "--unit", "clip")   # frame shards
    assert res.exit_code == 2 and len(lines) == 1 and "--unit clip" in lines[0], res.output
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()                                   # a folder the user made is never removed
    res, _ = _train_cli(str(frame_shards), "--out", str(tmp_path / "mine"), "--unit", "clip")
    assert res.exit_code == 2 and (tmp_path / "mine").is_dir()
