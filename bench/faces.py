"""Issue 3: face detection throughput and box quality, dfprep's batched downscaled path against the plain loop.

Frames: K sampled frames (`sample_indices(n, K)`, default 32) of each file, decoded once before timing.

    mtcnn-plain         facenet-pytorch MTCNN(keep_all=True, post_process=False), defaults otherwise
                        (min_face_size=20), .detect(frame) one full-resolution frame at a time: the reference
    dfprep-mtcnn-D      dfprep.faces.extract.detect_faces(frames, MTCNNDetector().detect, FaceParams(det_size=D))
                        one call per video (all K frames batched), for D in --det-sizes (default 960 640 480)
    dfprep-dlib-D       the same path with dfprep.faces.detectors.DlibDetector (HOG, upsample 1), threshold 0.5

Quality is measured against the reference's own full-resolution boxes with prob >= 0.95: each reference box is
matched to the best-overlapping box of the method in the same frame (IoU 0 if the frame has none). `mean IoU`
averages that over all reference boxes, `recall` is the share matched at IoU >= 0.5, and `extra` counts the
method's boxes that match no reference box at IoU >= 0.5. dfprep keeps at most `max_faces` (2) boxes per frame,
at its detector's threshold, as the ingest does.

Timing: torch uses --threads threads (default 2, the whole test machine) for every MTCNN row; each row is
timed --repeats times over all frames (methods round-robin per repeat) and the median reported, with the load
average. The timed region includes downscaling, detection and the mapping of boxes back to source pixels.
Process CPU time (all threads) is recorded too: on a shared machine it moves far less with load than wall time.

GPU: `--device cuda` runs the MTCNN rows on the GPU; `--batches 32 64 128` then also times dfprep's path with
B frames per call (a file's frames tiled to fill the batch, as the ingest's detector actor batches frames of
equal size) and samples GPU utilisation (torch.cuda.utilization(), else nvidia-smi) every 0.1 s while timing.
frames/s of a batched row counts every frame of the batch. dlib always runs on CPU (skip it with --no-dlib).

    python bench/faces.py [--data DIR] [--frames 32] [--det-sizes 960 640 480] [--repeats 3] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DEFAULT_DATA, add_quiet_args, loadavg1, machine, machine_line, md_table, wait_quiet, write_json)

FILES = ["brtujopkby.mp4", "lynaeydofd.mp4", "519.mp4"]
REF_THRESHOLD = 0.95


# ---------------------------------------------------------------------------------------------- quality

def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of a [n,4] with every box of b [m,4] (x1y1x2y2) -> [n,m]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a, b = a.astype(np.float64)[:, None], b.astype(np.float64)[None]
    iw = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(0)
    ih = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(0)
    inter = iw * ih
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter + 1e-9)


def quality(ref: list[np.ndarray], got: list[np.ndarray]) -> dict:
    """Per reference box: best IoU among the method's boxes of the same frame."""
    best, extra = [], 0
    for r, g in zip(ref, got):
        m = iou_matrix(r, g)
        best += list(m.max(axis=1)) if len(g) else [0.0] * len(r)
        extra += int((m.max(axis=0) < 0.5).sum()) if len(r) else len(g)
    best = np.asarray(best)
    return {"ref_boxes": int(len(best)), "mean_iou": float(best.mean()) if len(best) else float("nan"),
            "recall": float((best >= 0.5).mean()) if len(best) else float("nan"), "extra": extra,
            "boxes": int(sum(len(g) for g in got))}


# ---------------------------------------------------------------------------------------------- GPU use

