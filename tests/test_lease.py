"""The output-folder lease (dfprep.lease) without Ray: on a local folder and on a real moto S3 server.

A second writer is refused naming the holder; a holder whose process is gone, or whose heartbeat is older than
the TTL, is taken over with a line saying so; the heartbeat refreshes the entry; release removes it; two
acquirers released by one barrier end with exactly one holder, round after round."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dfprep.lease import PREFIX, Lease, LeaseHeld, holders, is_lease_name, lease
from dfprep.storage import as_path, is_remote

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["local", "s3"])
def folder(request, tmp_path):
    """An output folder that does not exist yet: local, or a prefix in a fresh bucket of the moto server."""
    if request.param == "local":
        return tmp_path / "out"
    return request.getfixturevalue("bucket") / "runs" / "out"


def lease_names(folder) -> list[str]:
    folder = as_path(folder)
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if is_lease_name(p.name))


def test_second_writer_refused_naming_the_holder(folder):
    with lease(folder, "dfprep shards w --out x") as held:
        assert lease_names(folder) == [f"{PREFIX}{held.token}.json"]
        with pytest.raises(LeaseHeld) as err:
            Lease(folder, "dfprep shards other").acquire()
        line = str(err.value)
        assert "\n" not in line
        assert f"host {socket.gethostname()}, pid {os.getpid()}" in line
        assert f"since {held.record['since']}" in line
        assert "command `dfprep shards w --out x`" in line
        assert str(folder) in line
        assert lease_names(folder) == [f"{PREFIX}{held.token}.json"]       # the refused one left nothing
        assert [h["state"] for h in holders(folder)] == ["held"]


def test_release_removes_the_entry_and_a_folder_it_made(folder):
    with lease(folder, "dfprep ingest"):
        assert lease_names(folder)
    assert lease_names(folder) == []
    if not is_remote(folder):
        assert not folder.exists()              # made only for the lease: gone again
    existing = as_path(folder)
    existing.mkdir(parents=True, exist_ok=True)
    (existing / "keep.txt").write_bytes(b"x")
    with lease(existing, "dfprep ingest"):
        pass
    assert lease_names(existing) == [] and (existing / "keep.txt").read_bytes() == b"x"


def test_released_on_an_exception_and_reacquired(folder):
    with pytest.raises(KeyboardInterrupt):
        with lease(folder, "dfprep train"):
            raise KeyboardInterrupt
    assert lease_names(folder) == []
    with lease(folder, "dfprep train") as again:
        assert again.held


HOLDER = """
import sys
from dfprep.lease import Lease
held = Lease(sys.argv[1], "dfprep ingest (killed)").acquire()
print("held", held.token, flush=True)
sys.stdin.read()
"""


def test_dead_holder_on_this_host_is_taken_over(folder):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = child.stdout.readline().split()
        assert first[0] == "held", first
        child.send_signal(signal.SIGKILL)       # no release: the entry stays behind
        child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert lease_names(folder) == [f"{PREFIX}{first[1]}.json"]
    lines: list[str] = []
    with lease(folder, "dfprep ingest", say=lines.append) as held:
        assert len(lines) == 1
        assert f"pid {child.pid}" in lines[0] and "its process is gone" in lines[0]
        assert "command `dfprep ingest (killed)`" in lines[0]
        assert lease_names(folder) == [f"{PREFIX}{held.token}.json"]


def test_expired_heartbeat_is_taken_over_and_the_old_holder_finds_out(folder):
    old = Lease(folder, "dfprep shards (frozen)", heartbeat_s=3600)
    old.record["host"] = "node-b"               # another host: its pid cannot be checked, only its heartbeat
    old.acquire()
    try:
        with pytest.raises(LeaseHeld):
            Lease(folder, "dfprep shards", ttl_s=1.0).acquire()
        time.sleep(2.5)                         # the entry's heartbeat goes stale (store clocks tick in seconds)
        lines: list[str] = []
        with lease(folder, "dfprep shards", ttl_s=1.0, say=lines.append) as new:
            assert len(lines) == 1 and "host node-b" in lines[0] and "heartbeat is" in lines[0], lines
            assert lease_names(folder) == [f"{PREFIX}{new.token}.json"]
            assert old._beat_once() is False    # woken, the old holder sees its entry gone and stops
            assert lease_names(folder) == [f"{PREFIX}{new.token}.json"]
    finally:
        old.release()


def entry_mtime(folder, token: str) -> float:
    return (as_path(folder) / f"{PREFIX}{token}.json").stat().st_mtime


def test_heartbeat_refreshes_the_entry(folder):
    with lease(folder, "dfprep train", heartbeat_s=0.2) as held:
        first = entry_mtime(folder, held.token)
        deadline = time.monotonic() + 60
        while entry_mtime(folder, held.token) == first and time.monotonic() < deadline:
            time.sleep(0.1)
        assert entry_mtime(folder, held.token) > first
        assert held._beat_once() is True
        assert [h["token"] for h in holders(folder)] == [held.token]


def _contender(folder: str, rounds: int, barrier, results) -> None:
    for r in range(rounds):
        barrier.wait()
        try:
            held = Lease(folder, f"round {r}").acquire()
        except LeaseHeld:
            held = None
        results.put((r, held is not None))
        barrier.wait()                          # the holder holds until both have tried
        if held is not None:
            held.release()
        barrier.wait()


def test_race_of_two_acquirers_ends_with_one_holder(folder):
    ctx = mp.get_context("spawn")
    rounds = 20
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(folder), rounds, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=300) for _ in range(2 * rounds)]
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    for r in range(rounds):
        assert sorted(h for rr, h in got if rr == r) == [False, True], f"round {r}: {got}"
    assert lease_names(folder) == []


@pytest.mark.parametrize("stage", ["ingest", "shards", "train"])
def test_each_writer_refuses_a_folder_in_use_in_one_line(folder, stage, tmp_path):
    """`dfprep ingest`, `shards` and `train` take their output folder's lease before reading or writing
    anything: while another run holds it they stop with one line naming it, exit 2, and leave the folder as it
    was (only the holder's entry in it)."""
    from typer.testing import CliRunner

    from dfprep.cli import app

    source = tmp_path / "source"                # never read: the lease comes first
    args = {"ingest": ["ingest", str(source), "--out", str(folder), "--no-progress"],
            "shards": ["shards", str(source), "--out", str(folder), "--no-progress"],
            "train": ["train", str(source), "--out", str(folder), "--no-progress"]}[stage]
    with lease(folder, "dfprep other --out x") as held:
        res = CliRunner().invoke(app, args)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1, res.output
        assert "is being written by another run" in lines[0] and f"pid {os.getpid()}" in lines[0]
        assert "command `dfprep other --out x`" in lines[0]
        assert lease_names(folder) == [f"{PREFIX}{held.token}.json"]
        assert sorted(p.name for p in as_path(folder).iterdir()) == [f"{PREFIX}{held.token}.json"]
