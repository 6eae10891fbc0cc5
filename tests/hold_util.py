"""A handshake for tests that interrupt an ingest at a known point: `DFPREP_FAULTS=hold:VIDEO` makes the worker
that reaches VIDEO announce it (a `.held` file) and wait for a `.release` file (`dfprep.faults`), so the run
cannot finish before the test has acted, and the test acts once the run is where it wants it."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

from dfprep.faults import HELD, RELEASE


def last_scheduled(root: Path) -> str:
    """The video of a synth ROOT that ingest hands out last (smallest file; `dfprep.ingest.run._largest_first`
    orders by size, then part, then name), so every other video is handed out before it is held."""
    files = sorted(root.glob("dfdc_train_part_*/*.mp4"))
    last = max(files, key=lambda p: (-p.stat().st_size, int(p.parent.name.rsplit("_", 1)[1]), p.name))
    return last.name


def hold_env(env: dict, video: str, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    return dict(env, DFPREP_FAULTS=f"hold:{video}", DFPREP_FAULTS_DIR=str(folder))


def wait_until(proc: subprocess.Popen, cond, what: str, limit_s: float = 300.0) -> None:
    """Wait for a file-system condition the held run brings about; fail (with the run's output) if the run ends
    first. The limit only stops a broken run from hanging the suite."""
    deadline = time.monotonic() + limit_s
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {what}: {proc.communicate()[0]!r}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no {what} within {limit_s:g} s: {proc.communicate()[0]!r}")
        time.sleep(0.05)


def held(folder: Path, video: str) -> bool:
    return (folder / (video + HELD)).exists()


def release(folder: Path, video: str) -> None:
    (folder / (video + RELEASE)).touch()
