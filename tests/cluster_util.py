"""Helpers shared by the cluster and fault tests: run the CLI in a subprocess, read outputs."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds


def dfprep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dfprep.cli", *args]


def parquet_files(work: Path) -> dict[str, bytes]:
    out = {}
    for sub in ("videos.parquet", "faces.parquet"):
        for p in sorted((Path(work) / sub).rglob("*.parquet")):
            out[str(p.relative_to(work))] = p.read_bytes()
    return out


def video_names(work: Path) -> list[str]:
    return ds.dataset(Path(work) / "videos.parquet").to_table(columns=["video"]).column("video").to_pylist()


def wait_for(cond, timeout: float = 120.0, every: float = 0.1) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(every)
    return False


def journal_count(work: Path) -> int:
    return len(list((Path(work) / "_journal").rglob("*.arrow")))


def proc_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def env_without_ray() -> dict:
    """The test process's environment minus what an earlier in-process ray.init left in it
    (RAY_AUTH_MODE=token would make a subprocess speak token auth to an auth-less test cluster)."""
    env = dict(os.environ)
    for k in ("RAY_ADDRESS", "RAY_AUTH_MODE", "PYTHONBREAKPOINT", "RAY_USAGE_STATS_ENABLED"):
        env.pop(k, None)
    return env


def run(cmd: list[str], timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or env_without_ray())
