"""How an ingest uses the machine: worker and detector counts, what each asks Ray for, videos in flight.

A plain function of the settings and the cluster's nodes (no Ray here), so every resource shape can be
unit-tested: 1 CPU, 2 CPUs, 16 CPUs + 1 GPU, CPU-only clusters, and requests no node can ever satisfy.

The rules, and why:
- **No GPU: detection runs inside each decode worker** (one worker per CPU, one torch thread each). Each
  video is decoded, detected and cropped in the process that holds its frames, and the workers run side by
  side, so while one worker detects, another decodes: every core is busy and no bytes cross processes. A
  separate CPU detector actor would leave half a 2-core machine idle whenever the one waits on the other.
- **GPU (or `--detectors N`): detector actors, two videos in flight per worker.** Workers send detection
  copies to the actors and, while one video waits for its boxes, decode the next, so neither the GPU nor
  the worker's core waits on the other.
- **One torch thread per CPU detector**, always: MTCNN's boxes then do not depend on the machine, so
  outputs are byte-identical on any resource shape.
- A request that no node of the cluster can ever satisfy is refused at once with the missing resource
  named, instead of waiting forever for a placement.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from dfprep.ingest.config import IngestConfig
from dfprep.ingest.discover import IngestUsageError


class ResourceError(IngestUsageError):
    """The settings ask for resources that no node of the cluster has."""


@dataclass
class IngestPlan:
    device: str                       # where detection runs: cpu | cuda
    detection: str                    # in-worker | actors | none
    detectors: int                    # detector actors (0 when detection is in-worker or off)
    detector_cpus: float
    detector_gpus: float
    detector_threads: int             # torch threads of a CPU detector (in-worker or actor)
    workers: int
    worker_cpus: float
    inflight_per_worker: int          # videos a worker holds at once
    det_cross_video: bool
    nodes: int
    cpus: float
    gpus: float
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.detection == "actors":
            det = (f"{self.detectors} detector actor(s) on {self.device} "
                   f"({self.detector_gpus:g} GPU, {self.detector_cpus:g} CPU each"
                   + (", cross-video batches" if self.det_cross_video else "") + ")")
        elif self.detection == "in-worker":
            det = f"detection inside each worker ({self.detector_threads} torch thread)"
        else:
            det = "no face detection"
        return (f"{self.workers} decode worker(s) x {self.inflight_per_worker} video(s) in flight "
                f"({self.worker_cpus:g} CPU each), {det}; cluster {self.nodes} node(s), "
                f"{self.cpus:g} CPU, {self.gpus:g} GPU")


def _need(node: dict, request: dict) -> dict:
    """What `node` lacks for `request` ({resource: amount}); empty when it fits."""
    return {k: v for k, v in request.items() if v > 0 and node.get(k, 0.0) + 1e-9 < v}


def _fits(node: dict, request: dict) -> int:
    """How many copies of `request` fit on `node`."""
    n = math.inf
    for k, v in request.items():
        if v > 0:
            n = min(n, math.floor(node.get(k, 0.0) / v + 1e-9))
    return 0 if n is math.inf else int(n)


def _missing(nodes: list[dict], request: dict, what: str, why: str) -> ResourceError:
    lacks = sorted({k for node in nodes for k in _need(node, request)})
    have = "; ".join(", ".join(f"{k} {v:g}" for k, v in sorted(n.items()) if k in ("CPU", "GPU") or k in request)
                     or "nothing" for n in nodes)
    return ResourceError(f"cannot place {what}: each asks for "
                         + ", ".join(f"{k} {v:g}" for k, v in request.items() if v > 0)
                         + f" ({why}) but no node of the cluster has {' and '.join(lacks)} enough "
                         f"(nodes: {have or 'none'})")


def make_plan(cfg: IngestConfig, nodes: list[dict]) -> IngestPlan:
    """nodes: each alive node's total resources ({"CPU": 16, "GPU": 1, "detector": 1, ...})."""
    cpus = float(sum(n.get("CPU", 0.0) for n in nodes))
    gpus = float(sum(n.get("GPU", 0.0) for n in nodes))
    if not nodes or cpus <= 0:
        raise ResourceError("cannot place a decode worker: the cluster offers no CPU "
                            f"({len(nodes)} node(s)); start Ray with CPUs (--num-cpus >= 1)")
    reasons: list[str] = []
    gpd = cfg.gpus_per_detector
    if gpd is None:
        gpd = 1.0 if (gpus > 0 and cfg.detector == "mtcnn" and cfg.detectors != 0) else 0.0
        if gpd:
            reasons.append("the cluster has GPUs: MTCNN runs there")
    if cfg.faces and gpd > 0 and cfg.detector != "mtcnn":
        raise IngestUsageError(f"--detector {cfg.detector} runs on CPU only; drop --gpus-per-detector")
    if cfg.faces and gpd > 0 and cfg.detectors == 0:
        raise IngestUsageError("--detectors 0 detects inside each worker on CPU; it cannot be combined "
                               "with --gpus-per-detector")
    remote = cfg.faces and (gpd > 0 or bool(cfg.detectors) or bool(cfg.detector_resource))
    common = dict(device="cuda" if (remote and gpd > 0) else "cpu", detector_threads=1, nodes=len(nodes),
                  cpus=cpus, gpus=gpus)

    if not remote:
        workers = cfg.workers or max(1, math.floor(cpus))
        worker_cpus = min(1.0, cpus / workers)
        if not cfg.faces:
            reasons.append("no face detection: one worker per CPU")
        else:
            reasons.append("no GPU detector: each worker decodes, detects and crops its own videos, one per "
                           "CPU, so the stages of different videos overlap on every core")
        if not any(_fits(n, {"CPU": worker_cpus}) for n in nodes):
            raise _missing(nodes, {"CPU": worker_cpus}, "a decode worker", "--workers")
        return IngestPlan(detection="in-worker" if cfg.faces else "none", detectors=0, detector_cpus=0.0,
                          detector_gpus=0.0, workers=workers, worker_cpus=worker_cpus, inflight_per_worker=1,
                          det_cross_video=False, reasons=reasons, **common)

    det_cpus = 1.0
    request = {"CPU": det_cpus, "GPU": gpd}
    if cfg.detector_resource:
        request[cfg.detector_resource] = 0.001
    capacity = sum(_fits(n, request) for n in nodes)
    if capacity == 0 and cpus < 2:
        # One CPU in all: the detector and a worker share it rather than the worker never being placed.
        det_cpus = request["CPU"] = cpus / 2
        capacity = sum(_fits(n, request) for n in nodes)
    if capacity == 0:
        why = (f"--gpus-per-detector {gpd:g}" if gpd > 0 else "a CPU detector") + \
              (f", --detector-resource {cfg.detector_resource}" if cfg.detector_resource else "")
        raise _missing(nodes, request, "a face detector", why)
    if cfg.detectors:
        if cfg.detectors > capacity:
            raise ResourceError(f"cannot place {cfg.detectors} face detectors: the cluster holds at most "
                                f"{capacity} of {request} at once")
        n_det = cfg.detectors
    else:
        n_det = capacity if gpd > 0 else 1
    left = cpus - n_det * det_cpus
    if left < 1.0 and left < cpus / 2:
        det_cpus = (cpus / 2) / n_det
        left = cpus - n_det * det_cpus
    workers = cfg.workers or max(1, math.floor(left))
    worker_cpus = min(1.0, left / workers)
    reasons.append(f"{n_det} detector actor(s); each worker keeps 2 videos in flight so it decodes one "
                   "while the detector works on the other")
    cross = cfg.det_cross_video if cfg.det_cross_video is not None else gpd > 0
    return IngestPlan(detection="actors", detectors=n_det, detector_cpus=det_cpus, detector_gpus=gpd,
                      workers=workers, worker_cpus=worker_cpus, inflight_per_worker=2, det_cross_video=cross,
                      reasons=reasons, **common)


def cluster_nodes() -> list[dict]:
    """Total resources of each alive node of the connected Ray cluster."""
    import ray

    return [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
