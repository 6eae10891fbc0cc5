"""Interrupting `dfprep shards` and rerunning ends with the uninterrupted run's files."""
from __future__ import annotations

import signal
import subprocess

import pytest

from cluster_util import dfprep_cmd, env_without_ray, run, wait_for

pytestmark = pytest.mark.slow


def test_sigint_mid_shards_then_rerun_equals_uninterrupted(ingest_work, tmp_path):
    args = ["--split", "0.6,0.2,0.2", "--samples-per-shard", "4", "--seed", "1", "--num-cpus", "2",
            "--augment", "all", "--no-progress"]
    ref = tmp_path / "ref"
    res = run(dfprep_cmd("shards", str(ingest_work), "--out", str(ref), *args))
    assert res.returncode == 0, res.stdout + res.stderr
    n_ref = len(list(ref.glob("*.tar")))
    assert n_ref >= 4

    out = tmp_path / "cut"
    proc = subprocess.Popen(dfprep_cmd("shards", str(ingest_work), "--out", str(out), *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env_without_ray())
    assert wait_for(lambda: len(list(out.glob("*.tar"))) >= 1, timeout=300, every=0.05)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0, output.decode()
    assert len(list(out.glob("*.tar"))) < n_ref or not (out / "index.json").exists()

    res = run(dfprep_cmd("shards", str(ingest_work), "--out", str(out), *args))
    assert res.returncode == 0, res.stdout + res.stderr
    assert not list(out.glob(".tmp-*"))
    names = sorted(p.name for p in ref.iterdir() if p.suffix in (".tar", ".parquet"))
    assert names == sorted(p.name for p in out.iterdir() if p.suffix in (".tar", ".parquet"))
    for name in names:
        assert (ref / name).read_bytes() == (out / name).read_bytes(), name
