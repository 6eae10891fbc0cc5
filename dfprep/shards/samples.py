"""What one WebDataset sample is: its unit of crops, its key and its json.

A unit is one crop (`--unit frame`) or T consecutive crops of one face track (`--unit clip`), held as a row of
an int array of crop indices, so planning 4M crops stays in numpy. Keys carry no dots (WebDataset splits a
member name at the first dot of its base name) and are unique across all shards.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dfprep.augment import shard_augment_seed
from dfprep.dataset import clip_windows

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
MAX_STEM = 56


@lru_cache(maxsize=65536)
def video_stem(video: str) -> str:
    """`abc.mp4` -> `abc`; any other name gets its sanitized stem plus a sha1 of the name, so stems stay unique.

    A path inside a dataset's root (`manipulated_sequences/Deepfakes/c23/videos/000_003.mp4`) is flattened, its
    `/` and `.` made `_`, so the key still says where the video is: a long path drops its leading folders.
    Long stems are cut to keep member names within the 100 bytes of a USTAR tar header.
    """
    stem = video[:video.rfind(".")] if video.rfind(".") > video.rfind("/") + 1 else video   # less its extension
    dirs = [_UNSAFE.sub("_", d) for d in stem.split("/")]
    while len(dirs) > 1 and len("_".join(dirs)) > MAX_STEM - 11:    # a long path keeps its last folders
        dirs.pop(0)
    clean = "_".join(dirs) or "_"
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


@dataclass(frozen=True)
class ShardSpec:
    """Everything the task writing one shard needs (`layout.Plan.shard_spec`), as compact arrays: the task
    builds keys and json itself, in parallel. n samples of T crops each (T = 1 for frames)."""
    name: str                       # the shard's file name
    split: str
    unit: str                       # frame | clip
    seed: int                       # the run's seed (augmentation seeds derive from it and the key)
    augment_ops: list[str]
    augment_p: float
    jpeg_quality: int               # of augmented crops (the others are the face store's bytes)
    videos: list[tuple[int, str, str, str, str, str]]   # (part, video, family, label, dataset, method) of its videos
    video: np.ndarray               # [n] per sample: its index into `videos`
    repeat: np.ndarray              # [n] 0 the unit itself, k its k-th oversampled copy
    augment: np.ndarray             # [n] bool: augment this sample
    frame_idx: np.ndarray           # [n, T] per crop
    track_id: np.ndarray            # [n, T]
    prob: np.ndarray                # [n, T]
    box: np.ndarray                 # [n, T, 4] x1, y1, x2, y2
    reads: dict[str, list[int]]     # face-store file (relative to faces.parquet) -> row groups to read


def spec_samples(spec: ShardSpec) -> list[dict]:
    """A shard spec's samples as dicts: key, provenance, crops, augmentation seed."""
    clip = spec.unit == "clip"
    boxes = np.round(spec.box.astype(np.float64), 2).tolist()
    probs = np.round(spec.prob.astype(np.float64), 5).tolist()
    frames, tracks = spec.frame_idx.tolist(), spec.track_id.tolist()
    out = []
    for j, (v, k, aug) in enumerate(zip(spec.video.tolist(), spec.repeat.tolist(), spec.augment.tolist())):
        part, video, family, label, dataset, method = spec.videos[v]
        key = sample_key(part, video, frames[j][0], tracks[j][0], k, clip)
        crops = [{"frame_idx": f, "track_id": t, "box": b, "prob": p}
                 for f, t, b, p in zip(frames[j], tracks[j], boxes[j], probs[j])]
        out.append({"key": key, "video": video, "part": part, "family": family, "split": spec.split,
                    "dataset": dataset, "method": method,
                    "label": label, "repeat": k, "crops": crops,
                    "augment_seed": shard_augment_seed(spec.seed, key) if aug else None})
    return out


# The augmentation record has the same keys in every sample, none of them null: readers that infer a schema
# from a few samples (HuggingFace `datasets` reads the first 5 of one shard) would otherwise type a key that is
# null there as null, and fail on the first shard where it holds a value. (op, parameter) -> (key, type); a
# parameter of an op not applied is 0. An op with a parameter missing here fails loudly (KeyError).
AUG_PARAMS = {
    ("rotate", "angle"): ("rotate_angle", float),
    ("brightness", "factor"): ("brightness_factor", float),
    ("saturation", "factor"): ("saturation_factor", float),
    ("noise", "sigma"): ("noise_sigma", float),
    ("noise", "noise_seed"): ("noise_seed", int),
    ("jpeg", "quality"): ("jpeg_quality", int),
    ("downscale", "factor"): ("downscale_factor", float),
}


