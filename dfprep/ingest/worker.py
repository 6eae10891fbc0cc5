"""Ray actor that runs the plain per-video core where the frames were decoded, and journals the result.

Full-resolution frames stay in this process. With detection in-worker (no GPU) it detects on its own
thread; with detector actors it sends them only the detection copies and, holding up to
`inflight_per_worker` videos (a threaded actor), decodes the next video while one waits for its boxes.
The driver receives a few hundred bytes per video: status, counts and stage timings.
"""
from __future__ import annotations

import ray

from dfprep.dataset import Status, VideoEntry
from dfprep.faults import maybe_inject
from dfprep.formats.work.batches import write_journal
from dfprep.ingest.batches import stored_frame_faces
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.tasks import OriginalRef, VideoResult
from dfprep.ingest.timeline import StageClock
from dfprep.ingest.video import process_video
from dfprep.storage import as_path


@ray.remote
class VideoWorker:
    def __init__(self, cfg: dict, local_detector: bool = False, threads: int = 1, inflight: int = 1):
        self.cfg = IngestConfig(**cfg)
        self.inflight = inflight
        self.local = None
        if local_detector and self.cfg.faces:
            from dfprep.faces.detectors import make_detector

            kwargs = {} if self.cfg.detector == "dlib" else {"min_face_size": self.cfg.min_face_size,
                                                              "threads": threads, "device": "cpu"}
            self.local = make_detector(self.cfg.detector, **kwargs)
        self.embed = None
        if self.cfg.faces and self.cfg.identity:    # dlib's models, loaded once per worker process
            from dfprep.faces.identity import IdentityEncoder

            self.embed = IdentityEncoder()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.name = f"{self.node_id[:8]}:{__import__('os').getpid()}"

    def ready(self) -> str:
        return self.name

    def run(self, entry: VideoEntry, journal: str, detector=None, original: OriginalRef | None = None) -> VideoResult:
        """Process one video (a `VideoTask`'s fields) and journal it; `original`: the REAL whose boxes cut this
        FAKE, read from disk."""
        if self.local is not None:
            detect = self.local.detect
        elif detector is not None:
            def detect(small):
                return ray.get(detector.detect.remote(small))
        else:
            detect = None
        maybe_inject(entry.video)
        original_faces = (stored_frame_faces(as_path(original.work), original.part, original.batch, original.video)
                          if original else None)
        clock = StageClock(whole_process=self.inflight == 1)
        row, faces, _ = process_video(entry, self.cfg, detect, original_faces, clock=clock, embed=self.embed)
        with clock.stage("write"):
            write_journal(as_path(journal), row, faces)     # a failing store: StorageError, the run's
        return VideoResult(entry.video, entry.part, Status(row["status"]), row["error"], self.node_id, self.name,
                           row["n_faces"] or 0, clock.spans)
