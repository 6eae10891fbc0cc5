"""`ingest(root, out, cfg)`: the library function behind `dfprep ingest`.

discover -> plan batches (recorded per part: a part grows by new batches) -> skip what a previous run finished ->
plan resources -> Scheduler (Ray) -> merge batches -> run.json. Safe to interrupt at any point: rerunning the
same command resumes and ends with the same files.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path


from dfprep.atomic import remove_stale_tmp
from dfprep.dataset import Status, VideoEntry
from dfprep.storage import as_path, is_remote, rmtree
from dfprep.formats.work.batches import journal_dir, journal_file, write_journal
from dfprep.formats.work.faces import empty_faces
from dfprep.formats.work.names import WorkError, faces_dir, journal_root, run_json_path, videos_dir
from dfprep.formats.work.runjson import read_last_run, write_run_json, write_state
from dfprep.formats.work.videos import HASH, read_videos, video_row
from dfprep.ingest.batches import Batch, merge_batch, reopen_batch
from dfprep.ingest.batching import Planned, plan_batches, record_plans
from dfprep.ingest.config import IngestConfig
from dfprep.datasets.base import DiscoverOptions
from dfprep.datasets.discover import discover_roots, roots_record
from dfprep.ingest.discover import IngestUsageError, parse_parts
from dfprep.ingest.state import check_state
from dfprep.ingest.inputs import SameFile, record_stamps
from dfprep.ingest.summary import IngestSummary
from dfprep.ingest.tasks import OriginalRef, VideoResult, VideoTask
from dfprep.ingest.timeline import TimelineWriter, summarize
from dfprep.ingest.video import process_video
from dfprep.progress import Reporter
from dfprep.versions import library_versions

LPT_WINDOW = 256


def _prune_empty(folder) -> None:
    """Remove journal folders emptied by merges (bottom-up); a folder still holding entries stays."""
    if not folder.is_dir():
        return
    if is_remote(folder):       # an object store keeps folder markers: drop the journal once it holds no object
        if not any(p.is_file() for p in folder.rglob("*")):
            rmtree(folder)
        return
    for p in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


@dataclass
class _Pending:
    """What is left to do: open batches (with their rows that need no work) and the videos to process."""
    open_batches: dict = field(default_factory=dict)   # Batch.key -> {"batch", "no_work", "left"}
    todo: list = field(default_factory=list)            # (Batch, VideoEntry)
    resumed: int = 0
    retried: int = 0                                    # videos whose earlier error was a setting's, redone
    changed: int = 0                                    # videos whose entry changed since their batch was written


def _find_pending(work: Path, planned: Planned, cfg: IngestConfig) -> _Pending:
    """Batches without their videos file are open; within them, pending entries without a journal are todo.

    A finished batch holding errors caused by a scheduling setting (timed out, worker died), or videos whose
    entry changed since it was written (`batching`), is reopened for just those videos: the others are
    journalled from its files, and the batch is merged again."""
    pend = _Pending()
    for b in planned.batches:
        done = planned.finished(b)
        retry, redo = planned.retry(b), planned.redo(b)
        if done and not (retry or redo):
            rmtree(journal_dir(work, b))
            pend.resumed += len(b.entries)
            continue
        if done:
            reopen_batch(work, b, retry | redo)
            pend.retried += len(retry)
            pend.changed += len(redo)
        no_work = {e.video: process_video(e, cfg)[0] for e in b.entries if e.status is not Status.PENDING}
        left = 0
        for e in b.entries:
            if e.status is not Status.PENDING:
                continue
            if journal_file(work, b, e.video).exists():
                pend.resumed += 1
            else:
                left += 1
                pend.todo.append((b, e))
        pend.open_batches[b.key] = {"batch": b, "no_work": no_work, "left": left}
    return pend


def _largest_first(todo: list, window: int = LPT_WINDOW) -> list:
    """Within each window of `window` videos (in batch order), the largest files first.

    Longest-first keeps the run's tail short (no core idles while one big video finishes); windows keep
    batches completing, and being merged, all along a large run instead of all at the end.
    """
    def size(item) -> int:
        e: VideoEntry = item[1]
        if e.size is not None:                      # from a remote listing
            return e.size
        try:
            return os.path.getsize(e.path)
        except (OSError, TypeError):
            return 0

    out = []
    for i in range(0, len(todo), window):
        out += sorted(todo[i:i + window], key=lambda it: (-size(it), it[1].part, it[1].video))
    return out


def _start_ray_and_plan(cfg: IngestConfig):
    from dfprep.ingest.resources import cluster_nodes, make_plan
    from dfprep.rayinit import init_ray

    started = init_ray(cfg.address, cfg.num_cpus)
    try:
        nodes = cluster_nodes()
        return started, make_plan(cfg, nodes), nodes
    except BaseException:
        if started:
            import ray

            ray.shutdown()
        raise


def _summarize(work: Path, root: Path, cfg: IngestConfig, pend: _Pending, report: Reporter, merges: list,
               problems: list, timings: dict, plan: dict, sched, timeline: Path | None, rows: list[dict]) -> dict:
    status = Counter(r["status"] for r in rows)
    n_faces = sum(r["n_faces"] or 0 for r in rows)
    no_face = sum(1 for r in rows if r["status"] == Status.OK and cfg.faces and not r["n_faces"])
    n_todo = len(pend.todo)
    total = timings["total_s"]
    return {
        "root": str(root.resolve()), "work": str(work.resolve()),
        "videos": int(sum(status.values())), "by_status": dict(sorted(status.items())),
        "faces": int(n_faces), "ok_videos_without_face": int(no_face),
        "processed_this_run": n_todo, "resumed": pend.resumed, "retried": pend.retried, "changed": pend.changed,
        "batches_written": len(merges),
        "problems": problems, "errors_this_run": report.errors,
        "timings": {**timings, "videos_per_s": round(n_todo / total, 3) if total and n_todo else None},
        "plan": plan, "stages": summarize(timeline, plan.get("cpus", 0.0)) if timeline else {},
        "detectors": sched.detector_info if sched else [],
        "videos_per_node": dict(sched.videos_per_node) if sched else {},
        "worker_restarts": sched.restarts if sched else 0,
        "config": asdict(cfg), "settings": cfg.output_settings(), "fingerprint": cfg.fingerprint(),
        "versions": library_versions(),
        "outputs": {"videos": str(videos_dir(work)), "faces": str(faces_dir(work)),
                    "run": str(run_json_path(work)), "timeline": str(timeline) if timeline else None},
    }


def ingest(root, out: Path, cfg: IngestConfig | None = None, overwrite: bool = False) -> IngestSummary:
    """Run (or resume) an ingest of ROOT (a folder, or a list of them: one per dataset) into OUT. Returns the run
    summary (its `record` is run.json). Each ROOT is read through its layout (`cfg.dataset`; auto recognises
    it), and the datasets of several ROOTs, or of several runs, share one WORK.

    OUT's lease (`dfprep.lease`) is held throughout: a second ingest into OUT, whatever its parts, is refused
    (LeaseHeld) before it writes or deletes anything."""
    from dfprep.lease import lease

    cfg = cfg or IngestConfig()
    cfg.validate()                      # a bad option is refused before OUT is touched
    with lease(as_path(out), "dfprep ingest"):
        return _ingest(root, out, cfg, overwrite)


def _ingest(root, out: Path, cfg: IngestConfig, overwrite: bool) -> IngestSummary:
    roots = [as_path(r) for r in (root if isinstance(root, (list, tuple)) else [root])]
    if not roots:
        raise IngestUsageError("no ROOT given")
    root, work = roots[0], as_path(out)
    t0 = time.perf_counter()
    if cfg.faces and cfg.identity:      # the workers load dlib's models: say at once when they are absent
        from dfprep.faces.identity import RECOGNITION_MODEL, SHAPE_MODEL, model_path

        model_path(SHAPE_MODEL), model_path(RECOGNITION_MODEL)     # IdentityModelsMissing: a usage error
    parts = parse_parts(cfg.parts)
    opts = DiscoverOptions(frozenset(parts) if parts is not None else None, cfg.compression, cfg.follow_symlinks,
                           ffpp_splits=cfg.ffpp_splits)
    known = set() if overwrite else _known_videos(work)
    finds, entries, problems = discover_roots(roots, cfg.dataset, opts, known)
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(work)
    state = check_state(work, finds, cfg, overwrite)
    same_file = SameFile(work)
    planned = plan_batches(work, entries, cfg.batch_videos, lambda e: process_video(e, cfg)[0], same_file)
    write_state(work, state)                        # nothing is written before the run is known to go ahead
    record_plans(work, planned, cfg.batch_videos)
    pend = _find_pending(work, planned, cfg)
    timings = {"discover_s": round(time.perf_counter() - t0, 3)}

    merges: list = []

    def finish_one(key: str) -> None:
        ob = pend.open_batches[key]
        ob["left"] -= 1
        if ob["left"] == 0:
            merges.append(merge_batch(work, ob["batch"], ob["no_work"]))

    for ob in pend.open_batches.values():          # batches whose every video was journalled before
        if ob["left"] == 0:
            merges.append(merge_batch(work, ob["batch"], ob["no_work"]))

    report = Reporter(enabled=cfg.progress, total=len(pend.todo), title=f"ingest {', '.join(map(str, roots))}")
    for f in finds:
        report.say(f"found {f.describe()}")
    started_ray, sched, plan, timeline, timeline_path = False, None, {}, None, None
    try:
        if pend.todo:
            started_ray, rplan, nodes = _start_ray_and_plan(cfg)
            plan = {**rplan.as_dict(), "description": rplan.describe(),
                    "cluster": _totals(nodes)}
            report.say(f"plan: {rplan.describe()}")
            timings["ray_start_s"] = round(time.perf_counter() - t0 - timings["discover_s"], 3)
            from dfprep.ingest.scheduler import Scheduler

            t1 = time.perf_counter()
            sched = Scheduler(cfg, rplan)
            t2 = time.perf_counter()
            timings["workers_start_s"] = round(t2 - t1, 3)
            timeline = TimelineWriter(work)
            _process(work, cfg, planned.batches, pend, sched, report, timeline, finish_one)
            timings["process_s"] = round(time.perf_counter() - t2, 3)
    finally:
        report.close()
        if timeline is not None:
            timeline_path = timeline.close()
        if sched is not None:
            sched.detector_info = sched.stats()
        if started_ray:
            import ray

            ray.shutdown()

    _prune_empty(journal_root(work))
    rows = _video_rows(work)
    record_stamps(work, same_file, entries, rows)
    timings["total_s"] = round(time.perf_counter() - t0, 3)
    summary = _summarize(work, root, cfg, pend, report, merges, problems, timings, plan, sched, timeline_path,
                         rows)
    summary["roots"] = roots_record(finds)
    summary["datasets"] = _dataset_counts(rows)
    if not pend.todo:
        summary = keep_last_processing(work, summary)
    write_run_json(work, summary)
    return IngestSummary.of(summary)


def _video_rows(work: Path) -> list[dict]:
    """The columns of every videos.parquet row that the summary and the input cache need."""
    if not videos_dir(work).exists():
        return []
    return read_videos(work, ["dataset", "part", "video", "status", "label", "n_faces", "bytes",
                              HASH]).to_pylist()


def _known_videos(work: Path) -> set[str]:
    """The video names WORK already holds (a layout links its fakes to reals ingested before)."""
    try:
        return set(read_videos(work, ["video"]).column("video").to_pylist()) if videos_dir(work).exists() else set()
    except WorkError:
        return set()


def _dataset_counts(rows: list[dict]) -> dict:
    """run.json `datasets`: {dataset: {status: n}} over WORK."""
    out: dict = {}
    for r in rows:
        d = out.setdefault(r["dataset"], {})
        d[r["status"]] = d.get(r["status"], 0) + 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


PROCESSING = ("plan", "stages", "detectors", "videos_per_node", "worker_restarts")
LAST_PROCESSING = ("processed_this_run", "retried", "changed", "batches_written", "errors_this_run", "timings")


def keep_last_processing(work: Path, summary: dict) -> dict:
    """A run that processed no video has no plan, stage costs or timeline of its own: keep those of the last run
    that did (from the previous run.json), with that run's counts and timings under `last_processing`; the
    counts of WORK and of this run stay this run's."""
    prev = read_last_run(work)
    if prev is None or not prev.get("plan"):
        return summary
    out = dict(summary)
    out.update({k: prev[k] for k in PROCESSING if k in prev})
    out["outputs"] = {**summary["outputs"], "timeline": (prev.get("outputs") or {}).get("timeline")}
    out["last_processing"] = prev.get("last_processing") or {k: prev.get(k) for k in LAST_PROCESSING}
    return out