class GpuSampler:
    """Mean and max GPU utilisation (%) while the block runs; None where neither NVML nor nvidia-smi answers."""

    def __init__(self, device: str, interval: float = 0.1):
        self.device, self.interval, self.values = device, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._read = self._pick()

    def _pick(self):
        if not self.device.startswith("cuda"):
            return None
        import torch

        idx = torch.device(self.device).index or 0
        try:
            torch.cuda.utilization(idx)
            return lambda: float(torch.cuda.utilization(idx))
        except Exception:
            pass
        try:
            cmd = ["nvidia-smi", f"--id={idx}", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            subprocess.run(cmd, check=True, capture_output=True, timeout=5)
            return lambda: float(subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout.split()[0])
        except Exception:
            return None

    def _run(self):
        while not self._stop.is_set():
            try:
                self.values.append(self._read())
            except Exception:
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        if self._read:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._read:
            self._thread.join()

    def summary(self) -> dict | None:
        if not self.values:
            return None
        return {"mean": round(float(np.mean(self.values)), 1), "max": float(np.max(self.values)),
                "samples": len(self.values)}


# ---------------------------------------------------------------------------------------------- methods

def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def make_plain(device: str):
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, post_process=False, device=device)

    def run(frames: np.ndarray) -> list[np.ndarray]:
        out = []
        for f in frames:
            boxes, probs = mtcnn.detect(f)
            if boxes is None:
                out.append(np.zeros((0, 4), np.float32))
                continue
            probs = np.asarray(probs, np.float64).reshape(-1)
            out.append(np.asarray(boxes, np.float32).reshape(-1, 4)[probs >= REF_THRESHOLD])
        sync(device)
        return out

    return run


