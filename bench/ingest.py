"""Ingest end to end. Two modes: `throughput` (the default) and `limit` (bench/ingest_limit.py).

throughput (issue 3): end-to-end ingest throughput and memory on a synthetic DFDC-layout corpus.

Generates a corpus with `dfprep.synth.make_corpus` (N videos, one part, --size WxH; portrait videos swap it),
then runs `dfprep.ingest.run.ingest(root, work, IngestConfig(num_cpus=C, progress=False))` in a child process,
--repeats times, each into a fresh WORK. Reported per run: the child's wall time (interpreter start, imports,
Ray start and shutdown included), ingest's own total time from run.json, videos/s on both, and the peak memory
of the whole process tree (driver + raylet/GCS + Ray workers and actors), sampled every 0.2 s from /proc:
summed RSS (counts shared pages once per process, an upper bound) and summed PSS (shared pages split between
the processes that map them: the memory the tree really holds).

The child gets a private RAY_TMPDIR and no RAY_ADDRESS, so that it starts its own local Ray instance even when
another Ray cluster was started with `ray start` on the same machine (ray.init() with no address would join it).

    python bench/ingest.py [throughput] [--videos 24] [--size 320x240] [--num-cpus 2] [--repeats 2] [--json out.json]
    python bench/ingest.py --size 1280x720 --videos 12

limit: dfprep ingest against the machine's lower bound and a hand-written script; see bench/ingest_limit.py.

    python bench/ingest.py limit --corpus real --copies 3
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    add_quiet_args, machine, machine_line, md_table, wait_quiet, write_json)
from ingest_runs import make, run_once  # noqa: E402

def throughput_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/ingest.py [throughput]", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--size", default="320x240", help="WxH of landscape videos, e.g. 1280x720")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per synthetic video")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--frames", type=int, default=32, help="IngestConfig.frames")
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--no-faces", action="store_true")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--corpus", type=Path, default=None, help="reuse (or create) the corpus here")
    ap.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--json", default=None)
    add_quiet_args(ap)
    a = ap.parse_args(argv)

    quiet = wait_quiet(a.quiet_load, a.quiet_wait)
    info = machine()
    info["quiet"] = quiet
    print(f"# ingest bench: {machine_line(info)}", file=sys.stderr, flush=True)
    # short path: Ray's unix socket paths under RAY_TMPDIR must stay under ~107 characters
    tmp = a.tmp or Path(tempfile.mkdtemp(prefix="dfb-", dir="/tmp"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        root = a.corpus or tmp / "corpus"
        if (root / "synth.json").exists():
            files = sorted(root.rglob("*.mp4"))
            corpus = {"videos": len(files), "bytes": sum(f.stat().st_size for f in files), "seconds": None}
        else:
            corpus = make(root, a.videos, a.size, a.duration, a.fps, a.seed, a.num_cpus)
        print(f"  corpus: {corpus['videos']} videos, {corpus['bytes'] / 2**20:.1f} MiB"
              + (f", made in {corpus['seconds']} s" if corpus["seconds"] else " (reused)"), file=sys.stderr)
        cfg = {"num_cpus": a.num_cpus, "frames": a.frames, "detector": a.detector, "faces": not a.no_faces}
        runs = []
        for r in range(a.repeats):
            work = tmp / f"work{r}"
            shutil.rmtree(work, ignore_errors=True)
            res = run_once(root, work, cfg, tmp / "ray")
            runs.append(res)
            print(f"  run {r + 1}: {res['wall_s']:.1f} s wall, {res['videos_per_s_wall']:.2f} videos/s, "
                  f"peak RSS {res['peak_rss_mb']:.0f} MiB, PSS {res['peak_pss_mb']:.0f} MiB "
                  f"(load {res['loadavg'][0]}->{res['loadavg'][1]})", file=sys.stderr, flush=True)
    finally:
        if not a.keep and a.tmp is None:
            shutil.rmtree(tmp, ignore_errors=True)
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    summary = {k: med(k) for k in ("wall_s", "ingest_s", "videos_per_s_wall", "videos_per_s_ingest",
                                    "peak_rss_mb", "peak_pss_mb")}
    info["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    r0 = runs[0]
    print(f"End-to-end ingest of {corpus['videos']} synthetic videos ({a.size}, {a.duration:g} s at {a.fps} fps, "
          f"{corpus['bytes'] / 2**20:.1f} MiB), IngestConfig(num_cpus={a.num_cpus}, frames={a.frames}, "
          f"detector={a.detector}, faces={not a.no_faces}): {r0['workers']} decode worker(s), "
          f"{r0['detectors']} detector actor(s).\n")
    rows = [[f"run {i + 1}", r["videos"], r["wall_s"], r["ingest_s"], f"{r['videos_per_s_wall']:.2f}",
             f"{r['videos_per_s_ingest']:.2f}", f"{r['peak_rss_mb']:.0f}", f"{r['peak_pss_mb']:.0f}",
             r["procs_at_peak"], f"{r['cores_busy']:.2f}", f"{r['detector_busy_s']:.1f}", r["faces"],
             f"{r['loadavg'][0]}->{r['loadavg'][1]}"] for i, r in enumerate(runs)]
    rows.append(["**median**", "", summary["wall_s"], summary["ingest_s"], f"**{summary['videos_per_s_wall']:.2f}**",
                 f"{summary['videos_per_s_ingest']:.2f}", f"**{summary['peak_rss_mb']:.0f}**",
                 f"**{summary['peak_pss_mb']:.0f}**", "", "", "", "", ""])
    print(md_table(["run", "videos", "wall s", "ingest s (run.json)", "videos/s (wall)", "videos/s (ingest)",
                    "peak RSS MiB (tree)", "peak PSS MiB (tree)", "procs", "cores busy (tree CPU s / wall)",
                    "detector busy s", "faces", "load"], rows))
    top = runs[0]["at_peak_pss"]
    print(f"\nProcesses at run 1's PSS peak ({runs[0]['peak_pss_mb']:.0f} MiB):\n")
    print(md_table(["process", "PSS MiB", "RSS MiB"], [[p["name"], p["pss_mb"], p["rss_mb"]] for p in top]))
    write_json(a.json, {"bench": "ingest", "machine": info, "args": {k: str(v) for k, v in vars(a).items()},
                        "corpus": corpus, "config": cfg, "runs": runs, "median": summary})
    return 0

# ============================================================================================== limit mode

def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "limit":
        from ingest_limit import limit_main

        return limit_main(argv[1:])
    if argv and argv[0] == "throughput":
        argv = argv[1:]
    return throughput_main(argv)


if __name__ == "__main__":
    sys.exit(main())
