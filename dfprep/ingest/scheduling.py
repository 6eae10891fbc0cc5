"""The scheduler's decisions, without Ray: which worker gets the next video, how many a worker holds, what is
retried (alone, after a worker died) and what stops the run. `dfprep.ingest.scheduler` drives them with Ray
actors; a unit test drives them with plain objects."""
from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from dfprep.ingest.tasks import VideoTask
from dfprep.storage import StorageError

FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}    # the disk cannot take outputs: no video can succeed


class WorkerSlots:
    """A worker's capacity: it holds up to `slots` videos at once; a video run alone takes every slot."""

    def __init__(self, handle, slots: int):
        self.handle, self.slots, self.free, self.dead = handle, slots, slots, False

    def fits(self, alone: bool) -> bool:
        return not self.dead and self.free > 0 and (not alone or self.free == self.slots)

    def take(self, alone: bool) -> None:
        self.free -= self.slots if alone else 1

    def give(self, alone: bool) -> None:
        self.free += self.slots if alone else 1


def pick_worker(workers: Iterable[WorkerSlots], alone: bool) -> WorkerSlots | None:
    """The live worker with the most free slots (spreads videos before doubling up; the first on a tie); None if
    none fits (`alone`: only an idle worker fits)."""
    best = None
    for w in workers:
        if w.fits(alone) and (best is None or w.free > best.free):
            best = w
    return best


@dataclass(frozen=True)
class Attempt:
    """One try of a task: `attempt` counts from 0; a retry after a failure runs `alone` on its worker."""
    task: VideoTask
    attempt: int = 0
    alone: bool = False


class Dispatch:
    """The videos still to run, in order, and what becomes of one that failed."""

    def __init__(self, tasks: Iterable[VideoTask], retries: int):
        self.queue: deque[Attempt] = deque(Attempt(t) for t in tasks)
        self.retries = retries

    def __bool__(self) -> bool:
        return bool(self.queue)

    def assign(self, workers: list[WorkerSlots]) -> list[tuple[Attempt, WorkerSlots]]:
        """Hand queued videos, head first, to the workers with free slots until the head fits none (taking the
        slots)."""
        out = []
        while self.queue:
            w = pick_worker(workers, self.queue[0].alone)
            if w is None:
                break
            a = self.queue.popleft()
            w.take(a.alone)
            out.append((a, w))
        return out

    def failed(self, a: Attempt, reason: str) -> str | None:
        """A try that failed (its worker died, or the task raised): queue a retry to run alone, or, with no
        retry left, return the video's final reason."""
        if a.attempt < self.retries:
            self.queue.append(Attempt(a.task, a.attempt + 1, True))
            return None
        return f"{reason} (after {a.attempt + 1} attempts)"

    def requeue(self, a: Attempt) -> None:
        """A try lost through no fault of its own (a neighbour on its worker timed out): first in line again,
        as it was."""
        self.queue.appendleft(Attempt(a.task, a.attempt, False))


class Failure(str, Enum):
    """What a task's exception means."""
    VIDEO = "video"     # this video's failure: retried, then an error row
    ABORT = "abort"     # the run's: outputs cannot be written (disk full, read-only); stop
    STORE = "store"     # the store failed, not the video: stop, resumable


def failure_kind(cause: BaseException) -> Failure:
    if isinstance(cause, OSError) and cause.errno in FATAL_ERRNOS:
        return Failure.ABORT
    if isinstance(cause, StorageError):
        return Failure.STORE
    return Failure.VIDEO


def timed_out(start: float, now: float, timeout_s: float) -> bool:
    """Has a video started at `start` run past the time limit at `now` (monotonic seconds)?"""
    return now - start > timeout_s
