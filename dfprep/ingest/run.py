"""`ingest(root, out, cfg)`: the library function behind `dfprep ingest`.

discover -> plan batches -> skip what a previous run finished -> Scheduler (Ray) -> merge batches ->
run.json. Safe to interrupt at any point: rerunning the same command resumes and ends with the same files.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds

from dfprep.atomic import remove_stale_tmp, write_json
from dfprep.faces.extract import FrameFaces
from dfprep.ingest.batches import (batch_done, journal_dir, journal_file, merge_batch, plan_batches,
                                   read_journal, write_journal)
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.discover import IngestUsageError, discover, parse_parts
from dfprep.ingest.manifest import video_row
from dfprep.ingest.video import process_video
from dfprep.faces.store import empty_faces
from dfprep.progress import Reporter
from dfprep.versions import library_versions

STATE = "_state.json"


def _check_state(work: Path, root: Path, cfg: IngestConfig, overwrite: bool) -> None:
    """Refuse to mix outputs of different settings in one WORK; --overwrite starts afresh."""
    state = {"root": str(root.resolve()), "fingerprint": cfg.fingerprint(), "settings": cfg.output_settings()}
    path = work / STATE
    if path.exists() and overwrite:
        for name in ("videos.parquet", "faces.parquet", "_journal", "run.json", STATE):
            p = work / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    elif path.exists():
        old = json.loads(path.read_text())
        if old.get("fingerprint") != state["fingerprint"] or old.get("root") != state["root"]:
            diff = {k: (old.get("settings", {}).get(k), v) for k, v in state["settings"].items()
                    if old.get("settings", {}).get(k) != v}
            if old.get("root") != state["root"]:
                diff["root"] = (old.get("root"), state["root"])
            raise IngestUsageError(f"{work} holds an ingest made with other settings {diff}; "
                                   "use another --out, or --overwrite to start again")
    write_json(path, state)


def frame_faces_from(row: dict, faces) -> list[FrameFaces]:
    """Rebuild an original's per-frame faces from its stored rows (for --boxes-from-original on resume)."""
    t = faces.select(["frame_idx", "track_id", "prob", "x1", "y1", "x2", "y2", "landmarks"]).to_pylist()
    out = []
    for fi in row.get("sampled_frames") or []:
        rs = [r for r in t if r["frame_idx"] == fi]
        boxes = np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rs], np.float32).reshape(-1, 4)
        marks = None
        if rs and all(r["landmarks"] is not None for r in rs):
            marks = np.array([r["landmarks"] for r in rs], np.float32)
        out.append(FrameFaces(boxes, np.array([r["prob"] for r in rs], np.float32), marks,
                              np.array([r["track_id"] for r in rs], np.int64)))
    return out


def _stored_faces(work: Path, b, video: str) -> list[FrameFaces] | None:
    jf = journal_file(work, b, video)
    if jf.exists():
        row, t = read_journal(jf)
    elif batch_done(work, b):
        from dfprep.ingest.batches import faces_file, videos_file

        vt = ds.dataset(videos_file(work, b)).to_table(filter=ds.field("video") == video).to_pylist()
        if not vt:
            return None
        row = vt[0]
        t = ds.dataset(faces_file(work, b)).to_table(filter=ds.field("video") == video,
                                                    columns=[c for c in ("frame_idx", "track_id", "prob", "x1",
                                                                         "y1", "x2", "y2", "landmarks")])
    else:
        return None
    return frame_faces_from(row, t) if row.get("status") == "ok" else None


def _prune_empty(folder: Path) -> None:
    """Remove journal folders emptied by merges (bottom-up); a folder still holding entries stays."""
    if not folder.is_dir():
        return
    for p in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


def _init_ray(cfg: IngestConfig) -> bool:
    from dfprep.rayinit import init_ray

    return init_ray(cfg.address, cfg.num_cpus)


