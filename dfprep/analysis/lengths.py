"""Lengths and formats: what the probe found, each as a distribution split by label.

Numeric columns get a per-label summary and a histogram on shared edges; categorical ones a count table.
Rows without probe values (missing, rejected, early errors) are left out of each column's numbers.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dfprep.analysis.summaries import count_by, histogram_by, label_key, summarize_by

# column -> (title, histogram options)
NUMERIC = {
    "duration_s": ("Duration (s)", {"bins": 30}),
    "n_frames": ("Frames in the video stream", {"bins": 30}),
    "fps": ("Frame rate (fps)", {"bins": 30}),
    "bytes": ("File size (bytes)", {"bins": 30, "log": True}),
}


def orientation(width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """landscape / portrait / square per video, from the displayed size (rotation already applied)."""
    out = np.full(len(width), "unknown", dtype=object)
    known = (width > 0) & (height > 0)
    out[known & (width > height)] = "landscape"
    out[known & (width < height)] = "portrait"
    out[known & (width == height)] = "square"
    return out


def _col(videos: pa.Table, name: str, dtype=np.float64) -> np.ndarray:
    a = videos.column(name)
    return np.asarray(a.to_numpy(zero_copy_only=False), dtype=dtype) if a.null_count == 0 else \
        np.array([np.nan if x is None else x for x in a.to_pylist()], dtype=dtype)


def format_stats(videos: pa.Table, top: int = 12) -> dict:
    """Numeric distributions (duration, frames, fps, bytes) and categorical counts (resolution, codec...)."""
    labels = np.array([label_key(x) for x in videos.column("label").to_pylist()], dtype=object)
    out: dict = {"numeric": {}, "categorical": {}}
    for col, (title, opts) in NUMERIC.items():
        v = _col(videos, col)
        out["numeric"][col] = {"title": title, "by_label": summarize_by(v, labels),
                               "histogram": histogram_by(v, labels, **opts)}
    w, h = _col(videos, "width"), _col(videos, "height")
    probed = np.isfinite(w) & np.isfinite(h)
    wi, hi = np.nan_to_num(w).astype(np.int64), np.nan_to_num(h).astype(np.int64)
    res = np.array([f"{a}x{b}" for a, b in zip(wi, hi)], dtype=object)
    ori = orientation(wi, hi)
    codec = np.array(videos.column("codec").to_pylist(), dtype=object)
    audio = np.array(videos.column("has_audio").to_pylist(), dtype=object)
    rot = np.array(videos.column("rotation").to_pylist(), dtype=object)
    out["categorical"] = {
        "resolution": {"title": "Resolution (displayed WxH)", "counts": count_by(res[probed], labels[probed], top)},
        "orientation": {"title": "Orientation", "counts": count_by(ori[probed], labels[probed])},
        "codec": {"title": "Video codec", "counts": _count_known(codec, labels, top)},
        "has_audio": {"title": "Audio stream", "counts": _count_known(audio, labels, top,
                                                                      rename={"True": "audio",
                                                                              "False": "no audio"})},
        "rotation": {"title": "Display rotation (degrees)", "counts": _count_known(rot, labels, top,
                                                                                 numeric_keys=True)},
    }
    out["probed_videos"] = int(probed.sum())
    return out


def _count_known(values: np.ndarray, labels: np.ndarray, top: int, rename: dict | None = None,
                 numeric_keys: bool = False) -> dict:
    known = np.array([v is not None for v in values], dtype=bool)
    vals = [str(v) for v in values[known]]
    if rename:
        vals = [rename.get(v, v) for v in vals]
    return count_by(vals, labels[known], top, numeric_keys=numeric_keys)
