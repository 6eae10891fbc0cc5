"""Ray wrapper of ingest: workers hold up to `inflight_per_worker` videos each, under a time limit, with retries.

Why actors rather than Ray Data: a video's frames must stay in the process that decoded them (only the
detection copies travel), a hung decoder must be killable per video, and a dead worker must be told apart
from a bad file. Memory stays bounded: at most `inflight_per_worker` videos per worker are in flight, and
results go straight to the journal on disk, never through the driver.

A worker that dies takes every video it held with it; each is retried alone on a fresh worker, so a
video that crashes its worker cannot take an innocent neighbour's retry down with it.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from dfprep.dataset import VideoEntry
from dfprep.errors import StoreError
from dfprep.faces.actor import DetectorActor
from dfprep.ingest.batches import TIMED_OUT, WORKER_DIED
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.resources import IngestPlan
from dfprep.ingest.scheduling import FATAL_ERRNOS, Attempt, Dispatch, Failure, WorkerSlots, failure_kind, \
    timed_out
from dfprep.ingest.tasks import VideoResult, VideoTask
from dfprep.ingest.worker import VideoWorker
from dfprep.storage import StorageError

__all__ = ["FATAL_ERRNOS", "IngestAbort", "Scheduler", "process_videos", "scheduler_for_cluster"]


class IngestAbort(StoreError):
    """A failure of the run, not of one video (the disk is full, no worker can be placed): exit 1, resumable."""

    advice = "every finished video is kept in WORK; fix the cause and rerun the same command to resume"


PLACEMENT_TIMEOUT_S = 120.0
OnResult = Callable[[VideoTask, VideoResult], None]
OnFailure = Callable[[VideoTask, str], None]


class Scheduler:
    def __init__(self, cfg: IngestConfig, plan: IngestPlan):
        self.cfg, self.plan = cfg, plan
        self.detectors = []
        if plan.detection == "actors":
            kwargs = {} if cfg.detector == "dlib" else {"min_face_size": cfg.min_face_size, "device": plan.device}
            opts = {"num_cpus": plan.detector_cpus, "num_gpus": plan.detector_gpus, "max_restarts": -1,
                    "max_task_retries": -1, "max_concurrency": 1000}
            if plan.device == "cpu":
                if cfg.detector != "dlib":
                    kwargs["threads"] = plan.detector_threads
            if cfg.detector_resource:
                opts["resources"] = {cfg.detector_resource: 0.001}
            self.detectors = [DetectorActor.options(**opts).remote(
                cfg.detector, kwargs, cfg.det_batch, cross_video=plan.det_cross_video)
                for _ in range(plan.detectors)]
        self.cfg_dict = asdict(cfg)
        self.starting: dict = {}  # ready() ref -> WorkerSlots not yet placed
        self.workers: list[WorkerSlots] = []
        for _ in range(plan.workers):
            self._add_worker()
        self.detector_info = self._wait_placed()
        self.rr = 0
        self.restarts = 0
        self.videos_per_node: Counter = Counter()

    def _wait_placed(self) -> list[dict]:
        """Wait until every detector and at least one worker run; a feasible-but-full cluster gets a bound."""
        deadline = time.monotonic() + PLACEMENT_TIMEOUT_S
        info_refs = [d.info.remote() for d in self.detectors]
        try:
            info = ray.get(info_refs, timeout=PLACEMENT_TIMEOUT_S)
        except GetTimeoutError:
            raise IngestAbort(f"no face detector started within {PLACEMENT_TIMEOUT_S:g} s although the cluster "
                              f"has the resources: they are taken by other work "
                              f"(free now: {ray.available_resources()})") from None
        while not self.workers:
            left = deadline - time.monotonic()
            if left <= 0:
                raise IngestAbort(f"no decode worker started within {PLACEMENT_TIMEOUT_S:g} s "
                                  f"(free now: {ray.available_resources()})")
            self._collect_started(timeout=min(left, 1.0))
        return info

    def _add_worker(self) -> None:
        plan = self.plan
        opts = {"num_cpus": plan.worker_cpus, "max_restarts": 0, "max_concurrency": plan.inflight_per_worker}
        local = plan.detection == "in-worker"
        h = VideoWorker.options(**opts).remote(self.cfg_dict, local, plan.detector_threads,
                                                plan.inflight_per_worker)
        self.starting[h.ready.remote()] = WorkerSlots(h, plan.inflight_per_worker)

    def _collect_started(self, timeout: float = 0.0) -> None:
        """Move workers whose actor has started into the pool (a worker on a lost node never does)."""
        if not self.starting:
            return
        ready, _ = ray.wait(list(self.starting), num_returns=1, timeout=timeout)
        for ref in ready:
            w = self.starting.pop(ref)
            try:
                ray.get(ref)
                self.workers.append(w)
            except RayActorError:
                self._add_worker()

    def _next_detector(self):
        if not self.detectors:
            return None
        self.rr = (self.rr + 1) % len(self.detectors)
        return self.detectors[self.rr]

    def run(self, tasks: Iterable[VideoTask], on_result: OnResult, on_failure: OnFailure) -> None:
        """Calls on_result(task, result) as videos end, or on_failure(task, reason) when a video timed out or
        its worker died (or it raised) on every attempt. The decisions are `dfprep.ingest.scheduling`'s."""
        todo = Dispatch(tasks, self.cfg.retries)
        inflight: dict = {}  # ref -> (Attempt, WorkerSlots, start)
        starved_since = None
        while todo or inflight:
            self._collect_started()
            if todo and not inflight and not any(not w.dead for w in self.workers):
                starved_since = starved_since or time.monotonic()
                if time.monotonic() - starved_since > self.cfg.timeout_s:
                    raise IngestAbort(f"no decode worker could be placed for {self.cfg.timeout_s:g} s "
                                      f"(cluster resources now: {ray.cluster_resources()})")
                time.sleep(0.2)
                continue
            starved_since = None
            for a, w in todo.assign(self.workers):
                t = a.task
                ref = w.handle.run.remote(t.entry, t.journal, self._next_detector(), t.original)
                inflight[ref] = (a, w, time.monotonic())
            if not inflight:
                time.sleep(0.05)
                continue
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
            for ref in ready:
                if ref not in inflight:       # already settled when its worker was replaced
                    continue
                a, w, _ = inflight.pop(ref)
                try:
                    result = ray.get(ref)
                except RayActorError as exc:  # the worker process died: crash, kill -9, or its node went away
                    reason = f"{WORKER_DIED} while processing this video ({type(exc).__name__})"
                    self._fail(todo, a, on_failure, reason)
                    self._bury(w, inflight, todo, on_failure, reason)
                    continue
                except RayTaskError as exc:
                    w.give(a.alone)
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    kind = failure_kind(cause)
                    if kind is Failure.ABORT:
                        raise IngestAbort(f"cannot write outputs: {cause}; every finished video is kept in WORK; free "
                                          "space and rerun the same command to resume") from None
                    if kind is Failure.STORE:     # the run's failure, not the video's: stop, resumable
                        raise StorageError(str(cause).splitlines()[0][:500]) from None
                    self._fail(todo, a, on_failure, f"{type(cause).__name__}: {str(cause).splitlines()[0][:300]}")
                    continue
                w.give(a.alone)
                self.videos_per_node[result.node_id] += 1
                on_result(a.task, result)
            now = time.monotonic()
            for ref, (a, w, start) in list(inflight.items()):
                if ref in inflight and timed_out(start, now, self.cfg.timeout_s):
                    del inflight[ref]
                    ray.kill(w.handle, no_restart=True)
                    on_failure(a.task, f"{TIMED_OUT} {self.cfg.timeout_s:g} s (decoder hung?); worker killed")
                    self._bury(w, inflight, todo, on_failure, None)

    def _bury(self, w: WorkerSlots, inflight: dict, todo: Dispatch, on_failure: OnFailure,
              reason: str | None) -> None:
        """Replace a dead or killed worker; the other videos it held are retried alone (a crash) or
        re-queued as they were (a neighbour timed out: not their fault)."""
        if w.dead:
            return
        w.dead = True
        try:
            ray.kill(w.handle, no_restart=True)
        except Exception:
            pass
        for ref, (a, ww, _) in list(inflight.items()):
            if ww is w:
                del inflight[ref]
                if reason is None:
                    todo.requeue(a)
                else:
                    self._fail(todo, a, on_failure, reason)
        self.workers.remove(w)
        self.restarts += 1
        self._add_worker()

    @staticmethod
    def _fail(todo: Dispatch, a: Attempt, on_failure: OnFailure, reason: str) -> None:
        final = todo.failed(a, reason)
        if final is not None:
            on_failure(a.task, final)

    def stats(self) -> list[dict]:
        try:
            return ray.get([d.info.remote() for d in self.detectors], timeout=10)
        except (GetTimeoutError, RayActorError):
            return self.detector_info


