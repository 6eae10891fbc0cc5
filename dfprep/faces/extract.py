"""Plain core of the face stage: full-resolution frames + a detect function -> face-store rows.

The full frames never leave this function's process: only the small detection copies go to `detect`
(which may be a remote GPU actor), and only boxes come back.
"""
from __future__ import annotations

from typing import Callable

import imagehash
import numpy as np
from PIL import Image

from dfprep.faces.detectors import Detection
from dfprep.faces.params import FaceParams, FrameFaces
from dfprep.faces.geometry import det_scale, detection_copies, encode_jpeg, square_crop, to_source
from dfprep.faces.tracks import link_tracks


def phash_int(img: Image.Image) -> int:
    return int(str(imagehash.phash(img)), 16)


def select(det: Detection, threshold: float, max_faces: int) -> Detection:
    """Drop boxes under the threshold, keep the `max_faces` most confident (ties: larger box first)."""
    boxes, probs, marks = det
    keep = np.flatnonzero(probs >= threshold)
    if len(keep) > max_faces:
        area = (boxes[keep, 2] - boxes[keep, 0]) * (boxes[keep, 3] - boxes[keep, 1])
        order = np.lexsort((-area, -probs[keep]))
        keep = np.sort(keep[order[:max_faces]])
    return boxes[keep], probs[keep], (marks[keep] if marks is not None else None)


def detect_faces(frames: np.ndarray, detect: Callable[[np.ndarray], list[Detection]],
                 p: FaceParams) -> tuple[list[FrameFaces], np.ndarray]:
    """Detect on downscaled copies; return faces in source pixels (linked into tracks) and the copies."""
    n, h, w, _ = frames.shape
    scale = det_scale(h, w, p.det_size)
    small = detection_copies(frames, scale)
    sy, sx = h / small.shape[1], w / small.shape[2]
    out: list[FrameFaces] = []
    for det in detect(small):
        boxes, probs, marks = select(det, p.threshold, p.max_faces)
        src = to_source(boxes, sx, sy, h, w)
        src_marks = marks * np.array([sx, sy], np.float32) if marks is not None else None
        out.append(FrameFaces(src, probs.astype(np.float32), src_marks))
    ids = link_tracks([f.boxes for f in out], p.track_iou)
    for f, t in zip(out, ids):
        f.track_ids = t
    return out, small


def crop_faces(frames: np.ndarray, small: np.ndarray, frame_idx: np.ndarray, faces: list[FrameFaces],
               p: FaceParams, meta: dict) -> tuple[dict[str, list], list[int]]:
    """Cut, encode and hash every face; returns face-store columns and every sampled frame's phash. `meta` holds
    the video's own columns (video, part, label, original; dataset and method when it has them)."""
    own = [k for k in ("dataset", "video", "part", "label", "original", "method") if k in meta]
    cols: dict[str, list] = {k: [] for k in (*own, "frame_idx", "track_id",
                                             "prob", "x1", "y1", "x2", "y2", "landmarks", "jpeg",
                                             "phash", "frame_phash")}
    frame_hashes = [phash_int(Image.fromarray(s)) for s in small]
    for j, ff in enumerate(faces):
        for k in range(len(ff.boxes)):
            crop = square_crop(frames[j], ff.boxes[k], p.margin, p.crop_size)
            for key in own:
                cols[key].append(meta[key])
            cols["frame_idx"].append(int(frame_idx[j]))
            cols["track_id"].append(int(ff.track_ids[k]))
            cols["prob"].append(float(ff.probs[k]))
            x1, y1, x2, y2 = (float(v) for v in ff.boxes[k])
            cols["x1"].append(x1), cols["y1"].append(y1), cols["x2"].append(x2), cols["y2"].append(y2)
            cols["landmarks"].append(ff.landmarks[k].tolist() if ff.landmarks is not None else None)
            cols["jpeg"].append(encode_jpeg(crop, p.jpeg_quality))
            cols["phash"].append(phash_int(crop))
            cols["frame_phash"].append(frame_hashes[j])
    return cols, frame_hashes


def embedding_column(n_rows: int, embeddings: dict[int, tuple[int, np.ndarray]]) -> list:
    """The face store's `embedding` column from `track_embeddings`' output: each track's vector on its
    representative row (the row order of `crop_faces`), null on every other row."""
    col: list = [None] * n_rows
    for row, vec in embeddings.values():
        col[row] = np.asarray(vec, np.float32).tolist()
    return col


def faces_summary(faces: list[FrameFaces]) -> dict:
    """Per-video face columns of videos.parquet."""
    counts = [len(f.boxes) for f in faces]
    probs = np.concatenate([f.probs for f in faces]) if faces else np.zeros(0)
    tracks = {int(t) for f in faces if f.track_ids is not None for t in f.track_ids}
    return dict(n_faces=int(sum(counts)), frames_with_face=int(sum(c > 0 for c in counts)),
                n_tracks=len(tracks), mean_prob=float(probs.mean()) if len(probs) else None)
