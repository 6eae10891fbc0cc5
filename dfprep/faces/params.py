"""Crop settings and per-frame faces: plain data, importable without torch (the ingest driver needs them)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FaceParams:
    """How faces are chosen in a frame and cut: the crop geometry, and its defaults' one source (IngestConfig
    declares these fields as options, CROP_SETTINGS lists them with the detector's)."""
    det_size: int = 960
    threshold: float = 0.95
    max_faces: int = 2
    margin: float = 0.3
    crop_size: int = 224
    jpeg_quality: int = 95
    track_iou: float = 0.2


@dataclass
class FrameFaces:
    """Faces of one sampled frame in source pixels."""
    boxes: np.ndarray              # [k,4] float32
    probs: np.ndarray              # [k]
    landmarks: np.ndarray | None   # [k,5,2] or None
    track_ids: np.ndarray | None = None
