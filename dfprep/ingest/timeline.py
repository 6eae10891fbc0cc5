"""Per-video stage timings: measured where the work runs, collected by the driver, summarised in run.json.

Why: "are the stages overlapping, and where does the time go" must be answered from the run itself, not
guessed. Each worker times every stage of every video (wall interval and the CPU seconds of the thread that
ran it); the driver streams those spans to `WORK/timeline.jsonl` (one line a video, on disk, never kept in
memory) and, at the end, summarises them: CPU seconds per stage, and the time during which one video was
being decoded while another was in face detection (the overlap the design promises).
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dfprep.atomic import tmp_name
from dfprep.formats.work.names import TIMELINE

STAGES = ("fetch", "probe", "decode", "detect", "crop", "identity", "write")


class StageClock:
    """Records {stage: [wall start, wall end, CPU s]} for one video.

    `whole_process`: count the CPU of every thread of the process (right when the process works on one video
    at a time, and needed for decoders such as decord that decode on threads of their own); otherwise only
    the calling thread's, which is what separates two videos handled at once by one worker.
    """

    def __init__(self, whole_process: bool = True) -> None:
        self.spans: dict[str, list[float]] = {}
        self.cpu = time.process_time if whole_process else time.thread_time

    @contextmanager
    def stage(self, name: str):
        w0, c0 = time.time(), self.cpu()
        try:
            yield
        finally:
            self.spans[name] = [round(w0, 6), round(time.time(), 6), round(self.cpu() - c0, 6)]


@contextmanager
def maybe_stage(clock: StageClock | None, name: str):
    if clock is None:
        yield
    else:
        with clock.stage(name):
            yield


class TimelineWriter:
    """Appends one JSON line per finished video to a temporary file; `close()` renames it into place."""

    def __init__(self, work):
        from dfprep.storage import is_remote, spool_dir

        self.path = work / TIMELINE if is_remote(work) else Path(work) / TIMELINE
        self.remote = is_remote(work)
        self.tmp = tmp_name(spool_dir() / TIMELINE if self.remote else self.path)   # remote: kept here, sent at close
        self.f = open(self.tmp, "w")

    def add(self, video: str, part: int, worker: str | None, spans: dict) -> None:
        if spans:
            self.f.write(json.dumps({"video": video, "part": part, "worker": worker, "spans": spans}) + "\n")

    def close(self) -> Path | None:
        """Rename (or upload) the timeline into place; on any failure (a full disk, a failing store) the
        temporary is deleted: nothing trusts a partial timeline."""
        try:
            self.f.close()
            if os.path.getsize(self.tmp) == 0:
                return None
            if self.remote:
                from dfprep.storage import upload_file

                upload_file(self.tmp, self.path)
            else:
                os.replace(self.tmp, self.path)
            return self.path
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


def _union_length(starts: np.ndarray, ends: np.ndarray) -> float:
    if not len(starts):
        return 0.0
    order = np.argsort(starts)
    total, cur_s, cur_e = 0.0, starts[order[0]], ends[order[0]]
    for s, e in zip(starts[order[1:]], ends[order[1:]]):
        if s > cur_e:
            total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    return float(total + cur_e - cur_s)


def overlap_seconds(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Seconds during which some interval of `a` and some interval of `b` both run (|A| + |B| - |A u B|)."""
    ua, ub = _union_length(*a), _union_length(*b)
    both = _union_length(np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]]))
    return max(0.0, ua + ub - both)


def summarize(path: Path | None, cores: float) -> dict:
    """Stage CPU totals and overlap from a timeline file (read back in one pass)."""
    from dfprep.storage import as_path

    path = as_path(path)
    if path is None or not path.exists():
        return {}
    spans: dict[str, list[list[float]]] = {s: [] for s in STAGES}
    videos = 0
    with path.open("r") as f:
        for line in f:
            rec = json.loads(line)
            videos += 1
            for name, span in rec["spans"].items():
                spans.setdefault(name, []).append(span)
    arr = {k: np.array(v, np.float64).reshape(-1, 3) for k, v in spans.items()}
    first = min((a[:, 0].min() for a in arr.values() if len(a)), default=0.0)
    last = max((a[:, 1].max() for a in arr.values() if len(a)), default=0.0)
    wall = max(last - first, 1e-9)
    cpu = {k: round(float(a[:, 2].sum()), 3) for k, a in arr.items() if len(a)}
    dec, det = arr.get("decode"), arr.get("detect")
    overlap = overlap_seconds((dec[:, 0], dec[:, 1]), (det[:, 0], det[:, 1])) \
        if dec is not None and det is not None and len(dec) and len(det) else 0.0
    total_cpu = sum(cpu.values())
    return {"videos": videos, "processing_wall_s": round(wall, 3), "cpu_s": cpu,
            "stage_cpu_s_total": round(total_cpu, 3),
            "stage_cores_busy": round(total_cpu / wall, 3), "cores": cores,
            "decode_detect_overlap_s": round(overlap, 3),
            "note": "stage CPU is measured in the worker that ran the stage (its whole process when it holds "
                    "one video at a time, else the stage's thread); with detector actors, detect is only the "
                    "worker's wait and the actors' CPU is in run.json's detectors"}
