"""Project a full DFDC ingest (119k videos, 32 sampled frames each) onto N nodes of 16 cores and one GPU, from
the per-video costs the benchmarks measured on this machine (bench/results/*.json)."""
from __future__ import annotations

import json
from pathlib import Path

DFDC_VIDEOS = 119_154
FRAMES = 32
CORES = 16


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def per_video_costs(results: Path) -> dict | None:
    """Core-seconds per 1080p video outside the detector, and CPU MTCNN frames/s on one core.

    Preferred source: the real 1080p DFDC files of `bench/ingest.py limit --corpus real` (the lower bound's
    single-thread CPU per stage: everything but `detect` is done by the decode workers); then the workers' own
    stage CPU from `bench/ingest.py limit --corpus synth1080` (run.json's stages).
    Fallback: the whole process tree's CPU of an older 1080p ingest run (an upper bound: it includes Ray's
    start-up spread over few videos).
    """
    r = _load(results / "limit_real.json")
    if r and r.get("repeats"):
        per = [v for v in r["repeats"][0]["lower bound"].get("per_video", [])
               if "1920" in v.get("size", "") and v.get("frames")]
        if per:
            outside = sum(c for v in per for k, c in v["cpu_s"].items() if k != "detect") / len(per)
            det_fps = sum(v["frames"] for v in per) / sum(v["cpu_s"]["detect"] for v in per)
            return {"videos": len(per), "decode_core_s": outside, "cpu_det_fps": det_fps,
                    "source": "limit_real.json (the lower bound's per-stage CPU of the real 1080p DFDC files, "
                              "one thread each)"}
    r = _load(results / "limit_synth1080.json")
    if r and r.get("repeats"):
        runs = [rep["dfprep"] for rep in r["repeats"] if (rep.get("dfprep") or {}).get("stages")]
        if runs:
            st = runs[0]["stages"]
            n, cpu = st["videos"], st["cpu_s"]
            outside = sum(v for k, v in cpu.items() if k != "detect")
            frames = n * FRAMES
            return {"videos": n, "decode_core_s": outside / n,
                    "cpu_det_fps": frames / cpu["detect"] if cpu.get("detect") else None,
                    "source": "limit_synth1080.json (the workers' stage CPU in run.json)"}
    r = _load(results / "ingest_1080p.json")
    if not r or not r.get("runs"):
        return None
    run = r["runs"][0]
    n = run["videos"]
    det_s = run.get("detector_busy_s") or 0.0
    return {"videos": n, "decode_core_s": (run["tree_cpu_s"] - det_s) / n,
            "cpu_det_fps": (run["detector_frames"] / det_s) if det_s else None, "source": "ingest_1080p.json"}


def projection_markdown(results: Path, gpu_fps: float | None) -> str:
    c = per_video_costs(results)
    if c is None:
        return "## Projection for all of DFDC\n\nNot computed: bench/results/ingest_1080p.json is missing.\n"
    dec_rate = (CORES - 1) / c["decode_core_s"]          # videos/s per node; one core left to the detector
    need_fps = dec_rate * FRAMES
    lines = ["## Projection for all of DFDC", "",
             f"From `{c['source']}` ({c['videos']} 1080p videos, 32 sampled frames each, on this machine): **{c['decode_core_s']:.2f} core-seconds per video** outside the "
             "detector (probe, decode, detection copies, crops, JPEG, hashes, journal); the CPU detector ran at "
             f"{c['cpu_det_fps'] or 0:.1f} frames/s on one core at det-size 960.", "",
             f"A node of {CORES} cores with one GPU runs {CORES - 1} decode workers: **{dec_rate:.1f} videos/s**, "
             f"which keeps a GPU busy only if its detectors sustain **{need_fps:.0f} frames/s** at det-size 960 "
             "(fractional `--gpus-per-detector` runs several detectors on one GPU)."]
    if gpu_fps:
        det_rate = gpu_fps / FRAMES
        src = f"{gpu_fps:.0f} frames/s per GPU (measured with bench/faces.py --device cuda)"
    else:
        det_rate = None
        src = ("no GPU was lent to the session that wrote this file, so the GPU side is not measured: the table "
               "assumes each GPU keeps up (the decode-bound time is then a lower bound); the last column is the "
               "CPU-only fallback with detection on the same 16 cores at the measured CPU rate")
    lines += ["", f"Detection: {src}.", "",
              "| nodes | decode-bound videos/s | DFDC ingest (decode-bound) | bound by | CPU-only (no GPU) |",
              "| --- | --- | --- | --- | --- |"]
    for n in (1, 2, 4, 8, 16):
        dec = n * dec_rate
        if det_rate:
            rate = min(dec, n * det_rate)
            bound = "decode (CPU)" if dec <= n * det_rate else "detection (GPU)"
        else:
            rate, bound = dec, "decode (CPU), if the GPU sustains the rate above"
        cpu_only = "-"
        if c["cpu_det_fps"]:
            per_video = c["decode_core_s"] + FRAMES / c["cpu_det_fps"]
            cpu_only = f"{DFDC_VIDEOS / (n * CORES / per_video) / 3600:.1f} h"
        lines.append(f"| {n} | {rate:.0f} | {DFDC_VIDEOS / rate / 60:.0f} min | {bound} | {cpu_only} |")
    eight = DFDC_VIDEOS / (8 * (min(dec_rate, det_rate) if det_rate else dec_rate)) / 60
    lines += ["", f"Goal: the whole DFDC ingest in under an hour on 8 such nodes: **{eight:.0f} min** "
              + ("(measured GPU rate)." if det_rate else
                 f"if every GPU sustains {need_fps:.0f} frames/s of MTCNN at det-size 960; facenet-pytorch reports "
                 "13 frames/s batched at full 1080p on a P100, and a 960-px copy of a 1080p frame has a quarter of "
                 "its pixels, so this needs an H100 to be roughly 6x a P100 at this model: plausible, unmeasured here."),
              ""]
    return "\n".join(lines) + "\n"