def ingest(root: Path, out: Path, cfg: IngestConfig | None = None, overwrite: bool = False) -> dict:
    """Run (or resume) an ingest of ROOT into OUT. Returns the run summary also written to run.json."""
    cfg = cfg or IngestConfig()
    root, work = Path(root), Path(out)
    t0 = time.perf_counter()
    entries, problems = discover(root, parse_parts(cfg.parts))
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(work)
    _check_state(work, root, cfg, overwrite)
    batches = plan_batches(entries, cfg.batch_videos)
    t_discover = time.perf_counter() - t0

    # What is left: batches without their videos file; within them, pending entries without a journal.
    open_batches: dict[tuple[int, int], dict] = {}
    todo: list[tuple] = []
    resumed = 0
    for b in batches:
        if batch_done(work, b):
            shutil.rmtree(journal_dir(work, b), ignore_errors=True)
            resumed += len(b.entries)
            continue
        no_work = {e["video"]: process_video(e, cfg)[0] for e in b.entries if e["status"] != "pending"}
        left = 0
        for e in b.entries:
            if e["status"] != "pending":
                continue
            if journal_file(work, b, e["video"]).exists():
                resumed += 1
            else:
                left += 1
                todo.append((b, e))
        open_batches[(b.part, b.index)] = {"batch": b, "no_work": no_work, "left": left}

    report = Reporter(enabled=cfg.progress, total=len(todo), title=f"ingest {root}")
    started_ray = False
    sched = None
    merges: list = []
    plan: dict = {}

    def finish_one(b) -> None:
        ob = open_batches[(b.part, b.index)]
        ob["left"] -= 1
        if ob["left"] == 0:
            merges.append(merge_batch(work, b, ob["no_work"]))

    try:
        for ob in open_batches.values():
            if ob["left"] == 0:
                merges.append(merge_batch(work, ob["batch"], ob["no_work"]))
        if todo:
            started_ray = _init_ray(cfg)
            from dfprep.ingest.scheduler import Scheduler

            sched = Scheduler(cfg)
            plan = sched.plan
            originals: dict[tuple[int, str], list[FrameFaces] | None] = {}

            def on_result(task, summary):
                b, e = task[0], task[1]
                if summary.get("frame_faces") is not None:
                    originals[(e["part"], e["video"])] = summary["frame_faces"]
                report.advance(summary["status"], e["video"], summary.get("error"))
                finish_one(b)

            def on_failure(task, reason):
                b, e = task[0], task[1]
                write_journal(journal_file(work, b, e["video"]), video_row(e, status="error", error=reason),
                              empty_faces())
                report.advance("error", e["video"], reason)
                finish_one(b)

            def as_task(b, e, orig=None):
                return (b, e, str(journal_file(work, b, e["video"])), orig)

            if cfg.boxes_from_original and cfg.faces:
                first = [as_task(b, e) for b, e in todo if e["label"] != "FAKE"]
                second = [(b, e) for b, e in todo if e["label"] == "FAKE"]
                sched.run(first, on_result, on_failure)
                all_reals = {(e["part"], e["video"]): b for b in batches for e in b.entries if e["label"] == "REAL"}
                tasks = []
                for b, e in second:
                    key = (e["part"], e["original"])
                    if key not in originals and key in all_reals:
                        originals[key] = _stored_faces(work, all_reals[key], e["original"])
                    tasks.append(as_task(b, e, originals.get(key)))
                sched.run(tasks, on_result, on_failure)
            else:
                sched.run([as_task(b, e) for b, e in todo], on_result, on_failure)
    finally:
        report.close()
        det_stats = sched.stats() if sched else []
        per_node = dict(sched.videos_per_node) if sched else {}
        worker_restarts = sched.restarts if sched else 0
        if started_ray:
            import ray

            ray.shutdown()

    _prune_empty(work / "_journal")
    elapsed = time.perf_counter() - t0
    vt = ds.dataset(work / "videos.parquet").to_table(columns=["status", "label", "n_faces", "error"]) \
        if (work / "videos.parquet").exists() else None
    status = Counter(vt.column("status").to_pylist()) if vt is not None else Counter()
    n_faces = sum(x or 0 for x in vt.column("n_faces").to_pylist()) if vt is not None else 0
    no_face = sum(1 for s, n in zip(vt.column("status").to_pylist(), vt.column("n_faces").to_pylist())
                  if s == "ok" and cfg.faces and not n) if vt is not None else 0
    summary = {
        "root": str(root.resolve()), "work": str(work.resolve()),
        "videos": int(sum(status.values())), "by_status": dict(sorted(status.items())),
        "faces": int(n_faces), "ok_videos_without_face": int(no_face),
        "processed_this_run": len(todo), "resumed": resumed, "batches_written": len(merges),
        "problems": problems, "errors_this_run": report.errors,
        "timings": {"discover_s": round(t_discover, 3), "total_s": round(elapsed, 3),
                    "videos_per_s": round(len(todo) / elapsed, 3) if elapsed and todo else None},
        "resources": plan, "detectors": det_stats, "videos_per_node": per_node,
        "worker_restarts": worker_restarts,
        "config": asdict(cfg), "fingerprint": cfg.fingerprint(), "versions": library_versions(),
        "outputs": {"videos": str(work / "videos.parquet"), "faces": str(work / "faces.parquet"),
                    "run": str(work / "run.json")},
    }
    write_json(work / "run.json", summary)
    return summary
