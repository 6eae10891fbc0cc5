"""The scheduler's decisions without Ray (`dfprep.ingest.scheduling`): which worker gets the next video, how many
a worker holds, a retry alone after a worker died, a neighbour's requeue, and what stops the run."""
from __future__ import annotations

import errno

from dfprep.dataset import VideoEntry
from dfprep.ingest.scheduling import Attempt, Dispatch, Failure, WorkerSlots, failure_kind, pick_worker, timed_out
from dfprep.ingest.tasks import VideoTask
from dfprep.storage import StorageError


def _tasks(n: int) -> list[VideoTask]:
    return [VideoTask(f"k{i}", VideoEntry(f"v{i}.mp4", 0), f"/j/{i}.arrow") for i in range(n)]


def _names(assigned) -> list[tuple[str, str]]:
    return [(a.task.entry.video, w.handle) for a, w in assigned]


def test_videos_spread_over_workers_before_doubling_up():
    w1, w2 = WorkerSlots("w1", 2), WorkerSlots("w2", 2)
    todo = Dispatch(_tasks(5), retries=1)
    got = _names(todo.assign([w1, w2]))
    assert got == [("v0.mp4", "w1"), ("v1.mp4", "w2"), ("v2.mp4", "w1"), ("v3.mp4", "w2")]
    assert (w1.free, w2.free) == (0, 0) and [a.task.key for a in todo.queue] == ["k4"]   # 2 in flight each
    assert todo.assign([w1, w2]) == []                                                  # none fits: it waits
    w2.give(False)
    assert _names(todo.assign([w1, w2])) == [("v4.mp4", "w2")] and not todo


def test_a_dead_worker_gets_nothing():
    w1, w2 = WorkerSlots("w1", 3), WorkerSlots("w2", 1)
    w1.dead = True
    assert pick_worker([w1, w2], alone=False) is w2
    w2.take(False)
    assert pick_worker([w1, w2], alone=False) is None


def test_a_retry_runs_alone_on_an_idle_worker_and_fails_for_good_after_the_last_attempt():
    w1, w2 = WorkerSlots("w1", 2), WorkerSlots("w2", 2)
    todo = Dispatch(_tasks(2), retries=1)
    (a0, on0), (a1, on1) = todo.assign([w1, w2])
    assert (on0, on1) == (w1, w2)
    # w1 died holding v0: v0 is queued again, to run alone
    assert todo.failed(a0, "worker process died") is None
    retry = todo.queue[0]
    assert retry == Attempt(a0.task, attempt=1, alone=True)
    w1.dead = True
    assert todo.assign([w1, w2]) == []              # w2 holds v1: not idle, so the retry waits
    on1.give(False)
    (r, w), = todo.assign([w1, w2])
    assert r is retry and w is w2 and w2.free == 0  # alone: it takes every slot of its worker
    assert todo.failed(r, "worker process died") == "worker process died (after 2 attempts)"
    assert not todo
    w2.give(True)
    assert w2.free == w2.slots


def test_no_retries_fails_at_once():
    todo = Dispatch(_tasks(1), retries=0)
    (a, _), = todo.assign([WorkerSlots("w", 1)])
    assert todo.failed(a, "ValueError: bad") == "ValueError: bad (after 1 attempts)" and not todo


def test_a_neighbour_of_a_timed_out_video_is_requeued_first_as_it_was():
    todo = Dispatch(_tasks(3), retries=2)
    w = WorkerSlots("w", 2)
    (a0, _), (a1, _) = todo.assign([w])
    todo.failed(a0, "worker process died")          # v0: a retry at the back
    todo.requeue(a1)                                # v1's worker was killed for another video: not its fault
    assert [(q.task.key, q.attempt, q.alone) for q in todo.queue] == [("k1", 0, False), ("k2", 0, False),
                                                                       ("k0", 1, True)]


def test_what_stops_the_run():
    assert failure_kind(OSError(errno.ENOSPC, "No space left on device")) is Failure.ABORT
    assert failure_kind(OSError(errno.EROFS, "Read-only file system")) is Failure.ABORT
    assert failure_kind(StorageError("s3://b/k: connection refused")) is Failure.STORE
    assert failure_kind(OSError(errno.ENOENT, "No such file")) is Failure.VIDEO
    assert failure_kind(ValueError("moov atom not found")) is Failure.VIDEO


def test_time_limit():
    assert not timed_out(10.0, 15.0, 5.0) and timed_out(10.0, 15.5, 5.0)
