"""Ingest settings. Fields that change what is written form the fingerprint that guards resuming."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from dfprep.faces.params import FaceParams

# Settings that only change how the work is scheduled, never what is written.
SCHEDULING = {"num_cpus", "address", "timeout_s", "retries", "detectors", "gpus_per_detector",
              "workers", "det_batch", "det_cross_video", "decode_threads", "decoder", "progress", "detector_resource"}


@dataclass
class IngestConfig:
    parts: str | None = None            # '0,3-5'; None = all
    frames: int = 32                    # sampled frames per video
    decoder: str = "pyav-nonref"        # pyav-nonref | pyav | decord (pyav is also the fallback)
    decode_threads: int = 1
    faces: bool = True                  # False: probe + decode only
    detector: str = "mtcnn"             # mtcnn | dlib
    det_size: int = 960
    min_face_size: int = 40             # in detection-copy pixels (MTCNN pyramid floor)
    threshold: float | None = None      # None: the detector's default (mtcnn 0.95, dlib 0.5)
    max_faces: int = 2
    margin: float = 0.3
    crop_size: int = 224
    jpeg_quality: int = 95
    track_iou: float = 0.2
    boxes_from_original: bool = False
    identity: bool = True               # a 128-d face embedding per track (dfprep.faces.identity)
    batch_videos: int = 16              # videos per output file
    # scheduling
    num_cpus: int | None = None
    address: str | None = None
    workers: int | None = None          # decode workers; None = CPUs left after detectors
    detectors: int | None = None        # detector actors; None = one per GPU slot, or 1 on CPU
    gpus_per_detector: float | None = None  # None = 1 if the cluster has GPUs, else 0 (CPU)
    detector_resource: str | None = None    # custom Ray resource that detector actors require
    det_batch: int = 64                 # max frames per detector forward pass
    det_cross_video: bool | None = None # batch frames of several videos together; None = on GPU only
    timeout_s: float = 300.0            # per video, decode + faces
    retries: int = 1                    # re-runs of a video whose worker process died
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def face_params(self) -> FaceParams:
        from dfprep.faces.detectors import DETECTORS

        thr = self.threshold if self.threshold is not None else DETECTORS[self.detector].default_threshold
        return FaceParams(det_size=self.det_size, threshold=thr, max_faces=self.max_faces, margin=self.margin,
                          crop_size=self.crop_size, jpeg_quality=self.jpeg_quality, track_iou=self.track_iou)

    def output_settings(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in SCHEDULING and k != "extra"}
        d["threshold"] = self.face_params().threshold
        return d

    def fingerprint(self) -> str:
        blob = json.dumps(self.output_settings(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# The output settings that decide which faces are found in a frame and how each is cut (`IngestConfig` fields).
# A model scores crops like those it was trained on only when predict and explain cut with its ingest's values;
# frames (which frames are sampled) and the scheduling fields never change a frame's crops.
CROP_SETTINGS = ("detector", "det_size", "min_face_size", "threshold", "max_faces", "margin", "crop_size",
                 "jpeg_quality", "track_iou")

# The type of every key of `IngestConfig.output_settings()` (threshold resolved, so always a number).
_SETTING_KINDS = {"parts": str, "frames": int, "faces": bool, "detector": str, "det_size": int,
                  "min_face_size": int, "threshold": float, "max_faces": int, "margin": float, "crop_size": int,
                  "jpeg_quality": int, "track_iou": float, "boxes_from_original": bool, "batch_videos": int,
                  "identity": bool}


@dataclass(frozen=True)
class IngestSettings:
    """An ingest's output settings as recorded (`IngestConfig.output_settings()`): in WORK/run.json and
    _state.json, copied into SHARDS/index.json and RUN/config.json under `ingest.settings`."""
    parts: str | None
    frames: int
    faces: bool
    detector: str
    det_size: int
    min_face_size: int
    threshold: float
    max_faces: int
    margin: float
    crop_size: int
    jpeg_quality: int
    track_iou: float
    boxes_from_original: bool
    batch_videos: int
    identity: bool = False              # recorded since identity embeddings exist; older face stores have none

    @classmethod
    def from_fields(cls, f) -> "IngestSettings":
        """From a `dfprep.records.Fields` over the recorded object (every key but `parts` required)."""
        return cls(**{k: f.opt(k, kind) if k == "parts" else f.opt(k, kind, False) if k == "identity"
                      else f.need(k, kind) for k, kind in _SETTING_KINDS.items()})

    @classmethod
    def of(cls, cfg: IngestConfig) -> "IngestSettings":
        return cls(**cfg.output_settings())

    def as_dict(self) -> dict:
        return asdict(self)

    def crop(self) -> dict:
        """The CROP_SETTINGS: {name: value}."""
        return {k: getattr(self, k) for k in CROP_SETTINGS}


@dataclass(frozen=True)
class RecordedIngest:
    """The ingest a face store was made with, as the later stages record it: `{"settings": IngestSettings,
    "fingerprint": IngestConfig.fingerprint()}` under `ingest` in SHARDS/index.json and RUN/config.json."""
    settings: IngestSettings
    fingerprint: str

    @classmethod
    def from_fields(cls, f) -> "RecordedIngest":
        return cls(IngestSettings.from_fields(f.sub("settings")), f.need("fingerprint", str))

    def as_dict(self) -> dict:
        return {"settings": self.settings.as_dict(), "fingerprint": self.fingerprint}
