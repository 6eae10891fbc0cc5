"""Shared helpers of the benchmarks: timing with repeats, machine description, markdown tables, JSON, RSS.

Benchmarks run on shared machines, so every measurement is repeated and reported as the median, with the
load average (1 min) recorded before and after the run of repeats.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "real"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mem_total_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> dict:
    """What the figures were measured on."""
    import importlib.metadata as md

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "ram_gb": round(mem_total_gb(), 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "loadavg_start": [round(v, 2) for v in os.getloadavg()]}
    libs = {}
    for name in ("dfprep", "av", "decord", "opencv-python-headless", "torch", "facenet-pytorch", "dlib-bin",
                 "numpy", "ray"):
        try:
            libs[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    info["versions"] = libs
    return info


def machine_line(info: dict) -> str:
    la = info.get("loadavg_start", [])
    return (f"{info['cores']} cores ({info['cpu']}), {info['ram_gb']} GB RAM, Python {info['python']}; "
            f"load average at start {la[0] if la else '?'}")


def loadavg1() -> float:
    return round(os.getloadavg()[0], 2)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
    """Run fn warmup + repeats times; return the median and all times (seconds) and the load averages."""
    for _ in range(warmup):
        fn()
    la0 = loadavg1()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times,
            "loadavg": [la0, loadavg1()]}


def md_table(headers: list[str], rows: Iterable[Iterable]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write_json(path: str | os.PathLike | None, payload: dict) -> None:
    if not path:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


class TreeRSS:
    """Sample the summed RSS of a process and all its descendants every `interval` s, in a thread.

    `peak_bytes` is the largest sum seen; `peak_procs` the process count at that moment. Processes that exit
    between listing and reading are skipped. (RSS double-counts pages shared between processes, e.g. Ray's
    plasma store mapped into workers, so the sum is an upper bound on the memory really used.)
    """

    def __init__(self, pid: int, interval: float = 0.2):
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_bytes = 0
        self.peak_procs = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        ps = self._psutil
        try:
            procs = [self.root] + self.root.children(recursive=True)
        except ps.NoSuchProcess:
            return 0
        total = 0
        n = 0
        for p in procs:
            try:
                total += p.memory_info().rss
                n += 1
            except (ps.NoSuchProcess, ps.AccessDenied, ps.ZombieProcess):
                pass
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_procs = total, n
        self.samples += 1
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreeRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
