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


def wait_quiet(max_load: float | None, max_wait_s: float = 600.0, poll_s: float = 5.0) -> dict:
    """Wait (at most max_wait_s) until the 1-minute load average is below max_load; None: do not wait.

    For shared machines: start a measurement when the others are quiet. Returns what happened."""
    t = time.monotonic()
    if max_load is None:
        return {"waited_s": 0.0, "load": loadavg1()}
    while loadavg1() >= max_load and time.monotonic() - t < max_wait_s:
        time.sleep(poll_s)
    return {"waited_s": round(time.monotonic() - t, 1), "load": loadavg1(), "max_load": max_load}


def add_quiet_args(ap) -> None:
    ap.add_argument("--quiet-load", type=float, default=None,
                    help="first wait until the 1-min load average is below this (shared machines)")
    ap.add_argument("--quiet-wait", type=float, default=600.0, help="longest wait for --quiet-load, seconds")


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


def _proc_children() -> dict[int, list[int]]:
    """ppid -> [pid] for every process, from /proc/*/stat."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])   # fields after "(comm)": state ppid ...
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree_pids(root: int) -> list[int]:
    kids = _proc_children()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def _rollup_kb(pid: int, keys: tuple[str, ...] = ("Rss:", "Pss:")) -> dict[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        for k in keys:
            if line.startswith(k):
                out[k[:-1]] = int(line.split()[1])
    return out


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float | None:
    """utime + stime of a process, seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK      # fields 14 and 15 of stat(5), after pid and comm


def proc_name(pid: int) -> str:
    """A short name: Ray sets its workers' titles to ray::ClassName (or ray::IDLE); otherwise the command."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    args = [c.decode(errors="replace") for c in cmd if c]
    if not args:
        return "?"
    if args[0].startswith("ray::"):
        return args[0].split()[0]
    name = Path(args[0]).name
    if name.startswith("python"):
        rest = [a for a in args[1:] if a not in ("-u", "-S", "-I", "-B")]
        if rest and rest[0] == "-c":
            return "python -c (bench child: ingest driver)"
        if rest and rest[0] == "-m" and len(rest) > 1:
            return f"python -m {rest[1]}"
        return f"python {Path(rest[0]).name}" if rest else name
    return name


class TreeRSS:
    """Sample the memory of a process and all its descendants every `interval` s, in a thread (Linux /proc).

    `peak_rss` is the largest summed RSS seen (bytes), `peak_pss` the largest summed PSS (proportional set size:
    a page shared by n processes counts 1/n in each, so the sum does not count shared libraries or Ray's
    shared-memory object store several times); `peak_procs` is the process count at the RSS peak. Processes
    that exit between listing and reading are skipped.
    """

    def __init__(self, pid: int, interval: float = 0.2, mem_every: int = 1):
        self.pid = pid
        self.interval = interval
        # Reading smaps_rollup costs ~4 ms of kernel time per GB-sized process: with a dozen Ray processes and
        # a short interval that is several % of a core taken from the run being measured. CPU times (cheap,
        # /proc/PID/stat) are read every sample; memory every `mem_every`-th.
        self.mem_every = max(1, mem_every)
        self.peak_rss = self.peak_pss = self.peak_procs = self.max_procs = 0
        self.samples = 0
        self.at_peak_pss: list[dict] = []
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_s(self) -> float:
        """CPU seconds (user + system) used by the tree's processes, as last sampled (each process's last
        reading, so a process's final 0.2 s may be missing)."""
        return sum(self._cpu.values())

    def sample(self) -> tuple[int, int]:
        rss = pss = n = 0
        per = []
        with_mem = self.samples % self.mem_every == 0
        for pid in tree_pids(self.pid):
            t = _cpu_s(pid)
            if t is not None:
                self._cpu[pid] = max(t, self._cpu.get(pid, 0.0))
            r = _rollup_kb(pid) if with_mem else None
            if not r:
                continue
            rss += r.get("Rss", 0) * 1024
            pss += r.get("Pss", 0) * 1024
            per.append((pid, r.get("Rss", 0) * 1024, r.get("Pss", 0) * 1024))
            n += 1
        if rss > self.peak_rss:
            self.peak_rss, self.peak_procs = rss, n
        if pss > self.peak_pss:
            self.peak_pss = pss
            self.at_peak_pss = [{"pid": p, "name": proc_name(p), "rss_mb": round(r / 2**20), "pss_mb": round(q / 2**20)}
                                for p, r, q in sorted(per, key=lambda x: -x[2])]
        self.max_procs = max(self.max_procs, n)
        self.samples += 1
        return rss, pss

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
