"""Ray wrapper of ingest: one video at a time per worker actor, under a time limit, with retries.

Why actors rather than Ray Data: a video's frames must stay in the process that decoded them (only the
detection copies travel), a hung decoder must be killable per video, and a dead worker must be told apart
from a bad file. Memory stays bounded: at most one video per worker is in flight, and results go straight
to the journal on disk, never through the driver.
"""
from __future__ import annotations

import errno
import time
from collections import Counter, deque
from dataclasses import asdict
from typing import Callable, Iterable

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from dfprep.faces.actor import DetectorActor
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.worker import VideoWorker


class IngestAbort(Exception):
    """A failure of the run, not of one video (the disk is full, no worker can be placed)."""


FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
ONEDNN_CACHE = 64


def plan_resources(cfg: IngestConfig) -> dict:
    """How many detectors and workers, and what each asks Ray for."""
    res = ray.cluster_resources()
    cpus, gpus = res.get("CPU", 1.0), res.get("GPU", 0.0)
    gpd = cfg.gpus_per_detector if cfg.gpus_per_detector is not None else (1.0 if gpus > 0 else 0.0)
    if not cfg.faces:
        n_det = 0
    elif cfg.detectors is not None:
        n_det = cfg.detectors
    elif gpd > 0:
        n_det = max(1, int(gpus / gpd))
    else:
        n_det = 1
    det_cpus = 1.0 if gpd == 0 else 0.5
    det_opts = {"num_cpus": det_cpus, "num_gpus": gpd, "max_restarts": -1, "max_task_retries": -1,
                "max_concurrency": 1000}
    if gpd == 0:
        # Every video hands MTCNN's RNet/ONet a new number of candidate boxes, and oneDNN caches a compiled
        # primitive per shape (1024 by default): on CPU that cache grew the detector by ~0.6 GB over 500 videos.
        det_opts["runtime_env"] = {"env_vars": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": str(ONEDNN_CACHE),
                                                "OMP_NUM_THREADS": "1"}}
    if cfg.detector_resource:
        det_opts["resources"] = {cfg.detector_resource: 0.001}
    free = cpus - n_det * det_cpus
    n_workers = cfg.workers or max(1, int(free))
    return {"detectors": n_det, "detector_options": det_opts, "workers": n_workers,
            "device": "cuda" if gpd > 0 else "cpu", "cluster": {k: v for k, v in res.items()
                                                               if not k.startswith(("node:", "memory",
                                                                                    "object_store"))}}