def make_dfprep(detector, det_size: int, threshold: float, device: str, batch: int | None = None):
    from dfprep.faces.extract import detect_faces
    from dfprep.faces.params import FaceParams

    params = FaceParams(det_size=det_size, threshold=threshold)

    def run(frames: np.ndarray) -> list[np.ndarray]:
        if batch and batch != len(frames):
            reps = -(-batch // len(frames))
            tiled = np.concatenate([frames] * reps)[:batch]
            faces, _ = detect_faces(tiled, detector.detect, params)
            faces = faces[:len(frames)]
        else:
            faces, _ = detect_faces(frames, detector.detect, params)
        sync(device)
        return [f.boxes for f in faces]

    run.processed = lambda n: max(batch or n, n)   # frames that went through the detector per call
    return run


# ---------------------------------------------------------------------------------------------- bench

def load_frames(data: Path, files: list[str], k: int) -> dict[str, np.ndarray]:
    from dfprep.ingest.decode import decode_sampled, sample_indices
    from dfprep.ingest.probe import probe

    out = {}
    for name in files:
        p = probe(data / name)
        out[name], _ = decode_sampled(data / name, sample_indices(p.n_frames, k), "pyav",
                                      rotation=p.rotation)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--files", nargs="*", default=FILES)
    ap.add_argument("--frames", type=int, default=32, help="sampled frames per file")
    ap.add_argument("--det-sizes", nargs="*", type=int, default=[960, 640, 480])
    ap.add_argument("--dlib-det-sizes", nargs="*", type=int, default=[960, 640])
    ap.add_argument("--no-dlib", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (MTCNN rows)")
    ap.add_argument("--batches", nargs="*", type=int, default=[],
                    help="extra dfprep MTCNN rows with B frames per detect call (GPU batch sizes)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads for every MTCNN row")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    add_quiet_args(ap)
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(a.threads)
    from dfprep.faces.detectors import DlibDetector, MTCNNDetector

    quiet = wait_quiet(a.quiet_load, a.quiet_wait)
    info = machine()
    info["quiet"] = quiet
    info["torch_threads"] = torch.get_num_threads()
    if a.device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(a.device))
    print(f"# faces bench: {machine_line(info)}; torch threads {torch.get_num_threads()}, device {a.device}",
          file=sys.stderr, flush=True)

    frames = load_frames(a.data, a.files, a.frames)
    mt = MTCNNDetector(device=a.device, threads=a.threads)   # dfprep's defaults: min_face_size 40
    methods = {"mtcnn-plain": make_plain(a.device)}
    for d in a.det_sizes:
        methods[f"dfprep-mtcnn-{d}"] = make_dfprep(mt, d, MTCNNDetector.default_threshold, a.device)
    for b in a.batches:
        d = a.det_sizes[0] if a.det_sizes else 960
        methods[f"dfprep-mtcnn-{d}-b{b}"] = make_dfprep(mt, d, MTCNNDetector.default_threshold, a.device, b)
    if not a.no_dlib:
        dl = DlibDetector()
        for d in a.dlib_det_sizes:
            methods[f"dfprep-dlib-{d}"] = make_dfprep(dl, d, DlibDetector.default_threshold, "cpu")

    # warm-up (first-call allocations, cuDNN autotune) on two frames of each file, then the timed rounds
    for fr in frames.values():
        for run in methods.values():
            run(fr[:2])
    boxes: dict[str, dict[str, list]] = {m: {} for m in methods}
    times: dict[str, dict[str, list]] = {m: {f: [] for f in frames} for m in methods}
    cpu: dict[str, dict[str, list]] = {m: {f: [] for f in frames} for m in methods}
    gpu: dict[str, list] = {m: [] for m in methods}
    la = [loadavg1()]
    for r in range(a.repeats):
        for m, run in methods.items():
            for name, fr in frames.items():
                with GpuSampler(a.device) as g:
                    t, c = time.perf_counter(), time.process_time()
                    got = run(fr)
                    times[m][name].append(time.perf_counter() - t)
                    cpu[m][name].append(time.process_time() - c)
                if g.summary():
                    gpu[m].append(g.summary()["mean"])
                boxes[m][name] = got
            print(f"  round {r + 1}: {m} {sum(times[m][f][-1] for f in frames):.2f}s (load {loadavg1()})",
                  file=sys.stderr, flush=True)
    la.append(loadavg1())
    info["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]

    ref = boxes["mtcnn-plain"]
    res: dict[str, dict] = {}
    for m in methods:
        per_file = {}
        for name, fr in frames.items():
            med = statistics.median(times[m][name])
            n = methods[m].processed(len(fr)) if hasattr(methods[m], "processed") else len(fr)
            cmed = statistics.median(cpu[m][name])
            per_file[name] = {"frames": n, "size": f"{fr.shape[2]}x{fr.shape[1]}", "median_s": med,
                              "fps": n / med, "median_cpu_s": cmed, "times_s": times[m][name],
                              "cpu_s": cpu[m][name], **quality(ref[name], boxes[m][name])}
        tot_frames = sum(v["frames"] for v in per_file.values())
        tot_s = sum(v["median_s"] for v in per_file.values())
        tot_cpu = sum(v["median_cpu_s"] for v in per_file.values())
        q = quality([b for f in frames for b in ref[f]], [b for f in frames for b in boxes[m][f]])
        res[m] = {"files": per_file, "frames": tot_frames, "total_s": tot_s, "fps": tot_frames / tot_s,
                  "cpu_s": tot_cpu, "cpu_ms_per_frame": 1000 * tot_cpu / tot_frames, **q,
                  "gpu_util_mean": round(float(np.mean(gpu[m])), 1) if gpu[m] else None}
    base = res["mtcnn-plain"]["fps"]
    for m in res:
        res[m]["speedup"] = res[m]["fps"] / base
        res[m]["speedup_cpu"] = res["mtcnn-plain"]["cpu_ms_per_frame"] / res[m]["cpu_ms_per_frame"]

    names = list(frames)
    headers = ["method", *[f"{n} fps" for n in names], "all fps", "x plain", "CPU ms/frame", "x plain (CPU)",
               "mean IoU", "recall", "extra boxes"]
    if a.device.startswith("cuda"):
        headers.append("GPU util %")
    rows = []
    for m, r in res.items():
        row = [m, *[f"{r['files'][n]['fps']:.2f}" for n in names], f"{r['fps']:.2f}", f"**{r['speedup']:.2f}**",
               f"{r['cpu_ms_per_frame']:.0f}", f"{r['speedup_cpu']:.2f}", f"**{r['mean_iou']:.3f}**",
               f"{r['recall']:.3f}", r["extra"]]
        if a.device.startswith("cuda"):
            row.append(r["gpu_util_mean"] if r["gpu_util_mean"] is not None else "n/a")
        rows.append(row)
    sizes = ", ".join(f"{n} {frames[n].shape[2]}x{frames[n].shape[1]}" for n in names)
    print(f"Face detection on {a.frames} sampled frames per file ({sizes}); device {a.device}, torch threads "
          f"{torch.get_num_threads()}; frames/s from the median of {a.repeats} rounds (load {la[0]}->{la[1]}). "
          f"Reference: {res['mtcnn-plain']['ref_boxes']} boxes of mtcnn-plain with prob >= {REF_THRESHOLD}.\n")
    print(md_table(headers, rows))
    write_json(a.json, {"bench": "faces", "machine": info, "args": {k: str(v) for k, v in vars(a).items()},
                        "loadavg": la, "methods": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
