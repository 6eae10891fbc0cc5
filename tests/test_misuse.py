"""Every command's misuse, as a user meets it: `python -m dfprep ...` in a subprocess, exit status 2, no traceback,
nothing written, and exactly one non-empty line on stderr, `error: ...`, naming the file or the option.

Both kinds of misuse end the same way:
- a value outside an option's declared choices or bounds, refused by Typer while the arguments are read
  (`dfprep.cli.OneLineUsage`): "error: Invalid value for '--frames': must be >= 1, got 0 (see `... --help`)";
- misuse found by the command (a folder that is not what it should be, a file that does not exist, text that
  does not parse), through the one handler `dfprep.cli.reported`: "error: WORK/videos.parquet: not found; ...".

None of these starts Ray or reads a video: each is refused before any work.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _dfprep(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "RAY_ADDRESS": ""}
    return subprocess.run([sys.executable, "-m", "dfprep", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def _error_line(res: subprocess.CompletedProcess) -> str:
    """The one line a refusal prints: exit 2, nothing on stdout, exactly one non-empty stderr line `error: ...`."""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr and not res.stdout.strip(), (res.stdout, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def _usage_error(res: subprocess.CompletedProcess) -> str:
    """Typer's refusal of an option value: the same one `error:` line, naming the option and where help is."""
    line = _error_line(res)
    assert line.endswith("--help`)"), line
    return line


@pytest.fixture
def empty(tmp_path) -> Path:
    """A folder that exists but holds nothing: not a ROOT, a WORK, a SHARDS or a RUN."""
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _untouched(tmp_path: Path, *outs: Path) -> None:
    for out in outs:
        assert not out.exists(), f"{out} was created by a refused command"


def test_synth(tmp_path):
    out = tmp_path / "corpus"
    line = _usage_error(_dfprep("synth", out, "--videos", "-1", cwd=tmp_path))
    assert "Invalid value for '--videos': must be >= 1, got -1" in line
    line = _error_line(_dfprep("synth", out, "--ratio", "1-5", cwd=tmp_path))
    assert line == "error: --ratio must be REAL:FAKE such as 1:5, got '1-5'"
    line = _usage_error(_dfprep("synth", out, "--portrait", "1.5", cwd=tmp_path))
    assert "Invalid value for '--portrait': must be in [0, 1], got 1.5" in line
    _untouched(tmp_path, out)


def test_ingest(tmp_path):
    missing, work = tmp_path / "no-such-root", tmp_path / "work"
    line = _error_line(_dfprep("ingest", missing, "--out", work, cwd=tmp_path))
    assert line.startswith(f"error: ROOT {missing}") and "does not exist" in line
    line = _usage_error(_dfprep("ingest", missing, "--out", work, "--decoder", "ffmpeg", cwd=tmp_path))
    assert "Invalid value for '--decoder': must be one of" in line and "got 'ffmpeg'" in line
    _untouched(tmp_path, work)


def test_analyze(tmp_path, empty):
    line = _error_line(_dfprep("analyze", empty, cwd=tmp_path))     # a WORK that is not a WORK
    assert line.startswith(f"error: {empty / 'videos.parquet'}: not found")
    line = _usage_error(_dfprep("analyze", empty, "--gallery", "-3", cwd=tmp_path))
    assert "Invalid value for '--gallery': must be >= 0, got -3" in line
    _untouched(tmp_path, empty / "report")


def test_shards(tmp_path, empty):
    out = tmp_path / "shards"
    line = _error_line(_dfprep("shards", empty, "--out", out, "--no-progress", cwd=tmp_path))
    assert line.startswith(f"error: {empty / 'videos.parquet'}: not found")
    line = _usage_error(_dfprep("shards", empty, "--out", out, "--balance", "smote", cwd=tmp_path))
    assert "Invalid value for '--balance': must be one of undersample, oversample, none, got 'smote'" in line
    line = _usage_error(_dfprep("shards", empty, "--out", out, "--augment-ops", "hflip,warp", cwd=tmp_path))
    assert "Invalid value for '--augment-ops': must be one of" in line and "got 'warp'" in line
    _untouched(tmp_path, out)


def test_shards_verify(tmp_path, empty):
    line = _usage_error(_dfprep("shards", "verify", empty, "--workers", "0", cwd=tmp_path))
    assert "Invalid value for '--workers': must be >= 1, got 0" in line
    line = _error_line(_dfprep("shards", "verify", "s3:/bucket/shards", cwd=tmp_path))
    assert line.startswith("error: SHARDS s3:/bucket/shards: looks like a URI with one slash")


def test_train(tmp_path, empty):
    run = tmp_path / "run"
    line = _error_line(_dfprep("train", empty, "--out", run, cwd=tmp_path))   # SHARDS that is not a SHARDS
    assert line.startswith(f"error: {empty / 'index.json'}: not found")
    line = _usage_error(_dfprep("train", empty, "--out", run, "--model", "vgg16", cwd=tmp_path))
    assert "Invalid value for '--model': must be one of" in line and "got 'vgg16'" in line
    line = _usage_error(_dfprep("train", empty, "--out", run, "--warmup", "1", cwd=tmp_path))
    assert "Invalid value for '--warmup': must be in [0, 1), got 1.0" in line
    _untouched(tmp_path, run)


def test_predict(tmp_path, empty):
    sub = tmp_path / "submission.csv"
    line = _error_line(_dfprep("predict", empty, empty, "--out", sub, cwd=tmp_path))   # RUN that is not a RUN
    assert line.startswith(f"error: {empty / 'config.json'}: not found")
    line = _usage_error(_dfprep("predict", empty, empty, "--out", sub, "--video-agg", "mode", cwd=tmp_path))
    assert "Invalid value for '--video-agg': must be one of mean, median, max, got 'mode'" in line
    _untouched(tmp_path, sub)


def test_evaluate(tmp_path, empty):
    missing = tmp_path / "[red]sub[/red].csv"          # a name rich would read as markup is shown as it is
    line = _error_line(_dfprep("evaluate", missing, empty, cwd=tmp_path))
    assert line.startswith(f"error: {missing}")
    line = _usage_error(_dfprep("evaluate", missing, empty, "--threshold", "1.5", cwd=tmp_path))
    assert "Invalid value for '--threshold': must be in [0, 1], got 1.5" in line


def test_explain(tmp_path, empty):
    image, out = tmp_path / "face.png", tmp_path / "cams"
    line = _error_line(_dfprep("explain", empty, image, "--out", out, cwd=tmp_path))
    assert line.startswith(f"error: {image}: not found")
    line = _usage_error(_dfprep("explain", empty, image, "--out", out, "--frames", "0", cwd=tmp_path))
    assert "Invalid value for '--frames': must be >= 1, got 0" in line
    _untouched(tmp_path, out)


def test_demo(tmp_path):
    out = tmp_path / "demo"
    line = _usage_error(_dfprep("demo", out, "--videos", "0", cwd=tmp_path))
    assert "Invalid value for '--videos': must be >= 1, got 0" in line
    line = _usage_error(_dfprep("demo", out, "--epochs", "-1", cwd=tmp_path))
    assert "Invalid value for '--epochs': must be >= 1, got -1" in line
    _untouched(tmp_path, out)