def augmentation_record(aug: dict | None) -> dict:
    """The json's `augmentation`: `augmented`, `seed`, `p`, `ops` (the names applied, in order, comma-joined),
    then every op parameter of AUG_PARAMS; `aug` is `writer.augment_jpegs`' params, None for a copy of the
    face store's crop (then augmented false and every other value 0 or "")."""
    ops = (aug or {}).get("ops") or []
    rec: dict = {"augmented": aug is not None, "seed": int(aug["seed"]) if aug else 0,
                 "p": float(aug["p"]) if aug else 0.0, "ops": ",".join(o["op"] for o in ops)}
    rec.update({key: kind(0) for key, kind in AUG_PARAMS.values()})
    for o in ops:
        for name, value in o.items():
            if name != "op":
                key, kind = AUG_PARAMS[(o["op"], name)]
                rec[key] = kind(value)
    return rec


def sample_json(meta: dict, crops: list[dict], clip: bool, augmentation: dict | None) -> bytes:
    """The sample's json: where its crops came from, and the augmentation applied (`augmentation_record`).

    Every key is present in every sample with one type (ints stay ints, floats are written as floats even
    when whole), so any reader's schema inference agrees across shards; docs/formats.md lists them.
    """
    d = {k: meta[k] for k in ("key", "video", "family", "split", "label")}
    d.update(dataset=str(meta["dataset"]), method=str(meta["method"] or ""))
    d.update(part=int(meta["part"]), repeat=int(meta["repeat"]))
    if clip:
        d.update(frame_idx=[int(c["frame_idx"]) for c in crops], track_id=int(crops[0]["track_id"]),
                 box=[[float(v) for v in c["box"]] for c in crops], prob=[float(c["prob"]) for c in crops])
    else:
        c = crops[0]
        d.update(frame_idx=int(c["frame_idx"]), track_id=int(c["track_id"]), box=[float(v) for v in c["box"]],
                 prob=float(c["prob"]))
    d["augmentation"] = augmentation_record(augmentation)
    return json.dumps(d, sort_keys=True, separators=(",", ":")).encode("utf-8")


# index.json `sample_schema`: 2 = every json key present with one type (absent: older); 3 = and `dataset`,
# `method` (the video's manipulation method, "" when it has none or WORK does not say)
SAMPLE_SCHEMA = 3
STABLE_SCHEMA = 2       # the first schema verify can check
_FIELDS = {"key": str, "video": str, "family": str, "split": str, "label": str, "part": int, "repeat": int,
           "track_id": int}
_FIELDS_3 = {"dataset": str, "method": str}


def json_problem(meta: object, clip: bool, clip_len: int | None = None, schema: int = SAMPLE_SCHEMA) -> str | None:
    """Why a decoded sample json does not have the stable schema (`schema`, as index.json says) of
    `sample_json`, or None when it does."""
    if not isinstance(meta, dict):
        return "is not an object"

    def typed(value: object, kind: type) -> bool:
        return isinstance(value, kind) and not (kind is int and isinstance(value, bool))

    fields = {**_FIELDS, **_FIELDS_3} if schema >= 3 else _FIELDS
    want = set(fields) | {"frame_idx", "box", "prob", "augmentation"}
    if schema < 3 and set(_FIELDS_3) <= set(meta):      # a grown folder's newer generation: schema 3 in a 2
        want |= set(_FIELDS_3)
    if set(meta) != want:
        return f"keys {sorted(set(meta) ^ want)} are extra or missing"
    for k, kind in fields.items():
        if not typed(meta[k], kind):
            return f"key {k!r} is {meta[k]!r:.40}, not {kind.__name__}"
    frames, boxes, probs = (meta["frame_idx"], meta["box"], meta["prob"]) if clip else \
        ([meta["frame_idx"]], [meta["box"]], [meta["prob"]])
    if not (isinstance(frames, list) and isinstance(boxes, list) and isinstance(probs, list)) or \
            not len(frames) == len(boxes) == len(probs) or (clip_len is not None and len(frames) != clip_len):
        return "frame_idx, box and prob are not " + (f"lists of {clip_len}" if clip else "one crop's")
    if not all(typed(f, int) for f in frames) or not all(typed(p, float) for p in probs) or not all(
            isinstance(b, list) and len(b) == 4 and all(typed(v, float) for v in b) for b in boxes):
        return "frame_idx must be int, prob float, box 4 floats"
    aug, like = meta["augmentation"], augmentation_record(None)
    if not isinstance(aug, dict) or set(aug) != set(like):
        return f"augmentation is {aug!r:.60}, not an object with keys {sorted(like)}"
    for k, v in like.items():
        if not typed(aug[k], type(v)):
            return f"augmentation.{k} is {aug[k]!r:.40}, not {type(v).__name__}"
    return None
