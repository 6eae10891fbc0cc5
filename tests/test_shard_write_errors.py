"""Issue 18, item 9: `dfprep shards` on a full disk printed one multi-line Ray traceback per failed shard. Now it
prints one line per cause (how many shards, the OS's reason, where, what to do), exits 1, keeps every finished
shard, and the same command resumes once space is freed. The disk is really full: SHARDS is a small tmpfs
(mounted as root; skipped where mounting is not allowed), the shards are written by Ray tasks.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dfprep.shards.verify import verify_shards
from shards_util import SPS, write_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_disk(tmp_path):
    """A 500 KiB tmpfs: a few of the synthetic store's ~1.5 MB of shards fit."""
    mnt = tmp_path / "shards"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=500k", "tmpfs", str(mnt)], capture_output=True,
                         text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _shards(work: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "dfprep", "shards", str(work), "--out", str(out),
                           "--samples-per-shard", str(SPS), "--num-cpus", "1", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_rerun_resumes(tmp_path, small_disk):
    work = write_store(tmp_path / "work", parts=2, families=12)
    res = _shards(work, small_disk)
    output = (res.stdout + res.stderr).strip()
    assert res.returncode == 1, output
    assert len(output.splitlines()) == 1 and "Traceback" not in output and "RayTaskError" not in output, output
    assert output.startswith("error: ") and "shard(s) failed: No space left on device" in output
    assert f"in {small_disk}); free space and rerun the same command to resume" in output
    kept = {p.name for p in small_disk.glob("*.tar")}
    assert kept and not (small_disk / "index.json").exists()
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)     # space freed
    res = _shards(work, small_disk)
    assert res.returncode == 0, res.stdout + res.stderr
    reused = int(res.stdout.split("reused ")[1].split(",")[0])
    assert reused == len(kept)                             # every shard finished before the disk filled is kept
    assert verify_shards(small_disk, work) == []
