"""Ingest settings. Fields that change what is written form the fingerprint that guards resuming."""
from __future__ import annotations

import hashlib
import json
import types
import typing
from dataclasses import MISSING, asdict, dataclass, fields

from dfprep.faces.params import FaceParams
from dfprep.options import check_declared, opt

_FACE = FaceParams()        # the crop geometry's defaults are FaceParams'; IngestConfig declares them as options


def _decoders() -> tuple[str, ...]:
    from dfprep.ingest.decode import DECODERS      # PyAV: imported when a decoder name is checked, not at --help

    return tuple(DECODERS)


def _detectors() -> tuple[str, ...]:
    from dfprep.faces.detectors import DETECTORS

    return tuple(DETECTORS)


def _layouts() -> tuple[str, ...]:
    from dfprep.datasets.registry import layout_names

    return layout_names()


# What is read, not how: like `parts`, a WORK grows by datasets and compression levels under one fingerprint.
SELECTION = {"dataset", "compression", "ffpp_splits"}
# Settings that only change how the work is scheduled, never what is written.
SCHEDULING = {"num_cpus", "address", "timeout_s", "retries", "detectors", "gpus_per_detector",
              "workers", "det_batch", "det_cross_video", "decode_threads", "decoder", "progress", "detector_resource"}


@dataclass
class IngestConfig:
    """Every ingest setting, with its CLI help (the `dfprep ingest` options are derived from these fields)."""
    dataset: str = opt("auto", "Layout of each ROOT: auto (recognised from its files, and said) or a name: "
                               "dfdc, ffpp, celebdf, deeperforensics, uadfv, fakeavceleb, images, manifest...",
                        choices=_layouts)
    compression: str | None = opt(None, "FaceForensics++/DFD level to read: raw, c23 or c40 (default: every "
                                        "level present).", choices=("raw", "c23", "c40"))
    ffpp_splits: str | None = opt(None, "FaceForensics++ official split and conversion_dict from your copy of "
                                        "the FaceForensics repository (its folder; default: the copy shipped "
                                        "with dfprep, MIT).")
    parts: str | None = opt(None, "DFDC parts to ingest, e.g. 0,3-5 (default: all).")
    frames: int = opt(32, "Frames sampled per video, evenly spaced.", min=1)
    decoder: str = opt("pyav-nonref", "pyav-nonref (PyAV, skips unsampled non-reference frames; bit-identical), "
                                      "pyav or decord. pyav is also the fallback.", choices=_decoders)
    decode_threads: int = opt(1, "Decoder threads per video.", min=1)
    faces: bool = opt(True, "Detect and crop faces (else probe and decode only).")
    detector: str = opt("mtcnn", "mtcnn (facenet-pytorch, GPU if any) or dlib (HOG, CPU).", choices=_detectors)
    det_size: int = opt(_FACE.det_size, "Longest side of the detection copy, px.", min=1)
    min_face_size: int = opt(40, "Smallest face searched, in detection-copy px (MTCNN's pyramid floor).", min=1)
    threshold: float | None = opt(None, "Min face confidence (default mtcnn 0.95, dlib 0.5).", min=0, max=1)
    max_faces: int = opt(_FACE.max_faces, "Faces kept per frame, most confident first.", min=1)
    margin: float = opt(_FACE.margin, "Crop margin, fraction of the box on each side.", min=0)
    crop_size: int = opt(_FACE.crop_size, "Square crop side, px.", min=1)
    jpeg_quality: int = opt(_FACE.jpeg_quality, "JPEG quality of the crops.", min=1, max=100)
    track_iou: float = opt(_FACE.track_iou, "Min IoU that links a face to a track across sampled frames.",
                           min=0, max=1)
    boxes_from_original: bool = opt(False, "Cut FAKE crops at their original's boxes.")
    identity: bool = opt(True, "A 128-d face embedding per track (dlib ResNet), for identity-aware splits.")
    batch_videos: int = opt(16, "Videos per output file.", min=1)
    max_pixels: int = opt(3840 * 2160, "Largest frame (width x height) decoded; DFDC is at most 4K (3840x2160). "
                                       "A larger video is that video's error, found at probe before any decoding "
                                       "(a tiny file can hold huge frames).", min=1)
    follow_symlinks: bool = opt(False, "Follow part folders, metadata.json files and videos that are symlinks "
                                       "leading out of ROOT (default: rejected, the target named).")
    # scheduling
    num_cpus: int | None = opt(None, "CPUs for the embedded local Ray.")
    address: str | None = opt(None, "Existing Ray cluster address.", envvar="RAY_ADDRESS")
    workers: int | None = opt(None, "Decode workers (default: one per CPU left after detectors).")
    detectors: int | None = opt(None, "Detector actors (default: one per GPU share; 0 or none on CPU: detection "
                                      "inside each worker).")
    gpus_per_detector: float | None = opt(None, "GPU share per detector, e.g. 0.25 (default 1 when the cluster "
                                                "has GPUs).")
    detector_resource: str | None = opt(None, "Custom Ray resource that detector actors require.")
    det_batch: int = opt(64, "Max frames per detector forward pass.", min=1)
    det_cross_video: bool | None = opt(None, "Batch frames of several videos per detector pass (default: on GPU; "
                                             "off on CPU, bit-exact).")
    timeout_s: float = opt(300.0, "Time limit per video, seconds.", flag="--timeout", min=0, min_open=True)
    retries: int = opt(1, "Re-runs of a video whose worker process died.")
    progress: bool = opt(True, "Progress bar.")
    extra: dict = opt(None, "", cli=False, factory=dict)

    def validate(self) -> None:
        """Check every named choice and range before any work, so a typo is one usage line (exit 2): those
        declared beside each field (which the CLI checks itself), then the parts selection."""
        from dfprep.ingest.discover import IngestUsageError, parse_parts

        check_declared(self, IngestUsageError)
        parse_parts(self.parts)

    def face_params(self) -> FaceParams:
        """The FaceParams fields of this config, the threshold resolved to the detector's default if unset."""
        from dfprep.faces.detectors import DETECTORS

        thr = self.threshold if self.threshold is not None else DETECTORS[self.detector].default_threshold
        return FaceParams(**{f.name: getattr(self, f.name) for f in fields(FaceParams)} | {"threshold": thr})

    def output_settings(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in SCHEDULING | SELECTION and k != "extra"}
        d["threshold"] = self.face_params().threshold
        return d

    def fingerprint(self) -> str:
        # settings added after fingerprints were first recorded are left out at their default, so a WORK (and
        # the shards and runs recording its fingerprint) made before they existed still matches
        # `parts` is the selection, not a setting: a WORK grows by parts under one fingerprint
        blob = json.dumps({k: v for k, v in self.output_settings().items()
                           if k != "parts" and not (k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k])},
                          sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# Output settings added after fingerprints were first recorded, at IngestConfig's defaults.
