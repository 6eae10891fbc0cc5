"""`python bench/ingest.py limit`: how far `dfprep ingest` is from the best any tool could do on the same
machine, and from the script a user writes by hand. One run, on the same videos, measures three things:

  lower bound   (bench/ingest_lower_bound.py) dfprep's own per-video stages run one after the other in the bench process, single-threaded
                (torch.set_num_threads(1), decoder threads 1), each stage's CPU seconds taken with
                time.process_time (all threads of the process; with one thread, that is the stage's CPU):
                  probe       dfprep.ingest.probe.probe
                  decode      dfprep.ingest.decode.decode_sampled (IngestConfig().decoder unless --decoder)
                  copies      dfprep.faces.geometry.det_scale + detection_copies (the downscaled copies)
                  detect      dfprep.faces.detectors.MTCNNDetector(device="cpu", min_face_size, threads=1)
                              .detect on the copies (built once and warmed up on one frame: not counted)
                  select      the rest of dfprep.faces.extract.detect_faces: threshold / max faces, boxes
                              back to source pixels, tracks (detect_faces' CPU - detect - copies; the
                              copies are measured by a separate call just before, on the same frames)
                  crop        dfprep.faces.extract.crop_faces: square crops, JPEG, perceptual hashes
                  identity    dfprep.faces.identity.IdentityEncoder (built once, not counted) on the full
                              frames + embedding_column, as process_video does (when IngestConfig.identity)
                  write       faces_table + a zstd Parquet write of the video's faces to a temp file
                summed over the videos. lower bound = (sum of all stage CPU s) / C + Ray start-up, with C
                = --num-cpus: perfect division of that CPU over C cores plus the fixed cost of starting Ray.
                Also printed: the bound with whole videos per core (each video's stage CPU scheduled longest
                first on C cores, + Ray start-up), which matters when there are few videos per core.
                Ray start-up is measured in a child process: import ray + ray.init(address="local",
                num_cpus=C, include_dashboard=False) + one trivial actor created and answered + ray.shutdown()
                (median of 2). Not counted: interpreter start, importing torch/dfprep, building models.
  handwritten   bench/handwritten_ingest.py ROOT OUT (decord get_batch + facenet-pytorch MTCNN defaults at
                full resolution frame by frame, torch's default threads, crops, JPEG, one Parquet file at the
                end; imports no dfprep) in a child process: wall time from outside (interpreter start and
                imports included), CPU seconds and peak PSS of its process tree sampled from /proc.
  dfprep        `ingest(ROOT, WORK, IngestConfig(num_cpus=C, progress=False, frames=..))` in a child process
                (Ray embedded), as in throughput mode: the child's wall from outside, ingest's own total_s
                (from run.json: discover .. Ray start .. shutdown .. run.json), tree CPU s, cores busy = tree
                CPU s / child wall, and that / C per core, peak PSS; and run.json's "plan" and "stages" if
                present.

Both children run pinned to the same C CPUs (sched_setaffinity, inherited by Ray's processes) when the machine
has more than C (--no-pin turns that off), so that all three figures are about C cores. Corpora:

  real       the four videos of ../shared/data/real (two 1080p DFDC, two 640x480 FaceForensics++) laid out as
             DFDC part dfdc_train_part_0 with a metadata.json (labels from that folder's README; lynaeydofd,
             whose label is unknown, is called REAL), each present --copies times under distinct names (hard
             links, else copies), in a temp dir under /tmp: never inside the repo
  synth1080  dfprep.synth.make_corpus(SynthConfig(videos=--videos, size="1920x1080", duration=10, fps=30)),
             cached in --corpus-dir when given (reused when its synth.json matches)

The three are measured in the order handwritten, dfprep, lower bound, reversed on every other --repeats, so
that load from other users of the machine falls on them alike; the table shows each repeat and the medians.

    python bench/ingest.py limit --corpus real --copies 3 [--num-cpus 2] [--repeats 1] [--json out.json]
    python bench/ingest.py limit --corpus synth1080 --videos 8 --corpus-dir /tmp/dfb-synth1080 --repeats 2
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_DATA, REPO, add_quiet_args, loadavg1, machine, machine_line, md_table, wait_quiet,
    write_json)
from ingest_runs import make, measured_child, reaped_cpu_s, run_once  # noqa: E402
from ingest_lower_bound import LIMIT_STAGES, lower_bound_stages, lpt_makespan, ray_startup  # noqa: E402


HANDWRITTEN = REPO / "bench" / "handwritten_ingest.py"
MEM_EVERY = 4     # memory (smaps_rollup, costly) every 4th /proc sample; CPU times every sample
# name -> (label, original), from ../shared/data/real/README.md. lynaeydofd's label is unknown: called REAL.
REAL_VIDEOS = {"brtujopkby.mp4": ("FAKE", "gnmmhlbzge.mp4"), "lynaeydofd.mp4": ("REAL", None),
               "519.mp4": ("REAL", None), "519_515.mp4": ("FAKE", "519.mp4")}

def make_real(root: Path, data: Path, copies: int) -> dict:
    """The four real videos as DFDC part 0, each --copies times (hard links where possible, else copies)."""
    part = root / "dfdc_train_part_0"
    part.mkdir(parents=True, exist_ok=True)
    meta, how = {}, set()
    for c in range(copies):
        suffix = "" if c == 0 else f"_c{c}"
        for name, (label, original) in REAL_VIDEOS.items():
            dst = part / f"{Path(name).stem}{suffix}.mp4"
            if not dst.exists():
                try:
                    os.link(data / name, dst)
                    how.add("hard link")
                except OSError:
                    shutil.copyfile(data / name, dst)
                    how.add("copy")
            entry = {"label": label, "split": "train"}
            if original:   # a copy's original is the same copy of the original when that one is here
                entry["original"] = f"{Path(original).stem}{suffix}.mp4" if original in REAL_VIDEOS else original
            meta[dst.name] = entry
    (part / "metadata.json").write_text(json.dumps(meta, indent=1) + "\n")
    files = sorted(part.glob("*.mp4"))
    return {"kind": "real", "videos": len(files), "bytes": sum(f.stat().st_size for f in files),
            "copies": copies, "made_by": sorted(how) or ["reused"], "root": str(root),
            "labels": {k: v["label"] for k, v in meta.items()},
            "note": "lynaeydofd.mp4's label is unknown (README); it is listed as REAL"}


def make_synth1080(root: Path, videos: int, seed: int, workers: int) -> dict:
    want = {"videos": videos, "size": "1920x1080", "duration": 10.0, "fps": 30, "seed": seed}
    if (root / "synth.json").exists():
        have = json.loads((root / "synth.json").read_text()).get("config", {})
        diff = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
        if diff:
            raise SystemExit(f"{root} holds another synthetic corpus {diff}; use another --corpus-dir")
        made = None
    else:
        made = make(root, videos, want["size"], want["duration"], want["fps"], seed, workers)["seconds"]
    files = sorted(root.rglob("*.mp4"))
    return {"kind": "synth1080", "videos": len(files), "bytes": sum(f.stat().st_size for f in files),
            "made_in_s": made, "reused": made is None, "root": str(root), **want}


HW_LINE = re.compile(r"(\d+) videos, (\d+) faces in ([\d.]+) s \(torch threads (\d+)\)")


def run_handwritten(root: Path, out: Path, frames: int, cpus: list[int] | None, interval: float) -> dict:
    la0 = loadavg1()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdout, wall, mem = measured_child([sys.executable, str(HANDWRITTEN), str(root), str(out), str(frames)],
                                       "handwritten script", cpus, interval, MEM_EVERY)
    m = HW_LINE.search(stdout)
    out.unlink(missing_ok=True)
    return {"wall_s": wall, "own_s": float(m.group(3)) if m else None, "videos": int(m.group(1)) if m else None,
            "faces": int(m.group(2)) if m else None, "torch_threads": int(m.group(4)) if m else None,
            "tree_cpu_s": mem.cpu_s, "reaped_cpu_s": reaped_cpu_s(ru0), "cores_busy": mem.cpu_s / wall,
            "peak_pss_mb": mem.peak_pss / 2**20, "peak_rss_mb": mem.peak_rss / 2**20,
            "loadavg": [la0, loadavg1()], "stdout": stdout.strip()}


def limit_main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/ingest.py limit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=("real", "synth1080"), default="real")
    ap.add_argument("--copies", type=int, default=3, help="real: times each of the 4 videos is present")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the real videos")
    ap.add_argument("--videos", type=int, default=8, help="synth1080: videos in the corpus")
    ap.add_argument("--seed", type=int, default=0, help="synth1080: corpus seed")
    ap.add_argument("--corpus-dir", type=Path, default=None,
                    help="synth1080: make the corpus here, or reuse it (default: in the scratch folder)")
    ap.add_argument("--num-cpus", type=int, default=2, help="C: Ray's CPUs, the cores of the lower bound")
    ap.add_argument("--frames", type=int, default=None, help="sampled frames per video (IngestConfig().frames)")
    ap.add_argument("--decoder", default=None, help="IngestConfig.decoder (default: its default)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                    help="pin both children to C CPUs when the machine has more (default on)")
    ap.add_argument("--interval", type=float, default=0.5, help="seconds between /proc samples of a child")
    ap.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: a new one under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--json", default=None)
    add_quiet_args(ap)
    a = ap.parse_args(argv)

    from dfprep.ingest.config import IngestConfig

    defaults = IngestConfig()
    cfg = {"num_cpus": a.num_cpus, "frames": a.frames or defaults.frames,
           "decoder": a.decoder or defaults.decoder}
    C = a.num_cpus
    allowed = sorted(os.sched_getaffinity(0))
    cpus = allowed[:C] if a.pin and len(allowed) > C else None

    quiet = wait_quiet(a.quiet_load, a.quiet_wait)
    info = machine()
    info["quiet"] = quiet
    info["pinned_cpus"] = cpus
    print(f"# ingest limit bench: {machine_line(info)}", file=sys.stderr, flush=True)
    # short path: Ray's unix socket paths under RAY_TMPDIR must stay under ~107 characters
    tmp = a.tmp or Path(tempfile.mkdtemp(prefix="dfl-", dir="/tmp"))
    tmp.mkdir(parents=True, exist_ok=True)
    repeats = []
    try:
        if a.corpus == "real":
            root = tmp / "corpus"
            shutil.rmtree(root, ignore_errors=True)
            corpus = make_real(root, a.data, a.copies)
        else:
            root = a.corpus_dir or tmp / "corpus"
            corpus = make_synth1080(root, a.videos, a.seed, C)
        print(f"  corpus {a.corpus}: {corpus['videos']} videos, {corpus['bytes'] / 2**20:.1f} MiB in {root}",
              file=sys.stderr, flush=True)
        for r in range(a.repeats):
            order = ["handwritten", "dfprep", "lower bound"]
            if r % 2:
                order.reverse()
            rep = {"order": order}
            for what in order:
                if what == "handwritten":
                    rep[what] = run_handwritten(root, tmp / "handwritten.parquet", cfg["frames"], cpus, a.interval)
                    msg = f"{rep[what]['wall_s']:.1f} s wall, {rep[what]['faces']} faces"
                elif what == "dfprep":
                    work = tmp / "work"
                    shutil.rmtree(work, ignore_errors=True)
                    rep[what] = run_once(root, work, cfg, tmp / "ray", cpus, a.interval, MEM_EVERY)
                    shutil.rmtree(work, ignore_errors=True)
                    msg = (f"{rep[what]['ingest_s']:.1f} s ingest, {rep[what]['wall_s']:.1f} s wall, "
                           f"{rep[what]['faces']} faces")
                else:
                    st = lower_bound_stages(root, cfg, tmp / "lb")
                    ray = ray_startup(C, tmp / "ray", cpus)
                    st["ray_start_s"] = ray["median_s"]
                    st["ray_start"] = ray["runs"]
                    st["bound_s"] = st["cpu_s"] / C + ray["median_s"]
                    st["whole_video_bound_s"] = lpt_makespan(
                        [sum(v["cpu_s"].values()) for v in st["per_video"]], C) + ray["median_s"]
                    rep[what] = st
                    msg = (f"{st['bound_s']:.1f} s = {st['cpu_s']:.1f} CPU s / {C} + {ray['median_s']:.1f} s Ray, "
                           f"{st['faces']} faces")
                print(f"  repeat {r + 1}: {what}: {msg} (load {loadavg1()})", file=sys.stderr, flush=True)
            repeats.append(rep)
    finally:
        if not a.keep and a.tmp is None:
            shutil.rmtree(tmp, ignore_errors=True)
    info["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]

    def derived(rep: dict) -> dict:
        lb, hw, df = rep["lower bound"], rep["handwritten"], rep["dfprep"]
        return {"lower_bound_s": lb["bound_s"], "stage_cpu_s": lb["cpu_s"], "ray_start_s": lb["ray_start_s"],
                "whole_video_bound_s": lb["whole_video_bound_s"],
                "dfprep_over_whole_video_bound": df["ingest_s"] / lb["whole_video_bound_s"],
                "handwritten_wall_s": hw["wall_s"], "dfprep_ingest_s": df["ingest_s"], "dfprep_wall_s": df["wall_s"],
                "dfprep_over_bound": df["ingest_s"] / lb["bound_s"],
                "speedup_wall": hw["wall_s"] / df["wall_s"],
                "dfprep_cores_busy": df["cores_busy"], "dfprep_per_core": df["cores_busy"] / C,
                "dfprep_cores_busy_processing": (df.get("stages") or {}).get("stage_cores_busy") or float("nan"),
                "handwritten_cores_busy": hw["cores_busy"]}

    rows_d = [derived(rep) for rep in repeats]
    med = {k: statistics.median(d[k] for d in rows_d) for k in rows_d[0]}
    stage_med = {k: statistics.median(rep["lower bound"]["stage_cpu_s"][k] for rep in repeats)
                 for k in LIMIT_STAGES}
    n = corpus["videos"]
    lb0 = repeats[0]["lower bound"]
    print(f"How far `dfprep ingest` is from the lower bound, and from a hand-written script, on the same {n} videos "
          f"(corpus {a.corpus}: " + (f"the 4 real videos x {a.copies} copies: 2x 1080p DFDC, 2x 640x480 FF++"
                                     if a.corpus == "real" else "synthetic 1920x1080 DFDC layout, 10 s at 30 fps")
          + f"), {cfg['frames']} sampled frames per video, IngestConfig defaults (decoder {cfg['decoder']}, det_size "
          f"{defaults.det_size}, min_face_size {defaults.min_face_size}), C = {C} cores"
          + (f" (both children pinned to CPUs {cpus})" if cpus else "") + ".\n")
    print("lower bound = stage CPU s (dfprep's stages, one thread, one video after the other) / C + Ray start-up "
          "(import, init, one actor, shutdown). handwritten = bench/handwritten_ingest.py, wall from outside. "
          "dfprep = ingest() in a child: its own total_s (run.json) and the child's wall from outside. "
          "dfprep / bound = total_s / lower bound (1.00 = no overhead at all). speed-up = handwritten wall / "
          "dfprep child wall (both include interpreter start and imports). cores busy = tree CPU s / child wall; "
          "while processing = run.json's stages.stage_cores_busy (the workers' stage CPU s over the time from "
          "the first video's start to the last one's end, i.e. without Ray's and the workers' start-up).\n")
    rows = []
    for i, d in enumerate(rows_d):
        rows.append([f"repeat {i + 1}" + (" (reversed)" if i % 2 else ""), n,
                     f"{d['lower_bound_s']:.1f}", f"{d['stage_cpu_s']:.1f} / {C} = {d['stage_cpu_s'] / C:.1f}",
                     f"{d['ray_start_s']:.1f}", f"{d['handwritten_wall_s']:.1f}", f"{d['dfprep_ingest_s']:.1f}",
                     f"{d['dfprep_wall_s']:.1f}", f"{d['dfprep_over_bound']:.2f}", f"{d['speedup_wall']:.2f}",
                     f"{d['dfprep_cores_busy']:.2f} ({d['dfprep_per_core']:.0%} of {C})",
                     f"{d['dfprep_cores_busy_processing']:.2f}", f"{d['handwritten_cores_busy']:.2f}"])
    if len(rows_d) > 1:
        rows.append(["**median**", n, f"**{med['lower_bound_s']:.1f}**",
                     f"{med['stage_cpu_s']:.1f} / {C} = {med['stage_cpu_s'] / C:.1f}", f"{med['ray_start_s']:.1f}",
                     f"**{med['handwritten_wall_s']:.1f}**", f"**{med['dfprep_ingest_s']:.1f}**",
                     f"{med['dfprep_wall_s']:.1f}", f"**{med['dfprep_over_bound']:.2f}**",
                     f"**{med['speedup_wall']:.2f}**",
                     f"{med['dfprep_cores_busy']:.2f} ({med['dfprep_per_core']:.0%} of {C})",
                     f"{med['dfprep_cores_busy_processing']:.2f}", f"{med['handwritten_cores_busy']:.2f}"])
    print(md_table(["", "videos", "lower bound s", "stage CPU s / cores", "+ Ray start s", "handwritten wall s",
                    "dfprep ingest s (total_s)", "dfprep child wall s", "dfprep / bound", "speed-up hand / dfprep",
                    "dfprep cores busy (per core)", "dfprep cores busy while processing",
                    "handwritten cores busy"], rows))

    print(f"\nVideos cannot be split between cores: scheduling each video's stage CPU whole on the {C} cores "
          f"(longest first) gives a tighter bound of {med['whole_video_bound_s']:.1f} s with Ray's start-up; "
          f"dfprep takes {med['dfprep_over_whole_video_bound']:.2f}x that.")
    frames_n = lb0["frames"] or 1
    print(f"\nLower bound's stages: CPU seconds over all {lb0['videos']} videos ({frames_n} frames), one thread"
          + (f", median of {len(repeats)} repeats" if len(repeats) > 1 else "") + ":\n")
    tot = sum(stage_med.values()) or 1.0
    what = {"probe": "probe (PyAV, one frame decoded)", "decode": f"decode ({cfg['decoder']}, sampled frames)",
            "copies": f"detection copies (to {defaults.det_size} px)", "detect": "MTCNN on the copies (1 thread)",
            "select": "select, map to source, tracks", "crop": "crops, JPEG, phashes", "identity": "identity embedding (dlib, k=3 per track)",
            "write": "Parquet write"}
    srows = [[what[k], f"{v:.2f}", f"{v / tot:.0%}", f"{1000 * v / max(lb0['videos'], 1):.0f}",
              f"{1000 * v / frames_n:.1f}"] for k, v in stage_med.items()]
    srows.append(["**all**", f"**{tot:.2f}**", "100%", f"{1000 * tot / max(lb0['videos'], 1):.0f}",
                  f"{1000 * tot / frames_n:.1f}"])
    print(md_table(["stage", "CPU s", "share", "ms / video", "ms / frame"], srows))

    print("\nThe measured runs (repeat 1):\n")
    hw, df = repeats[0]["handwritten"], repeats[0]["dfprep"]
    mrows = [["handwritten", f"{hw['wall_s']:.1f}", f"{hw['own_s']}", f"{hw['tree_cpu_s']:.1f}",
              f"{hw['cores_busy']:.2f}", f"{hw['cores_busy'] / C:.0%}", f"{hw['peak_pss_mb']:.0f}", hw["faces"],
              f"1 process, torch threads {hw['torch_threads']}"],
             ["dfprep ingest", f"{df['wall_s']:.1f}", f"{df['ingest_s']:.1f}", f"{df['tree_cpu_s']:.1f}",
              f"{df['cores_busy']:.2f}", f"{df['cores_busy'] / C:.0%}", f"{df['peak_pss_mb']:.0f}", df["faces"],
              f"{df['workers']} worker(s), {df['detectors']} detector(s), up to {df['max_procs']} processes"],
             ["lower bound", "-", f"{lb0['wall_s']:.1f}", f"{lb0['cpu_s']:.1f}", "1 thread", "-", "-", lb0["faces"],
              f"bench process, torch threads {lb0['torch_threads']}"]]
    print(md_table(["", "wall s (child, outside)", "own timer s", "CPU s", "cores busy", "per core",
                    "peak PSS MiB (tree)", "faces", "processes"], mrows))
    if df.get("plan") is not None or df.get("stages") is not None:
        print("\ndfprep run.json (repeat 1):\n")
        for key in ("timings", "plan", "stages"):
            if df.get(key) is not None:
                print(f"{key}:\n```\n{json.dumps(df[key], indent=1, default=str)}\n```")
    for i, rep in enumerate(repeats):
        for m in rep["lower bound"]["decoder_messages"]:
            print(f"\nNote: repeat {i + 1}, lower bound: the decoder wrote {m['lines']} line(s) to stderr on "
                  f"{m['video']} (probe + decode), e.g. {m['first'][0]!r}")
        for m in rep["lower bound"]["errors"]:
            print(f"\nNote: repeat {i + 1}, lower bound: {m['video']} failed: {m['error']}")
    print(f"\nLoad average (1 min) {info['loadavg_start'][0]} at start, {info['loadavg_end'][0]} at the end.")
    write_json(a.json, {"bench": "ingest-limit", "machine": info, "args": {k: str(v) for k, v in vars(a).items()},
                        "corpus": corpus, "config": cfg, "cores": C, "pinned_cpus": cpus, "repeats": repeats,
                        "derived": rows_d, "median": med, "median_stage_cpu_s": stage_med})
    return 0
