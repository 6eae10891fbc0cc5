"""Run every benchmark and rewrite BENCHMARKS.md from what they measured.

Each benchmark runs as its own process, prints a markdown table and writes JSON into bench/results/; this
runner keeps each table as printed, with its command, and ends with the projection of a full DFDC ingest
computed from the measured per-video costs.

    python bench/run_all.py [--quick] [--only decode,faces,...] [--gpu-fps F]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, machine_line  # noqa: E402
from projection import projection_markdown  # noqa: E402

RESULTS = REPO / "bench" / "results"


def suite(quick: bool) -> list[tuple[str, str, list[list[str]]]]:
    """(name, title, commands); each command's stdout goes into the report."""
    r = lambda n: str(RESULTS / f"{n}.json")  # noqa: E731
    rep = "1" if quick else "3"
    return [
        ("decode", "Sampled decode (issue 2)", [["bench/decode.py", "--repeats", rep, "--json", r("decode")]]),
        ("faces", "Face detection (issue 3)", [["bench/faces.py", "--repeats", "1" if quick else "2",
                                                "--json", r("faces")]]),
        ("ingest", "Ingest end to end: 50 and 2,000 videos (issues 3, 7, 10)", [
            ["bench/ingest.py", "--videos", "50", "--repeats", "1", "--json", r("ingest_50")],
            ["bench/ingest.py", "--videos", "100" if quick else "2000", "--repeats", "1", "--json",
             r("ingest_2000")],
            ["bench/ingest.py", "--videos", "6", "--size", "1920x1080", "--duration", "10", "--fps", "30",
             "--repeats", "1", "--json", r("ingest_1080p")]]),
        ("limit", "Ingest at the machine's limit: lower bound and a hand-written script (issue 10)", [
            ["bench/ingest.py", "limit", "--corpus", "real", "--copies", "3", "--repeats", "1" if quick else "3",
             "--json", r("limit_real")],
            ["bench/ingest.py", "limit", "--corpus", "synth1080", "--videos", "8" if quick else "16",
             "--corpus-dir", "/tmp/dfb-synth1080", "--repeats", "1" if quick else "2", "--json",
             r("limit_synth1080")]]),
        ("scaling", "One Ray node against two (issue 7)", [["bench/scaling.py", "--json", r("scaling")]]),
        ("shards", "Shards write and read (issue 5)", [
            ["bench/shards.py", "make", "--out", "/tmp/dfprep-bench-shards", "--videos", "300" if quick else "1000"],
            ["bench/shards.py", "time", "--work", "/tmp/dfprep-bench-shards", "--repeats", rep,
             "--json", r("shards")]]),
        ("analyze", "Analyze on a million face rows (issue 4)", [
            ["bench/analyze.py", "make", "--out", "/tmp/dfprep-bench-analyze", "--rows",
             "200000" if quick else "1000000"],
            ["bench/analyze.py", "time", "--work", "/tmp/dfprep-bench-analyze", "--repeats", rep,
             "--json", r("analyze")]]),
        ("train", "Training loader against the model (issue 6)", [
            ["bench/train.py", "--model", "resnet18", "--workers", "2", "--json", r("train_resnet18")],
            ["bench/train.py", "--model", "smallcnn", "--input-size", "112", "--workers", "2",
             "--json", r("train_smallcnn")]]),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    ap.add_argument("--only", default=None, help="comma-separated names to run (others are left out)")
    ap.add_argument("--gpu-fps", type=float, default=None,
                    help="measured MTCNN frames/s per GPU at det-size 960 for the projection")
    ap.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    a = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    only = set(a.only.split(",")) if a.only else None
    sections = []
    for name, title, cmds in suite(a.quick):
        if only and name not in only:
            continue
        body = []
        for cmd in cmds:
            t = time.perf_counter()
            res = subprocess.run([sys.executable, *cmd], cwd=REPO, capture_output=True, text=True)
            took = time.perf_counter() - t
            shown = "python " + " ".join(cmd)
            body.append(f"```\n{shown}\n```\n")
            out = res.stdout.strip() if res.returncode == 0 else f"FAILED (rc {res.returncode}):\n{res.stderr[-1500:]}"
            body.append(out + f"\n\n({took:.0f} s)\n")
            print(f"[{name}] {shown}: rc {res.returncode} in {took:.0f} s", flush=True)
        sections.append(f"## {title}\n\n" + "\n".join(body))
    header = ("# Benchmarks\n\nWritten by `python bench/run_all.py` (every figure below is its output). Machine: "
              f"{machine_line(machine())}.\n\n")
    proj = projection_markdown(RESULTS, a.gpu_fps)
    a.out.write_text(header + "\n".join(sections) + "\n" + proj)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