_LATER_DEFAULTS = {k: IngestConfig.__dataclass_fields__[k].default for k in ("max_pixels", "follow_symlinks")}

# The output settings that decide which faces are found in a frame and how each is cut, in IngestConfig's
# order: the detector and its pyramid floor, then every FaceParams field. A model scores crops like those it
# was trained on only when predict and explain cut with its ingest's values; frames (which frames are sampled)
# and the scheduling fields never change a frame's crops.
_DETECTOR_SETTINGS = ("detector", "min_face_size")
CROP_SETTINGS = tuple(f.name for f in fields(IngestConfig)
                      if f.name in _DETECTOR_SETTINGS or f.name in FaceParams.__dataclass_fields__)

_RUNS = "(default: the run's, recorded from its ingest; a different value is refused)"


@dataclass
class CropOverrides:
    """Crop settings a user may give `dfprep predict` / `explain`: None takes the run's (they must match it)."""
    detector: str | None = opt(None, f"mtcnn or dlib {_RUNS}.", choices=_detectors)
    det_size: int | None = opt(None, f"Longest side of the face-detection copy, px {_RUNS}.", min=1)
    min_face_size: int | None = opt(None, f"Smallest face searched {_RUNS}.", min=1)
    threshold: float | None = opt(None, f"Min face confidence {_RUNS}.", min=0, max=1)
    max_faces: int | None = opt(None, f"Faces kept per frame {_RUNS}.", min=1)
    margin: float | None = opt(None, f"Crop margin {_RUNS}.", min=0)
    crop_size: int | None = opt(None, f"Square crop side, px {_RUNS}.", min=1)

    def forced(self) -> tuple[int | None, str | None, dict]:
        """(det_size, detector, {other setting: value}) of what was given on the command line."""
        given = {f.name: getattr(self, f.name) for f in fields(CropOverrides) if getattr(self, f.name) is not None}
        return given.pop("det_size", None), given.pop("detector", None), given


def _kind(tp) -> tuple[type, bool]:
    """(the type a recorded value must have, whether it may be null) of a field annotation such as `str | None`."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


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
    max_pixels: int = _LATER_DEFAULTS["max_pixels"]               # recorded since they exist; older: the default
    follow_symlinks: bool = _LATER_DEFAULTS["follow_symlinks"]

    @classmethod
    def from_fields(cls, f) -> "IngestSettings":
        """From a `dfprep.records.Fields` over the recorded object: each key of the type its field declares; a
        field that may be None (`parts`) or has a default (settings older files lack) is optional."""
        hints = typing.get_type_hints(cls)
        values = {}
        for fld in fields(cls):
            kind, nullable = _kind(hints[fld.name])
            values[fld.name] = (f.opt(fld.name, kind) if nullable
                                else f.opt(fld.name, kind, fld.default) if fld.default is not MISSING
                                else f.need(fld.name, kind))
        return cls(**values)

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