class Scheduler:
    def __init__(self, cfg: IngestConfig):
        self.cfg = cfg
        self.plan = plan_resources(cfg)
        kwargs = {"min_face_size": cfg.min_face_size, "device": self.plan["device"]}
        if cfg.detector == "dlib":
            kwargs = {}
        elif self.plan["device"] == "cpu":
            kwargs["threads"] = int(self.plan["detector_options"]["num_cpus"]) or 1
        cross = cfg.det_cross_video if cfg.det_cross_video is not None else self.plan["device"] == "cuda"
        self.plan["det_cross_video"] = cross
        self.detectors = [DetectorActor.options(**self.plan["detector_options"]).remote(
            cfg.detector, kwargs, cfg.det_batch, cross_video=cross) for _ in range(self.plan["detectors"])]
        self.cfg_dict = asdict(cfg)
        self.local_detector = cfg.faces and not self.detectors
        self.idle: deque = deque()
        self.starting: dict = {}  # ready() ref -> worker not yet placed
        for _ in range(self.plan["workers"]):
            self._add_worker()
        self._collect_started(timeout=600)
        self.detector_info = ray.get([d.info.remote() for d in self.detectors])
        self.rr = 0
        self.restarts = 0
        self.videos_per_node: Counter = Counter()

    def _add_worker(self) -> None:
        w = self._new_worker()
        self.starting[w.ready.remote()] = w

    def _collect_started(self, timeout: float = 0.0) -> None:
        """Move workers whose actor has started into the idle pool (a worker on a lost node never does)."""
        if not self.starting:
            return
        ready, _ = ray.wait(list(self.starting), num_returns=len(self.starting) if timeout else 1,
                            timeout=timeout)
        for ref in ready:
            w = self.starting.pop(ref)
            try:
                ray.get(ref)
                self.idle.append(w)
            except RayActorError:
                self._add_worker()

    def _new_worker(self):
        return VideoWorker.options(num_cpus=1, max_restarts=0).remote(self.cfg_dict, self.local_detector)

    def _next_detector(self):
        if not self.detectors:
            return None
        self.rr = (self.rr + 1) % len(self.detectors)
        return self.detectors[self.rr]

    def run(self, tasks: Iterable[tuple], on_result: Callable[[tuple, dict], None],
            on_failure: Callable[[tuple, str], None]) -> None:
        """tasks: (key, entry, journal_path, original_faces). Calls on_result(task, summary) as videos end,
        or on_failure(task, reason) when a video timed out or its worker died on every attempt."""
        queue = deque((t, 0) for t in tasks)
        inflight: dict = {}  # ref -> (task, attempt, worker, start)
        starved_since = None
        while queue or inflight:
            self._collect_started()
            if queue and not inflight and not self.idle:
                starved_since = starved_since or time.monotonic()
                if time.monotonic() - starved_since > self.cfg.timeout_s:
                    raise IngestAbort(f"no decode worker could be placed for {self.cfg.timeout_s:g} s "
                                      f"(cluster resources now: {ray.cluster_resources()})")
                time.sleep(0.2)
                continue
            starved_since = None
            while queue and self.idle:
                task, attempt = queue.popleft()
                worker = self.idle.popleft()
                ref = worker.run.remote(task[1], task[2], self._next_detector(), task[3])
                inflight[ref] = (task, attempt, worker, time.monotonic())
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
            for ref in ready:
                task, attempt, worker, _ = inflight.pop(ref)
                try:
                    summary = ray.get(ref)
                except RayActorError as exc:  # the worker process died: crash, kill -9, or its node went away
                    self._replace(worker)
                    self._retry_or_fail(queue, task, attempt, on_failure,
                                        f"worker process died while processing this video ({type(exc).__name__})")
                    continue
                except RayTaskError as exc:
                    self.idle.append(worker)
                    cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                    if isinstance(cause, OSError) and cause.errno in FATAL_ERRNOS:
                        raise IngestAbort(f"cannot write outputs: {cause}") from None
                    self._retry_or_fail(queue, task, attempt, on_failure,
                                        f"{type(cause).__name__}: {str(cause).splitlines()[0][:300]}")
                    continue
                self.idle.append(worker)
                self.videos_per_node[summary.get("node_id", "?")] += 1
                on_result(task, summary)
            now = time.monotonic()
            for ref, (task, attempt, worker, start) in list(inflight.items()):
                if now - start > self.cfg.timeout_s:
                    del inflight[ref]
                    ray.kill(worker, no_restart=True)
                    self._replace(worker, killed=True)
                    on_failure(task, f"timed out after {self.cfg.timeout_s:g} s (decoder hung?); worker killed")

    def _replace(self, worker, killed: bool = False) -> None:
        if not killed:
            try:
                ray.kill(worker, no_restart=True)
            except Exception:
                pass
        self.restarts += 1
        self._add_worker()

    def _retry_or_fail(self, queue, task, attempt, on_failure, reason: str) -> None:
        if attempt < self.cfg.retries:
            queue.append((task, attempt + 1))
        else:
            on_failure(task, f"{reason} (after {attempt + 1} attempts)")

    def stats(self) -> list[dict]:
        try:
            return ray.get([d.info.remote() for d in self.detectors], timeout=10)
        except (GetTimeoutError, RayActorError):
            return self.detector_info