def _totals(nodes: list[dict]) -> dict:
    out: Counter = Counter()
    for n in nodes:
        for k, v in n.items():
            if not k.startswith(("node:", "memory", "object_store", "accelerator_type")):
                out[k] += v
    return dict(sorted(out.items()))


def _process(work: Path, cfg: IngestConfig, batches: list[Batch], pend: _Pending, sched, report: Reporter,
             timeline: TimelineWriter, finish_one) -> None:
    """Hand every todo video to the scheduler; REALs first when FAKEs are cut at their original's boxes."""
    def on_result(task: VideoTask, result: VideoResult) -> None:
        e = task.entry
        timeline.add(e.video, e.part, result.worker, result.spans)
        report.advance(result.status.value, e.video, result.error)
        finish_one(task.key)

    def on_failure(task: VideoTask, reason: str) -> None:
        e = task.entry
        write_journal(as_path(task.journal), video_row(e, status=Status.ERROR, error=reason), empty_faces())
        report.advance(Status.ERROR.value, e.video, reason)
        finish_one(task.key)

    def as_task(b: Batch, e: VideoEntry, original: OriginalRef | None = None) -> VideoTask:
        return VideoTask(b.key, e, str(journal_file(work, b, e.video)), original)

    if not (cfg.boxes_from_original and cfg.faces):
        sched.run([as_task(b, e) for b, e in _largest_first(pend.todo)], on_result, on_failure)
        return
    first = [(b, e) for b, e in pend.todo if e.label != "FAKE"]
    second = [(b, e) for b, e in pend.todo if e.label == "FAKE"]
    sched.run([as_task(b, e) for b, e in _largest_first(first)], on_result, on_failure)
    real_batch = {(e.part, e.video): b for b in batches for e in b.entries if e.label == "REAL"}
    tasks = []
    for b, e in _largest_first(second):
        rb = real_batch.get((e.part, e.original))
        tasks.append(as_task(b, e, OriginalRef(str(work), rb.part, rb.index, e.original) if rb else None))
    sched.run(tasks, on_result, on_failure)
