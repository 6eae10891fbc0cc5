"""What the commands print: progress bars (training epochs, the report's steps) on stderr, quiet when not a
terminal, and metrics rounded to 4 significant digits on the console while the files keep every digit."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from dfprep.progress import StepBar
from test_train import REPO, write_shards

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _significant(text: str) -> int:
    """Significant digits of a printed number ('0.6931' -> 4, '34.54' -> 4, '1.000' -> 4)."""
    mantissa = text.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa)


def _is_rounded(text: str, value: float) -> bool:
    """`text` shows `value` to 4 significant digits: at most 4 digits, and within half a unit of the 4th."""
    if value == 0:
        return float(text) == 0
    unit = 10 ** (math.floor(math.log10(abs(value))) - 3)
    return _significant(text) <= 4 and abs(float(text) - value) <= unit / 2 + 1e-12


def _plain_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    return {**env, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "COLUMNS": "120"}


# --------------------------------------------------------------------------------------------- the bar itself

def test_step_bar_redraws_on_a_terminal_and_prints_only_its_end_elsewhere():
    outputs = {}
    for terminal in (True, False):
        buf = io.StringIO()
        console = Console(file=buf, force_terminal=terminal, width=100, color_system=None)
        with StepBar(True, 4, "epoch 1/3", console=console) as bar:
            for i in range(4):
                bar.advance(info=f"loss {0.9 - i / 10:.1f}")
                console.file.flush()
                bar.progress.refresh()          # what the refresh thread does several times a second
        outputs[terminal] = buf.getvalue()
    live = outputs[True]
    assert "\r" in live or "\x1b[" in live                          # redrawn in place
    assert all(f"{i}/4" in live for i in range(1, 5)) and "loss 0.6" in live
    quiet = outputs[False]
    assert quiet.count("\n") == 1 and "\x1b" not in quiet and "\r" not in quiet   # one line, its final state
    assert re.search(r"^epoch 1/3 .* 4/4 loss 0\.6 ", quiet)
    assert "1/4" not in quiet


def test_disabled_bar_draws_nothing():
    buf = io.StringIO()
    with StepBar(False, 4, "x", console=Console(file=buf, force_terminal=True)) as bar:
        bar.advance(info="y")
    assert buf.getvalue() == ""


# ------------------------------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`dfprep train` as a user runs it, progress on (the default), stdout and stderr to pipes (no terminal)."""
    shards = write_shards(tmp_path_factory.mktemp("shards"))
    run = tmp_path_factory.mktemp("runs") / "run"
    cmd = [sys.executable, "-m", "dfprep.cli", "train", str(shards), "--out", str(run), "--model", "smallcnn",
           "--epochs", "2", "--batch-size", "8", "--input-size", "48", "--workers", "0", "--no-augment",
           "--device", "cpu"]
    res = subprocess.run(cmd, env=_plain_env(), capture_output=True, text=True, timeout=600, cwd=REPO)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return run, res


def _history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_train_shows_one_bar_per_epoch_with_batches_and_loss(trained):
    run, res = trained
    hist = _history(run)
    bars = re.findall(r"^epoch (\d)/2 .*? (\d+)/(\d+) loss (\S+)", res.stderr, re.M)
    # 48 train samples / batch 8: 6 batches, known before the first batch from index.json
    assert [(e, done, total) for e, done, total, _ in bars] == [("1", "6", "6"), ("2", "6", "6")], res.stderr
    for (_, _, _, loss), row in zip(bars, hist):
        assert _is_rounded(loss, float(row["train_loss"])), (loss, row["train_loss"])
    assert "\x1b" not in res.stderr and "\r" not in res.stderr                 # no redraws in a pipe
    assert not re.search(r"\d+/6 loss", res.stdout)                          # bars on stderr only


def test_train_prints_metrics_rounded_and_files_keep_every_digit(trained):
    run, res = trained
    hist = _history(run)
    lines = re.findall(r"^epoch (\d)/2 step (\d+) loss (\S+) val video log_loss (\S+) auc (\S+)$", res.stdout, re.M)
    assert len(lines) == 2, res.stdout
    for (_, _, loss, ll, auc), row in zip(lines, hist):
        assert _is_rounded(loss, float(row["train_loss"]))
        assert _is_rounded(ll, float(row["val_video_log_loss"]))
        assert _is_rounded(auc, float(row["val_video_roc_auc"]))
    metrics = json.loads((run / "metrics.json").read_text())
    full = metrics["val"]["video"]["log_loss"]
    assert _significant(repr(full)) > 6                                       # the file is not rounded
    table = [ln for ln in res.stdout.splitlines() if ln.strip().startswith(("│ val", "| val", "val"))]
    assert table, res.stdout
    for ln in table:
        for num in NUMBER.findall(ln.split("val", 1)[1].replace("frame", "").replace("video", "")):
            assert _significant(num) <= 4, ln
    video_row = next(ln for ln in table if "val video" in ln)
    assert any(_is_rounded(n, full) for n in NUMBER.findall(video_row)), (video_row, full)


# ------------------------------------------------------------------------------------------------- evaluate

def test_evaluate_prints_rounded_metrics_and_out_keeps_every_digit(real_data, tmp_path):
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    shutil.copy(real_data / "dfdc_train_part_0_metadata.json", part / "metadata.json")
    meta = json.loads((part / "metadata.json").read_text())
    rng = np.random.default_rng(0)
    # mostly wrong guesses: a log loss above 1, where 4 decimals would be 5 significant digits
    probs = {n: (rng.uniform(0.0, 0.6) if e["label"] == "FAKE" else rng.uniform(0.3, 1.0)) for n, e in meta.items()}
    sub = tmp_path / "submission.csv"
    sub.write_text("filename,label\n" + "".join(f"{n},{p!r}\n" for n, p in sorted(probs.items())))

    from dfprep.cli import app

    res = CliRunner().invoke(app, ["evaluate", str(sub), str(part), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert m["log_loss"] > 1 and _significant(repr(m["log_loss"])) > 6
    shown = dict(re.findall(r"^[│|]?\s*(\w+)\s+[│|]?\s+(\S+)\s+[│|]?\s*$", res.output, re.M))
    for k in ("log_loss", "accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "fpr"):
        assert _is_rounded(shown[k], m[k]), (k, shown[k], m[k])
    assert shown["n"] == str(m["n"]) == "1334"


# ------------------------------------------------------------------------------------------------- analyze

def test_analyze_shows_its_steps_on_stderr(ingest_work, tmp_path):
    from dfprep.cli import app

    res = CliRunner().invoke(app, ["analyze", str(ingest_work), "--out", str(tmp_path / "r"),
                                   "--no-augment-preview"])
    assert res.exit_code == 0, res.output
    assert re.search(r"^analyze .* 7/7 done", res.stderr, re.M), res.stderr
    assert "7/7" not in res.stdout and "━" not in res.stdout
    quiet = CliRunner().invoke(app, ["analyze", str(ingest_work), "--out", str(tmp_path / "r2"),
                                     "--no-augment-preview", "--no-progress"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
