"""Ray actor that runs the plain per-video core where the frames were decoded, and journals the result.

Full-resolution frames stay in this process; it sends the detector only the detection copies and writes
the crops itself, so the driver receives a few hundred bytes per video.
"""
from __future__ import annotations

from pathlib import Path

import ray

from dfprep.faults import maybe_inject
from dfprep.ingest.batches import write_journal
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.video import process_video


@ray.remote
class VideoWorker:
    def __init__(self, cfg: dict, local_detector: bool = False):
        self.cfg = IngestConfig(**cfg)
        self.local = None
        if local_detector and self.cfg.faces:
            from dfprep.faces.detectors import make_detector

            self.local = make_detector(self.cfg.detector, min_face_size=self.cfg.min_face_size, threads=1)

    def ready(self) -> bool:
        return True

    def run(self, entry: dict, journal: str, detector=None, original_faces=None) -> dict:
        if self.local is not None:
            detect = self.local.detect
        elif detector is not None:
            def detect(small):
                return ray.get(detector.detect.remote(small))
        else:
            detect = None
        maybe_inject(entry["video"])
        row, faces, frame_faces = process_video(entry, self.cfg, detect, original_faces)
        write_journal(Path(journal), row, faces)
        return {"video": entry["video"], "part": entry["part"], "status": row["status"], "error": row["error"],
                "node_id": ray.get_runtime_context().get_node_id(),
                "n_faces": row["n_faces"] or 0, "frame_faces": frame_faces if entry["label"] == "REAL" else None}
