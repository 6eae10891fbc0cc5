"""What one WebDataset sample is: its unit of crops, its key and its json.

A unit is one crop (`--unit frame`) or T consecutive crops of one face track (`--unit clip`), held as a row of
an int array of crop indices, so planning 4M crops stays in numpy. Keys carry no dots (WebDataset splits a
member name at the first dot of its base name) and are unique across all shards.
"""
from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache

import numpy as np

from dfprep.augment import shard_augment_seed
from dfprep.dataset import clip_windows, label_code

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
MAX_STEM = 56


@lru_cache(maxsize=65536)
def video_stem(video: str) -> str:
    """`abc.mp4` -> `abc`; any other name gets its sanitized stem plus a sha1 of the name, so stems stay unique.

    Long stems are cut to keep member names within the 100 bytes of a USTAR tar header.
    """
    name = video.rsplit("/", 1)[-1]
    stem = name[:name.rfind(".")] if name.rfind(".") > 0 else name      # the name less its last extension
    clean = _UNSAFE.sub("_", stem) or "_"
    if f"{clean}.mp4" == video and len(clean) <= MAX_STEM:
        return clean
    return f"{clean[:MAX_STEM - 11]}_{hashlib.sha1(video.encode()).hexdigest()[:10]}"


def sample_key(part: int, video: str, frame_idx: int, track_id: int, repeat: int = 0, clip: bool = False) -> str:
    """`p{part}_{stem}_f{frame:05d}_t{track}` (clips: `_c{first frame}`), plus `_r{k}` for the k-th repeat."""
    kind = "c" if clip else "f"
    key = f"p{part}_{video_stem(video)}_{kind}{frame_idx:05d}_t{track_id}"
    return f"{key}_r{repeat}" if repeat else key


def frame_units(n_crops: int) -> np.ndarray:
    """One crop per unit: [n, 1]."""
    return np.arange(n_crops, dtype=np.int64).reshape(-1, 1)


def clip_units(part: np.ndarray, video: np.ndarray, track: np.ndarray, frame: np.ndarray,
               clip_len: int) -> np.ndarray:
    """`dfprep.dataset.clip_windows` over the face tracks, a track being one (part, video, track_id)."""
    if len(part) == 0:
        return np.zeros((0, clip_len), np.int64)
    _, track_code = np.unique(np.stack([part, video, track], 1), axis=0, return_inverse=True)
    return clip_windows(track_code.reshape(-1), frame, clip_len)


def member_names(unit: str, clip_len: int) -> list[str]:
    """The fields of every sample: `jpg` or `000.jpg`..`{T-1}.jpg`, then `cls` and `json`."""
    images = ["jpg"] if unit == "frame" else [f"{i:03d}.jpg" for i in range(clip_len)]
    return images + ["cls", "json"]


def spec_samples(spec: dict) -> list[dict]:
    """A shard spec's samples (see `Plan.shard_spec`) as dicts: key, provenance, crops, augmentation seed."""
    clip = spec["unit"] == "clip"
    boxes = np.round(spec["box"].astype(np.float64), 2).tolist()
    probs = np.round(spec["prob"].astype(np.float64), 5).tolist()
    frames, tracks = spec["frame_idx"].tolist(), spec["track_id"].tolist()
    out = []
    for j, (v, k, aug) in enumerate(zip(spec["video"].tolist(), spec["repeat"].tolist(), spec["augment"].tolist())):
        part, video, family, label = spec["videos"][v]
        key = sample_key(part, video, frames[j][0], tracks[j][0], k, clip)
        crops = [{"frame_idx": f, "track_id": t, "box": b, "prob": p}
                 for f, t, b, p in zip(frames[j], tracks[j], boxes[j], probs[j])]
        out.append({"key": key, "video": video, "part": part, "family": family, "split": spec["split"],
                    "label": label, "repeat": k, "crops": crops,
                    "augment_seed": shard_augment_seed(spec["seed"], key) if aug else None})
    return out


def sample_json(meta: dict, crops: list[dict], clip: bool, augmentation: dict | None) -> bytes:
    """The sample's json: where its crops came from, and the augmentation applied (null when none)."""
    d = {k: meta[k] for k in ("key", "video", "part", "family", "split", "label", "repeat")}
    if clip:
        d.update(frame_idx=[c["frame_idx"] for c in crops], track_id=crops[0]["track_id"],
                 box=[c["box"] for c in crops], prob=[c["prob"] for c in crops])
    else:
        c = crops[0]
        d.update(frame_idx=c["frame_idx"], track_id=c["track_id"], box=c["box"], prob=c["prob"])
    d["augmentation"] = augmentation
    return json.dumps(d, sort_keys=True, separators=(",", ":")).encode("utf-8")


def cls_bytes(label: str) -> bytes:
    """ASCII `0` (REAL) or `1` (FAKE): webdataset's default `.cls` decoder turns it into an int."""
    return str(label_code(label)).encode("ascii")
