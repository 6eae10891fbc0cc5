"""Ray actor around a detector: batches detection copies across frames and across videos.

Decode workers call `detect(small_frames)` concurrently; the actor queues the requests, groups those of
one frame size (MTCNN's batched pyramid needs one size) up to `max_batch` frames, runs one forward pass in
a worker thread and hands each caller its slice of boxes. Only small copies and boxes cross the wire.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import ray

from dfprep.faces.detectors import make_detector


@ray.remote
class DetectorActor:
    def __init__(self, name: str, kwargs: dict, max_batch: int = 64, gather_s: float = 0.005,
                 cross_video: bool = True):
        self.det = make_detector(name, **kwargs)
        self.max_batch = max_batch
        # Mixing videos in one forward pass changes MTCNN's candidate batches, and with them the last bits
        # of a box (~1e-5 px). Off, each video is its own forward pass: outputs are bit-exact across runs.
        self.cross_video = cross_video
        self.gather_s = gather_s
        self.pending: list[tuple[np.ndarray, asyncio.Future]] = []
        self.drainer: asyncio.Task | None = None
        self.pool = ThreadPoolExecutor(1)
        self.stats = {"requests": 0, "batches": 0, "frames": 0, "busy_s": 0.0}

    def info(self) -> dict:
        import os
        import socket

        return {"device": getattr(self.det, "device", "cpu"), "detector": self.det.name,
                "host": socket.gethostname(), "node_id": ray.get_runtime_context().get_node_id(),
                "pid": os.getpid(), **self.stats}

    async def detect(self, frames: np.ndarray) -> list:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((frames, fut))
        self.stats["requests"] += 1
        if self.drainer is None or self.drainer.done():
            self.drainer = asyncio.ensure_future(self._drain())
        return await fut

    def _take_group(self) -> list:
        shape = self.pending[0][0].shape[1:]
        group, rest, n = [], [], 0
        for item in self.pending:
            if not self.cross_video and group:
                rest.append(item)
            elif item[0].shape[1:] == shape and (not group or n + len(item[0]) <= self.max_batch):
                group.append(item)
                n += len(item[0])
            else:
                rest.append(item)
        self.pending = rest
        return group

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            await asyncio.sleep(self.gather_s)  # let concurrent callers join this batch
            group = self._take_group()
            batch = group[0][0] if len(group) == 1 else np.concatenate([g[0] for g in group])
            t0 = time.perf_counter()
            try:
                res = await loop.run_in_executor(self.pool, self.det.detect, batch)
            except Exception as exc:  # a detector failure is every caller's error, never a silent empty
                for _, fut in group:
                    fut.set_exception(exc)
                continue
            self.stats["batches"] += 1
            self.stats["frames"] += len(batch)
            self.stats["busy_s"] += time.perf_counter() - t0
            i = 0
            for frames, fut in group:
                fut.set_result(res[i:i + len(frames)])
                i += len(frames)
