"""Issue 7: ingest on one Ray node against the same work on a two-node Ray cluster (two raylets on loopback).

Both runs get the same logical CPUs (4: a detector and three decode workers) on the same physical cores, so on
one machine this measures what spreading the work over two Ray nodes costs or keeps (placement, cross-node
calls from decode workers to the detector on the head), not the speed-up of real extra hosts, which BENCHMARKS.md
projects from the per-video costs instead.

    python bench/scaling.py [--videos 24] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, loadavg1, machine, machine_line, md_table, write_json  # noqa: E402
from dfprep.formats.work.names import run_json_path  # noqa: E402


def _ingest(root: Path, work: Path, extra: list[str]) -> dict:
    env = dict(os.environ)
    for k in ("RAY_ADDRESS", "RAY_AUTH_MODE"):
        env.pop(k, None)
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "dfprep.cli", "ingest", str(root), "--out", str(work),
                          "--frames", "32", "--no-progress", *extra], capture_output=True, text=True, env=env,
                         cwd=REPO)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(res.stdout[-2000:] + res.stderr[-2000:])
    s = json.loads(run_json_path(work).read_text())
    return {"wall_s": round(wall, 2), "ingest_s": s["timings"]["total_s"], "videos": s["processed_this_run"],
            "videos_per_s": round(s["processed_this_run"] / s["timings"]["total_s"], 3),
            "nodes": len(s.get("videos_per_node", {})), "videos_per_node": sorted(s.get("videos_per_node", {}).values()),
            "workers": s["plan"]["workers"], "load": loadavg1()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    from dfprep.localcluster import down, up
    from dfprep.synth import SynthConfig, make_corpus

    tmp = Path(tempfile.mkdtemp(prefix="dfprep-scaling-"))
    try:
        root = tmp / "corpus"
        make_corpus(root, SynthConfig(videos=a.videos, duration=2.0, fps=15, seed=0))
        one = _ingest(root, tmp / "w1", ["--num-cpus", "4"])
        port = random.randrange(20000, 40000, 10)
        address = up(port, head_cpus=2, node_cpus=2)
        try:
            two = _ingest(root, tmp / "w2", ["--address", address, "--detector-resource", "detector"])
        finally:
            down(port)
        files = lambda w: {str(p.relative_to(w)): p.read_bytes()  # noqa: E731
                           for p in sorted(w.rglob("*.parquet")) if p.is_file()}
        same = files(tmp / "w1") == files(tmp / "w2")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [["1 node (embedded, 4 logical CPUs)", one["videos"], one["ingest_s"], one["videos_per_s"], 1, "-"],
            ["2 nodes (loopback cluster, 2+2 CPUs)", two["videos"], two["ingest_s"], two["videos_per_s"],
             two["nodes"], "/".join(map(str, two["videos_per_node"]))]]
    print(machine_line(machine()))
    print(md_table(["run", "videos", "ingest s", "videos/s", "nodes used", "videos per node"], rows))
    print(f"\noutputs identical: {same}; 2-node / 1-node throughput: {two['videos_per_s'] / one['videos_per_s']:.2f}")
    write_json(a.json, {"machine": machine(), "one_node": one, "two_nodes": two, "identical": same})
    return 0


if __name__ == "__main__":
    sys.exit(main())
