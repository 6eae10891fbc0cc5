"""Running `dfprep ingest` as a measured child process, shared by bench/ingest.py (throughput),
bench/ingest_limit.py and bench/ingest_lower_bound.py: a synthetic corpus, the child's environment and CPU
pinning, its CPU and memory sampled while it runs. Imports run one way: ingest -> ingest_limit ->
ingest_lower_bound -> ingest_runs -> common.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, TreeRSS, loadavg1  # noqa: E402

CHILD = """
import json, sys
from pathlib import Path
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.run import ingest
root, work, cfg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = ingest(Path(root), Path(work), IngestConfig(progress=False, **cfg))
print(json.dumps({k: s.record.get(k) for k in ("videos", "by_status", "faces", "ok_videos_without_face", "timings",
                                               "resources", "plan", "detectors", "stages")}, default=str))
"""


def make(root: Path, videos: int, size: str, duration: float, fps: int, seed: int, workers: int) -> dict:
    from dfprep.synth import SynthConfig, make_corpus

    t = time.perf_counter()
    make_corpus(root, SynthConfig(videos=videos, size=size, duration=duration, fps=fps, seed=seed,
                                  workers=workers))
    files = sorted(root.rglob("*.mp4"))
    return {"videos": len(files), "bytes": sum(f.stat().st_size for f in files),
            "seconds": round(time.perf_counter() - t, 2)}


def ray_env(ray_tmp: Path) -> dict:
    """A private RAY_TMPDIR and no RAY_ADDRESS: the child starts its own local Ray."""
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    env["RAY_TMPDIR"] = str(ray_tmp)
    ray_tmp.mkdir(parents=True, exist_ok=True)
    return env


def pinned(cpus: list[int] | None):
    """preexec_fn that confines a child (and every process it starts) to `cpus`; None: no pinning."""
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def reaped_cpu_s(before) -> float:
    """CPU s (user + system) of the children reaped since `before` (with the descendants they reaped)."""
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (now.ru_utime - before.ru_utime) + (now.ru_stime - before.ru_stime)


def measured_child(cmd: list[str], what: str, cpus: list[int] | None, interval: float, mem_every: int,
                   env: dict | None = None) -> tuple[str, float, TreeRSS]:
    """Run a child process (pinned to `cpus`), sampling its tree's CPU and memory; (stdout, wall s, samples)."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                            preexec_fn=pinned(cpus))
    with TreeRSS(proc.pid, interval=interval, mem_every=mem_every) as mem:
        out, err = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (rc {proc.returncode}):\n{err[-3000:]}")
    return out, wall, mem


def run_once(root: Path, work: Path, cfg: dict, ray_tmp: Path, cpus: list[int] | None = None,
             interval: float = 0.2, mem_every: int = 1) -> dict:
    la0 = loadavg1()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, wall, mem = measured_child([sys.executable, "-c", CHILD, str(root), str(work), json.dumps(cfg)],
                                    "ingest child", cpus, interval, mem_every, env=ray_env(ray_tmp))
    summary = json.loads(out.strip().splitlines()[-1])
    plan = summary.get("plan") or summary.get("resources") or {}
    n = summary["videos"]
    return {"wall_s": wall, "ingest_s": summary["timings"]["total_s"], "videos": n,
            "videos_per_s_wall": n / wall, "videos_per_s_ingest": n / summary["timings"]["total_s"],
            "peak_rss_mb": mem.peak_rss / 2**20, "peak_pss_mb": mem.peak_pss / 2**20,
            "procs_at_peak": mem.peak_procs, "max_procs": mem.max_procs, "samples": mem.samples,
            "at_peak_pss": mem.at_peak_pss, "tree_cpu_s": mem.cpu_s, "cores_busy": mem.cpu_s / wall,
            "detector_busy_s": sum(d.get("busy_s", 0.0) for d in summary.get("detectors") or []),
            "detector_frames": sum(d.get("frames", 0) for d in summary.get("detectors") or []),
            "detector_batches": sum(d.get("batches", 0) for d in summary.get("detectors") or []),
            "loadavg": [la0, loadavg1()], "by_status": summary["by_status"], "faces": summary["faces"],
            "without_face": summary["ok_videos_without_face"],
            "workers": plan.get("workers"), "detectors": plan.get("detectors"),
            "reaped_cpu_s": reaped_cpu_s(ru0), "plan": summary.get("plan"), "stages": summary.get("stages"),
            "timings": summary.get("timings")}