def scheduler_for_cluster(cfg: IngestConfig) -> Scheduler:
    """A Scheduler planned from the connected Ray cluster's nodes (ResourceError when no node fits)."""
    from dfprep.ingest.resources import cluster_nodes, make_plan

    return Scheduler(cfg, make_plan(cfg, cluster_nodes()))


def process_videos(cfg: IngestConfig, entries: list[VideoEntry], spool: Path,
                   on_video: Callable[[VideoEntry, dict | None, object, str | None], None]) -> None:
    """Run `entries` through the ingest scheduler on the connected (or an embedded) Ray cluster, for a stage that
    wants each video's ingest result without a WORK (predict). Calls on_video(entry, row, faces, None) as each
    video ends (its videos.parquet row and faces table), or on_video(entry, None, None, reason) when it timed out,
    its worker died on every attempt, or its result could not be read. Each result goes through a journal file in
    `spool` (one per video, deleted once handed over). A failing store raises StorageError."""
    from dfprep.ingest.batches import read_journal
    from dfprep.rayinit import init_ray

    started = init_ray(cfg.address, cfg.num_cpus)
    try:
        sched = scheduler_for_cluster(cfg)

        def on_result(task: VideoTask, result: VideoResult) -> None:
            journal = Path(task.journal)
            try:
                row, faces = read_journal(journal)
            except Exception as exc:  # noqa: BLE001 - an unreadable result is this video's failure
                lines = str(exc).splitlines()
                on_video(task.entry, None, None, f"{type(exc).__name__}: {lines[0][:300]}" if lines
                         else type(exc).__name__)
            else:
                on_video(task.entry, row, faces, None)
            journal.unlink(missing_ok=True)

        def on_failure(task: VideoTask, reason: str) -> None:
            on_video(task.entry, None, None, reason)

        tasks = [VideoTask(e.video, e, str(Path(spool) / f"{i:06d}.arrow")) for i, e in enumerate(entries)]
        sched.run(tasks, on_result, on_failure)
    finally:
        if started:
            ray.shutdown()
