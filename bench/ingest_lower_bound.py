"""The lower bound of `bench/ingest.py limit` (see bench/ingest_limit.py's docstring): dfprep's per-video stages
run one after the other in the bench process, one thread, each stage's CPU seconds taken; and Ray's start-up
cost, measured in a fresh child."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO  # noqa: E402
from ingest_runs import pinned, ray_env  # noqa: E402

LIMIT_STAGES = ("probe", "decode", "copies", "detect", "select", "crop", "identity", "write")

RAY_START = """
import json, sys, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
ray.init(address="local", num_cpus=int(sys.argv[1]), include_dashboard=False, log_to_driver=False,
         logging_level="ERROR")
t2 = time.perf_counter()

@ray.remote
class Echo:
    def ping(self):
        return 1

assert ray.get(Echo.remote().ping.remote()) == 1
t3 = time.perf_counter()
ray.shutdown()
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "init_s": t2 - t1, "actor_s": t3 - t2, "shutdown_s": t4 - t3,
                  "total_s": t4 - t0}))
"""


def ray_startup(num_cpus: int, ray_tmp: Path, cpus: list[int] | None, n: int = 2) -> dict:
    """import ray + init + one actor answered + shutdown, in a fresh child, n times: median of the totals."""
    runs = []
    for _ in range(n):
        res = subprocess.run([sys.executable, "-c", RAY_START, str(num_cpus)], capture_output=True, text=True,
                             env=ray_env(ray_tmp), cwd=REPO, preexec_fn=pinned(cpus))
        if res.returncode != 0:
            raise RuntimeError(f"Ray start-up child failed (rc {res.returncode}):\n{res.stderr[-3000:]}")
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {"median_s": statistics.median(r["total_s"] for r in runs), "runs": runs}


class CaptureStderr:
    """Collect what C libraries (FFmpeg inside decord / PyAV) write to fd 2 inside the block, for the record."""

    def __init__(self, scratch: Path):
        self.path = scratch / "stderr.txt"
        self.text = ""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.f = open(self.path, "w+b")
        os.dup2(self.f.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.f.seek(0)
        self.text = self.f.read().decode(errors="replace")
        self.f.close()


_DETECTOR = {}


def _detector(min_face_size: int):
    """One MTCNNDetector per bench process, as a worker holds one; its creation is not timed."""
    from dfprep.faces.detectors import MTCNNDetector

    if min_face_size not in _DETECTOR:
        _DETECTOR[min_face_size] = MTCNNDetector(device="cpu", min_face_size=min_face_size, threads=1)
    return _DETECTOR[min_face_size]


def lower_bound_stages(root: Path, cfg_kwargs: dict, scratch: Path) -> dict:
    """dfprep's per-video stages, one video after the other, one thread: CPU s per stage, summed."""
    import pyarrow.parquet as pq
    import torch

    from dfprep.faces.extract import crop_faces, detect_faces, embedding_column
    from dfprep.faces.geometry import det_scale, detection_copies
    from dfprep.faces.identity import IdentityEncoder
    from dfprep.formats.work.faces import FACE_ROW_GROUP, faces_table
    from dfprep.formats.work.names import FACES
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.decode import decode_sampled, sample_indices
    from dfprep.dataset import Status
    from dfprep.ingest.discover import discover
    from dfprep.ingest.probe import VideoError, probe

    cfg = IngestConfig(progress=False, **cfg_kwargs)
    if cfg.detector != "mtcnn" or not cfg.faces:
        raise SystemExit("limit mode measures the MTCNN face path: --detector mtcnn with faces")
    torch.set_num_threads(1)
    p = cfg.face_params()
    entries = [e for e in discover(root)[0] if e.status is Status.PENDING]
    det = _detector(cfg.min_face_size)
    embed = IdentityEncoder() if cfg.identity else None
    per_video, errors, decoder_messages = [], [], []
    scratch.mkdir(parents=True, exist_ok=True)
    # warm-up, not timed: one frame of the first video, at its detection size
    with CaptureStderr(scratch) as log:
        pr = probe(Path(entries[0]["path"]))
        fr, _ = decode_sampled(Path(entries[0]["path"]), sample_indices(pr.n_frames, 1), cfg.decoder,
                               cfg.decode_threads, pr.rotation)
    if log.text.strip():
        lines = log.text.strip().splitlines()
        decoder_messages.append({"video": f"{entries[0]['video']} (warm-up)", "lines": len(lines),
                                 "first": lines[:5]})
    det.detect(detection_copies(fr, det_scale(fr.shape[1], fr.shape[2], p.det_size)))

    clock, wall = time.process_time, time.perf_counter
    total = dict.fromkeys(LIMIT_STAGES, 0.0)
    w0 = wall()
    for e in entries:
        path = Path(e["path"])
        cpu = dict.fromkeys(LIMIT_STAGES, 0.0)
        try:
            with CaptureStderr(scratch) as log:
                c = clock()
                pr = probe(path)
                cpu["probe"] = clock() - c
                idx = sample_indices(pr.n_frames, cfg.frames)
                c = clock()
                frames, used = decode_sampled(path, idx, cfg.decoder, cfg.decode_threads, pr.rotation)
                cpu["decode"] = clock() - c
        except VideoError as exc:
            errors.append({"video": e["video"], "error": str(exc)})
            continue
        if log.text.strip():
            lines = log.text.strip().splitlines()
            decoder_messages.append({"video": e["video"], "lines": len(lines), "first": lines[:5]})
        n, h, w, _ = frames.shape
        c = clock()
        small = detection_copies(frames, det_scale(h, w, p.det_size))
        cpu["copies"] = clock() - c
        del small
        det_cpu = [0.0]

        def timed_detect(copies):
            c0 = clock()
            out = det.detect(copies)
            det_cpu[0] += clock() - c0
            return out

        c = clock()
        faces, small = detect_faces(frames, timed_detect, p)
        df = clock() - c
        cpu["detect"] = det_cpu[0]
        cpu["select"] = max(0.0, df - det_cpu[0] - cpu["copies"])
        meta = dict(video=e["video"], part=e["part"], label=e["label"], original=e["original"])
        c = clock()
        cols, _ = crop_faces(frames, small, idx, faces, p, meta)
        cpu["crop"] = clock() - c
        if embed is not None and cols["video"]:
            c = clock()
            cols["embedding"] = embedding_column(len(cols["video"]), embed(frames, faces))
            cpu["identity"] = clock() - c
        c = clock()
        pq.write_table(faces_table(cols), scratch / FACES, row_group_size=FACE_ROW_GROUP,
                       compression="zstd")
        cpu["write"] = clock() - c
        for k in LIMIT_STAGES:
            total[k] += cpu[k]
        per_video.append({"video": e["video"], "size": f"{w}x{h}", "frames": int(n), "decoder": used,
                          "det_size": f"{small.shape[2]}x{small.shape[1]}", "faces": len(cols["jpeg"]),
                          "cpu_s": {k: round(v, 4) for k, v in cpu.items()}})
    shutil.rmtree(scratch, ignore_errors=True)
    return {"videos": len(per_video), "frames": sum(v["frames"] for v in per_video),
            "faces": sum(v["faces"] for v in per_video), "stage_cpu_s": total, "cpu_s": sum(total.values()),
            "wall_s": wall() - w0, "torch_threads": torch.get_num_threads(), "decoder": cfg.decoder,
            "errors": errors, "decoder_messages": decoder_messages, "per_video": per_video}


def lpt_makespan(costs: list[float], cores: int) -> float:
    """Longest-first greedy schedule of indivisible jobs on `cores`: its finishing time (within 4/3 of optimal)."""
    load = [0.0] * max(cores, 1)
    for c in sorted(costs, reverse=True):
        load[load.index(min(load))] += c
    return max(load)
