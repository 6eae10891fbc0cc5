"""Faults that must not cost trusted output: a full disk."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import pyarrow.dataset as ds
import pyarrow.ipc as ipc
import pytest

from cluster_util import dfprep_cmd, parquet_files, run

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_stops_cleanly_and_resumes(tiny_disk, synth_corpus, ingest_work, tmp_path):
    work = tiny_disk / "work"
    res = run(dfprep_cmd("ingest", str(synth_corpus), "--out", str(work), "--frames", "8", "--num-cpus", "2",
                         "--no-progress"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "No space left" in res.stderr or "no space" in res.stderr.lower()     # errors go to stderr, one line
    # every file with its final name is whole: parquet opens, journal entries read, no temporaries linger
    assert not list(work.rglob(".tmp-*"))
    for p in work.rglob("*.parquet"):
        ds.dataset(p).to_table()
    for p in work.rglob("*.arrow"):
        with ipc.open_file(str(p)) as r:
            r.read_all()
    # move to a roomy disk and rerun: the result equals an uninterrupted run's
    roomy = tmp_path / "roomy"
    shutil.copytree(work, roomy)
    state = json.loads((roomy / "_state.json").read_text())
    assert state["root"]
    res = run(dfprep_cmd("ingest", str(synth_corpus), "--out", str(roomy), "--frames", "8", "--num-cpus", "2",
                         "--no-progress"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert parquet_files(roomy) == parquet_files(ingest_work)
