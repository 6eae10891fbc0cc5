"""Face detectors behind one signature, selected by name through `DETECTORS`.

    detector.detect(frames uint8 [N,H,W,3]) -> list of (boxes [k,4] x1y1x2y2, probs [k], landmarks [k,5,2] | None)

Coordinates are in the pixels of the frames given (the detection copies); callers map them back to source
pixels. All frames of one call share one size (MTCNN's batched pyramid requires it).
"""
from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from dfprep.device import pick_device

Detection = tuple[np.ndarray, np.ndarray, np.ndarray | None]

EMPTY_BOXES = np.zeros((0, 4), np.float32)
EMPTY_PROBS = np.zeros((0,), np.float32)


class Detector(Protocol):
    name: str
    default_threshold: float

    def detect(self, frames: np.ndarray) -> list[Detection]: ...


class MTCNNDetector:
    """facenet-pytorch MTCNN, batched. Its weights ship inside the wheel: nothing is downloaded."""

    name = "mtcnn"
    default_threshold = 0.95

    def __init__(self, device: str | None = None, min_face_size: int = 40, threads: int | None = None):
        import torch
        from facenet_pytorch import MTCNN

        self.device = str(pick_device(device))
        if threads and self.device == "cpu":
            torch.set_num_threads(threads)
        self.mtcnn = MTCNN(keep_all=True, device=self.device, min_face_size=min_face_size,
                           post_process=False, select_largest=False)

    def detect(self, frames: np.ndarray) -> list[Detection]:
        import torch

        if len(frames) == 0:
            return []
        batch = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device, non_blocking=True)
        with torch.inference_mode():
            boxes, probs, marks = self.mtcnn.detect(batch, landmarks=True)
        out: list[Detection] = []
        # numpy 2 hands back object arrays, and a frame with no face is None rather than an empty array.
        for b, p, m in zip(boxes, probs, marks):
            if b is None or p is None or (np.ndim(p) and p[0] is None):
                out.append((EMPTY_BOXES, EMPTY_PROBS, np.zeros((0, 5, 2), np.float32)))
                continue
            out.append((np.asarray(b, np.float32).reshape(-1, 4), np.asarray(p, np.float32).reshape(-1),
                        np.asarray(m, np.float32).reshape(-1, 5, 2)))
        return out


class DlibDetector:
    """dlib's HOG frontal detector on CPU. Its SVM score s is reported as prob = 1/(1+e^-s); no landmarks."""

    name = "dlib"
    default_threshold = 0.5  # score >= 0, dlib's own default decision boundary

    def __init__(self, upsample: int = 1, **_ignored):
        import dlib

        self.hog = dlib.get_frontal_face_detector()
        self.upsample = upsample

    def detect(self, frames: np.ndarray) -> list[Detection]:
        out: list[Detection] = []
        for frame in frames:
            rects, scores, _ = self.hog.run(np.ascontiguousarray(frame), self.upsample, -1.0)
            if not rects:
                out.append((EMPTY_BOXES, EMPTY_PROBS, None))
                continue
            boxes = np.array([[r.left(), r.top(), r.right() + 1, r.bottom() + 1] for r in rects], np.float32)
            probs = np.array([1.0 / (1.0 + math.exp(-s)) for s in scores], np.float32)
            out.append((boxes, probs, None))
        return out


DETECTORS: dict[str, type] = {"mtcnn": MTCNNDetector, "dlib": DlibDetector}


def make_detector(name: str, **kwargs) -> Detector:
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose from {sorted(DETECTORS)}")
    return DETECTORS[name](**kwargs)
