"""Ray wrapper of ingest: workers hold up to `inflight_per_worker` videos each, under a time limit, with retries.

Why actors rather than Ray Data: a video's frames must stay in the process that decoded them (only the
detection copies travel), a hung decoder must be killable per video, and a dead worker must be told apart
from a bad file. Memory stays bounded: at most `inflight_per_worker` videos per worker are in flight, and
results go straight to the journal on disk, never through the driver.

A worker that dies takes every video it held with it; each is retried alone on a fresh worker, so a
video that crashes its worker cannot take an innocent neighbour's retry down with it.
"""
from __future__ import annotations

import errno
import time
from collections import Counter, deque
from dataclasses import asdict
from typing import Callable, Iterable

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from dfprep.errors import StoreError
from dfprep.faces.actor import DetectorActor
from dfprep.ingest.batches import TIMED_OUT, WORKER_DIED
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.resources import IngestPlan
from dfprep.ingest.worker import VideoWorker
from dfprep.storage import StorageError


class IngestAbort(StoreError):
    """A failure of the run, not of one video (the disk is full, no worker can be placed): exit 1, resumable."""

    advice = "every finished video is kept in WORK; fix the cause and rerun the same command to resume"


FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
PLACEMENT_TIMEOUT_S = 120.0


class _Worker:
    def __init__(self, handle, slots: int):
        self.handle, self.slots, self.free, self.dead = handle, slots, slots, False


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
        self.starting: dict = {}  # ready() ref -> _Worker not yet placed
        self.workers: list[_Worker] = []
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
        self.starting[h.ready.remote()] = _Worker(h, plan.inflight_per_worker)

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

    def _free_worker(self, exclusive: bool):
        """The live worker with the most free slots (spreads videos before doubling up); None if none fits."""
        best = None
        for w in self.workers:
            if w.dead or w.free == 0 or (exclusive and w.free < w.slots):
                continue
            if best is None or w.free > best.free:
                best = w
        return best

    def run(self, tasks: Iterable[tuple], on_result: Callable[[tuple, dict], None],
            on_failure: Callable[[tuple, str], None]) -> None:
        """tasks: (key, entry, journal_path, original). Calls on_result(task, summary) as videos end, or
        on_failure(task, reason) when a video timed out or its worker died on every attempt."""
        queue = deque((t, 0, False) for t in tasks)   # (task, attempt, run alone)
        inflight: dict = {}  # ref -> (task, attempt, worker, start)
        starved_since = None
        while queue or inflight:
            self._collect_started()
            if queue and not inflight and not any(not w.dead for w in self.workers):
                starved_since = starved_since or time.monotonic()
                if time.monotonic() - starved_since > self.cfg.timeout_s:
                    raise IngestAbort(f"no decode worker could be placed for {self.cfg.timeout_s:g} s "
                                      f"(cluster resources now: {ray.cluster_resources()})")
                time.sleep(0.2)
                continue
            starved_since = None
            while queue:
                task, attempt, alone = queue[0]
                w = self._free_worker(alone)
                if w is None:
                    break
                queue.popleft()
                w.free -= w.slots if alone else 1
                ref = w.handle.run.remote(task[1], task[2], self._next_detector(), task[3])
                inflight[ref] = (task, attempt, w, time.monotonic(), alone)
            if not inflight:
                time.sleep(0.05)
                continue
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
            for ref in ready:
                if ref not in inflight:       # already settled when its worker was replaced
                    continue
                task, attempt, w, _, alone = inflight.pop(ref)
                try:
                    summary = ray.get(ref)
                except RayActorError as exc:  # the worker process died: crash, kill -9, or its node went away
                    reason = f"{WORKER_DIED} while processing this video ({type(exc).__name__})"
                    self._retry_or_fail(queue, task, attempt, on_failure, reason)
                    self._bury(w, inflight, queue, on_failure, reason)
                    continue
                except RayTaskError as exc:
                    w.free += w.slots if alone else 1
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    if isinstance(cause, OSError) and cause.errno in FATAL_ERRNOS:
                        raise IngestAbort(f"cannot write outputs: {cause}; every finished video is kept in WORK; free "
                                          "space and rerun the same command to resume") from None
                    if isinstance(cause, StorageError):     # the run's failure, not the video's: stop, resumable
                        raise StorageError(str(cause).splitlines()[0][:500]) from None
                    self._retry_or_fail(queue, task, attempt, on_failure,
                                        f"{type(cause).__name__}: {str(cause).splitlines()[0][:300]}")
                    continue
                w.free += w.slots if alone else 1
                self.videos_per_node[summary.get("node_id", "?")] += 1
                on_result(task, summary)
            now = time.monotonic()
            for ref, (task, attempt, w, start, alone) in list(inflight.items()):
                if ref in inflight and now - start > self.cfg.timeout_s:
                    del inflight[ref]
                    ray.kill(w.handle, no_restart=True)
                    on_failure(task, f"{TIMED_OUT} {self.cfg.timeout_s:g} s (decoder hung?); worker killed")
                    self._bury(w, inflight, queue, on_failure, None)

    def _bury(self, w: _Worker, inflight: dict, queue: deque, on_failure, reason: str | None) -> None:
        """Replace a dead or killed worker; the other videos it held are retried alone (a crash) or
        re-queued as they were (a neighbour timed out: not their fault)."""
        if w.dead:
            return
        w.dead = True
        try:
            ray.kill(w.handle, no_restart=True)
        except Exception:
            pass
        for ref, (task, attempt, ww, _, _) in list(inflight.items()):
            if ww is w:
                del inflight[ref]
                if reason is None:
                    queue.appendleft((task, attempt, False))
                else:
                    self._retry_or_fail(queue, task, attempt, on_failure, reason)
        self.workers.remove(w)
        self.restarts += 1
        self._add_worker()

    def _retry_or_fail(self, queue, task, attempt, on_failure, reason: str) -> None:
        if attempt < self.cfg.retries:
            queue.append((task, attempt + 1, True))
        else:
            on_failure(task, f"{reason} (after {attempt + 1} attempts)")

    def stats(self) -> list[dict]:
        try:
            return ray.get([d.info.remote() for d in self.detectors], timeout=10)
        except (GetTimeoutError, RayActorError):
            return self.detector_info


def scheduler_for_cluster(cfg: IngestConfig) -> Scheduler:
    """A Scheduler planned from the connected Ray cluster's nodes (ResourceError when no node fits)."""
    from dfprep.ingest.resources import cluster_nodes, make_plan

    return Scheduler(cfg, make_plan(cfg, cluster_nodes()))
