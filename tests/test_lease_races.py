"""Two `dfprep` commands writing one output folder at once (issue 18, items 1 and 5): started together on a pipe
handshake, exactly one is refused with one line and exit 2, the other finishes, and the folder is whole.

Each command runs in its own process under a small wrapper that imports the CLI, says "ready", and waits for a
byte on stdin; the test writes that byte to both once both are ready."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster_util import env_without_ray
from test_ingest import _files

pytestmark = pytest.mark.slow

REFUSAL = "is being written by another run"
GO = """
import sys
from dfprep.cli import app
print("ready", flush=True)
sys.stdin.read(1)
sys.argv = ["dfprep", *sys.argv[1:]]
app()
"""


def on_barrier(*commands: list[str], timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Run the dfprep `commands` in processes released together once every one has started."""
    procs = [subprocess.Popen([sys.executable, "-c", GO, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env_without_ray()) for args in commands]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.communicate(timeout=60)
        for p in procs:
            p.stdin.write("g")
            p.stdin.flush()
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return [subprocess.CompletedProcess(args, p.returncode, o, e) for args, p, (o, e) in zip(commands, procs, outs)]


def refused_and_done(results: list[subprocess.CompletedProcess], folder: Path):
    """(the refused run, the finished one); the refusal is one line naming the holder, no traceback."""
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 2], [(r.returncode, r.stdout[-2000:], r.stderr[-3000:]) for r in results]
    refused = next(r for r in results if r.returncode == 2)
    done = next(r for r in results if r.returncode == 0)
    lines = refused.stderr.strip().splitlines()                # errors go to stderr (dfprep.cli.reported)
    assert len(lines) == 1 and not refused.stdout.strip(), (refused.stdout, refused.stderr)
    assert REFUSAL in lines[0] and str(folder) in lines[0] and "pid " in lines[0] and "since " in lines[0]
    assert "Traceback" not in refused.stdout + refused.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return refused, done


def test_two_shards_runs_into_one_folder(ingest_work, tmp_path):
    """Item 1: two `dfprep shards` with different settings into one SHARDS: one refused before it plans or
    deletes anything, the other's shards intact; `dfprep shards verify` is clean."""
    from dfprep.cli import app

    out = tmp_path / "shards"
    common = ["shards", str(ingest_work), "--out", str(out), "--num-cpus", "1", "--no-progress"]
    results = on_barrier(common + ["--samples-per-shard", "8"], common + ["--samples-per-shard", "5", "--seed", "1"])
    refused, done = refused_and_done(results, out)
    assert "command `dfprep shards`" in refused.stderr
    verify = CliRunner().invoke(app, ["shards", "verify", str(out)])
    assert verify.exit_code == 0, verify.output
    assert not list(out.glob("_lease-*"))
    # the run that was refused, rerun alone, meets the other's settings as before: refused (exit 2), one line
    again = subprocess.run([sys.executable, "-m", "dfprep.cli", *refused.args], capture_output=True, text=True,
                           timeout=600, env=env_without_ray())
    assert again.returncode == 2 and "other settings" in again.stderr and REFUSAL not in again.stderr, again


def test_two_ingests_of_different_parts_into_one_work(synth_corpus, ingest_work, tmp_path):
    """Item 5: `--parts 0` and `--parts 1` into one WORK at once: one refused in one line before it touches
    WORK; rerun afterwards it completes, and WORK equals an ingest of both parts in one run, byte for byte."""
    work = tmp_path / "work"
    common = ["ingest", str(synth_corpus), "--out", str(work), "--frames", "8", "--num-cpus", "1",
              "--no-progress"]
    results = on_barrier(common + ["--parts", "0"], common + ["--parts", "1"])
    refused, _ = refused_and_done(results, work)
    assert "command `dfprep ingest`" in refused.stderr
    rerun = subprocess.run([sys.executable, "-m", "dfprep.cli", *refused.args], capture_output=True, text=True,
                           timeout=600, env=env_without_ray())
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert _files(work) == _files(ingest_work)
    assert not list(work.glob("_lease-*")) and not (work / "_journal").exists()
