"""What the scheduler hands a worker and what comes back: one `VideoTask` per video, one `VideoResult` per
processed video. Shared by ingest and predict; plain data (no Ray), so it travels to a worker as it is."""
from __future__ import annotations

from dataclasses import dataclass, field

from dfprep.dataset import Status, VideoEntry


@dataclass(frozen=True)
class OriginalRef:
    """Where the REAL whose boxes cut a FAKE (--boxes-from-original) is stored: read by the worker from WORK."""
    work: str
    part: int
    batch: int
    video: str


@dataclass(frozen=True)
class VideoTask:
    """One video to process. `key` is what its result is filed under: the batch (`Batch.key`) in ingest, the
    file name in predict. The worker writes the result to `journal` (`dfprep.ingest.batches.write_journal`)."""
    key: str
    entry: VideoEntry
    journal: str
    original: OriginalRef | None = None


@dataclass(frozen=True)
class VideoResult:
    """What a worker returns for a processed video (a few hundred bytes; the row and faces are in its journal)."""
    video: str
    part: int | None
    status: Status
    error: str | None
    node_id: str
    worker: str
    n_faces: int = 0
    spans: dict = field(default_factory=dict)     # stage -> timings (`dfprep.ingest.timeline.StageClock.spans`)
