"""Issue 2: sampled-frame decode, dfprep against the usual ways of getting K frames out of a video.

For every file and K evenly spaced frames (`sample_indices(n, K)`), time per video (open + decode + RGB):

    dfprep-decord   dfprep.ingest.decode.decode_sampled(path, idx, "decord", threads=1)   (the default before pyav-nonref)
    dfprep-pyav     dfprep.ingest.decode.decode_sampled(path, idx, "pyav", threads=1)
    decord-index    decord VideoReader, vr[i] for each sampled i (random access per index)
    decord-batch    decord VideoReader.get_batch(idx)
    opencv-grab     cv2.VideoCapture (1 thread): grab() every frame, retrieve() + BGR->RGB the sampled ones
    lower-bound     PyAV, 1 thread: decode every frame up to the last sampled one, convert only the sampled
    dfprep-pyav-nonref  dfprep.ingest.decode.DECODERS["pyav-nonref"](path, idx, 1): the lower bound, with the decoder
                    told to skip the non-reference frames that are not sampled (skip_frame=NONREF per packet);
                    bit-identical frames, less decoding

Methods run in rounds (one of each per round, in a shuffled order) so that load from other users of the
machine falls on all of them alike; each figure is the median over the rounds. Each method's frames are
compared with the lower bound's: the table shows the largest absolute pixel difference (0-255), 0 meaning
bit-identical frames; a wrong frame (inaccurate seek) would show as a large value.

Timing on a shared machine: wall time includes waiting for a core when other processes want it, so the table
also gives the ratio on process CPU time (all threads of the process), which is far less sensitive to load.

    python bench/decode.py [--data DIR] [--frames 32] [--repeats 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_DATA, add_quiet_args, loadavg1, machine, machine_line, md_table, wait_quiet, write_json)

FILES = ["brtujopkby.mp4", "lynaeydofd.mp4", "519.mp4", "519_515.mp4"]


def lower_bound(path: Path, idx: np.ndarray) -> np.ndarray:
    import av

    wanted = set(int(i) for i in idx)
    last = int(idx[-1])
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        for i, f in enumerate(c.decode(s)):
            if i in wanted:
                out.append(f.to_ndarray(format="rgb24"))
            if i >= last:
                break
    return np.stack(out)


def dfprep_decord(path: Path, idx: np.ndarray) -> np.ndarray:
    from dfprep.ingest.decode import decode_sampled

    return decode_sampled(path, idx, "decord", threads=1, fallback=None)[0]


def dfprep_pyav(path: Path, idx: np.ndarray) -> np.ndarray:
    from dfprep.ingest.decode import decode_sampled

    return decode_sampled(path, idx, "pyav", threads=1, fallback=None)[0]


def decord_index(path: Path, idx: np.ndarray) -> np.ndarray:
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    return np.stack([vr[int(i)].asnumpy() for i in idx])


def decord_batch(path: Path, idx: np.ndarray) -> np.ndarray:
    import decord

    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    return vr.get_batch([int(i) for i in idx]).asnumpy()


def opencv_grab(path: Path, idx: np.ndarray) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    wanted = set(int(i) for i in idx)
    last = int(idx[-1])
    out = []
    try:
        for i in range(last + 1):
            if not cap.grab():
                break
            if i in wanted:
                ok, bgr = cap.retrieve()
                if ok:
                    out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return np.stack(out)


def dfprep_pyav_nonref(path: Path, idx: np.ndarray) -> np.ndarray:
    from dfprep.ingest.decode import DECODERS

    return DECODERS["pyav-nonref"](path, idx, 1)


METHODS = {
    "lower-bound": lower_bound,
    "dfprep-decord": dfprep_decord,
    "dfprep-pyav": dfprep_pyav,
    "decord-index": decord_index,
    "decord-batch": decord_batch,
    "opencv-grab": opencv_grab,
    "dfprep-pyav-nonref": dfprep_pyav_nonref,
}


def run(data: Path, files: list[str], k: int, repeats: int, methods: list[str]) -> dict:
    import av

    from dfprep.ingest.decode import sample_indices

    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # OpenCV is not a dfprep dependency: its method is measured only where it is installed
        methods = [m for m in methods if m != "opencv-grab"]
        print("  opencv-grab skipped: cv2 is not installed", file=sys.stderr)
    results = {}
    for name in files:
        path = data / name
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            n = int(s.frames) or sum(1 for p in c.demux(s) if p.size)
            geom = f"{s.codec_context.width}x{s.codec_context.height}"
        idx = sample_indices(n, k)
        ref = lower_bound(path, idx)
        per: dict[str, dict] = {}
        for m in methods:                       # warm-up round, and the correctness check
            got = METHODS[m](path, idx)
            d = np.abs(got.astype(np.int16) - ref.astype(np.int16)) if got.shape == ref.shape else None
            diff = float(d.mean()) if d is not None else float("nan")
            maxdiff = int(d.max()) if d is not None else -1
            per[m] = {"times_s": [], "cpu_s": [], "shape": list(got.shape), "diff": diff,
                      "max_diff": maxdiff}
        la = [loadavg1()]
        rng = random.Random(0)
        for _ in range(repeats):
            order = list(methods)
            rng.shuffle(order)                  # no method always runs first (or after the same one)
            for m in order:
                t, c = time.perf_counter(), time.process_time()
                METHODS[m](path, idx)
                per[m]["cpu_s"].append(time.process_time() - c)
                per[m]["times_s"].append(time.perf_counter() - t)
        la.append(loadavg1())
        for m in methods:
            per[m]["median_s"] = statistics.median(per[m]["times_s"])
            per[m]["min_s"] = min(per[m]["times_s"])
            per[m]["median_cpu_s"] = statistics.median(per[m]["cpu_s"])
        for m in methods:
            for key, lbkey in (("ratio", "median_s"), ("ratio_min", "min_s"), ("ratio_cpu", "median_cpu_s")):
                per[m][key] = per[m][lbkey] / per["lower-bound"][lbkey]
        results[name] = {"n_frames": n, "size": geom, "last_index": int(idx[-1]), "k": len(idx),
                         "loadavg": la, "methods": per}
        print(f"  {name}: " + ", ".join(f"{m} {per[m]['median_s']:.3f}s" for m in methods)
              + f"  (load {la[0]}->{la[1]})", file=sys.stderr, flush=True)
    overall = {}
    lb_total = sum(r["methods"]["lower-bound"]["median_s"] for r in results.values())
    for m in methods:
        tot = sum(r["methods"][m]["median_s"] for r in results.values())
        tot_min = sum(r["methods"][m]["min_s"] for r in results.values())
        tot_cpu = sum(r["methods"][m]["median_cpu_s"] for r in results.values())
        overall[m] = {"total_s": tot, "ratio": tot / lb_total,
                      "ratio_min": tot_min / sum(r["methods"]["lower-bound"]["min_s"] for r in results.values()),
                      "ratio_cpu": tot_cpu / sum(r["methods"]["lower-bound"]["median_cpu_s"]
                                                 for r in results.values()),
                      "geomean_ratio": float(np.exp(np.mean([np.log(r["methods"][m]["ratio"])
                                                             for r in results.values()])))}
    return {"files": results, "overall": overall}


def tables(res: dict, methods: list[str]) -> str:
    """One row per method: seconds per video per file (ratio to the lower bound), totals."""
    summary = md_table(
        ["method", *[n for n in res["files"]], "total s", "x LB (total, median wall)", "x LB (geomean)",
         "x LB (total, min wall)", "x LB (total, CPU s)", "max abs pixel diff vs LB"],
        [[m, *[f"{r['methods'][m]['median_s']:.3f} ({r['methods'][m]['ratio']:.2f}x)" for r in res["files"].values()],
          res["overall"][m]["total_s"], f"**{res['overall'][m]['ratio']:.2f}**",
          f"{res['overall'][m]['geomean_ratio']:.2f}", f"{res['overall'][m]['ratio_min']:.2f}",
          f"{res['overall'][m]['ratio_cpu']:.2f}",
          max(r['methods'][m]['max_diff'] for r in res['files'].values())]
         for m in methods])
    return summary + "\n\nCells: median wall seconds per video (ratio to the lower bound of the same file)."


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--files", nargs="*", default=FILES)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--json", default=None)
    add_quiet_args(ap)
    a = ap.parse_args(argv)
    methods = ["lower-bound"] + [m for m in a.methods if m != "lower-bound"]
    quiet = wait_quiet(a.quiet_load, a.quiet_wait)
    info = machine()
    info["quiet"] = quiet
    print(f"# decode bench: {machine_line(info)}", file=sys.stderr)
    res = run(a.data, a.files, a.frames, a.repeats, methods)
    info["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(f"Sampled decode, {a.frames} frames per video, seconds per video (median of {a.repeats} "
          f"rounds, methods in shuffled order) and ratio to the PyAV single-thread lower bound.\n")
    print(tables(res, methods))
    write_json(a.json, {"bench": "decode", "machine": info, "args": {k: str(v) for k, v in vars(a).items()},
                        **res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
