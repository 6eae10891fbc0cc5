"""WORK as sharding sees it: the eligible videos and their crops without pixels (`load_crops`), per-video crop
hashes, through the WORK format's readers (dfprep.formats.work: `read_crop_index`, `fetch_jpegs`, `store_hash`).

At DFDC scale the store holds ~4M crops (~80 GB of JPEG), so planning never reads the `jpeg` column; each shard
task reads only the row groups of its own videos, from the files they live in.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfprep.formats.work.faces import read_crop_index
from dfprep.formats.work.names import faces_dir, videos_dir
from dfprep.dataset import LABELS, Status
from dfprep.shards.config import ShardsUsageError
from dfprep.storage import as_path

VIDEO_COLUMNS = ["video", "part", "label", "original", "status", "n_faces", "dataset", "method", "split",
                 "identity", "source_identity"]


def store_paths(work: Path) -> tuple[Path, Path]:
    """WORK/videos.parquet and WORK/faces.parquet, or a clear error naming what is missing."""
    work = as_path(work)
    videos, faces = videos_dir(work), faces_dir(work)
    for p in (videos, faces):
        if not p.is_dir() or not any(p.rglob("*.parquet")):
            raise ShardsUsageError(f"{p}: not found or empty; is {work} the --out folder of `dfprep ingest`?")
    return videos, faces


CROP_RECORD = ("frame_idx", "track_id", "prob", "x1", "y1", "x2", "y2", "phash")


def crops_hashes(crops: pa.Table, video_code: np.ndarray, n_videos: int) -> list[str]:
    """Per video (by code): sha256 (16 hex) of its crop records (frame, track, box, prob, perceptual hash of
    the crop), in (frame, track) order: what changes when a video is ingested again from another file, without
    reading a JPEG byte."""
    cols = {c: np.nan_to_num(crops[c].fill_null(0).to_numpy(zero_copy_only=False)) for c in CROP_RECORD}
    rec = np.zeros(len(video_code), dtype=[(c, "<f8") if c in ("prob", "x1", "y1", "x2", "y2") else (c, "<i8")
                                           for c in CROP_RECORD])
    for c in CROP_RECORD:
        rec[c] = cols[c].astype(np.int64) if c == "phash" else cols[c]
    order = np.lexsort((rec["track_id"], rec["frame_idx"], video_code))
    rec, codes = rec[order], video_code[order]
    bounds = np.searchsorted(codes, np.arange(n_videos + 1))
    return [hashlib.sha256(rec[bounds[v]:bounds[v + 1]].tobytes()).hexdigest()[:16] for v in range(n_videos)]


def read_videos(work: Path) -> pa.Table:
    """The VIDEO_COLUMNS of WORK's video manifest (`dfprep.formats.work.videos`)."""
    from dfprep.formats.work.videos import read_videos as read_manifest

    return read_manifest(work, VIDEO_COLUMNS)


def _pv_keys(parts, videos) -> pa.Array:
    return pc.binary_join_element_wise(pc.cast(parts, pa.string()), videos, "/")


@dataclass(frozen=True)
class StoreCrops:
    """WORK's usable videos and their crops, without pixels: what a plan is made of (`load_crops`)."""
    videos: list[dict]                  # videos.parquet rows (planning columns), every video
    eligible: list[tuple[int, str]]     # usable videos (status ok, labelled REAL/FAKE), sorted (part, video)
    crops: pa.Table                     # their crops' planning columns (`source.read_crops`)
    video_code: np.ndarray              # per crop: its video's index in `eligible`
    files: list[str]                    # face-store files, relative to faces.parquet (a crop's `file` indexes it)

    def without(self, drop: set) -> "StoreCrops":
        """The same without the videos in `drop` (and their crops), video codes renumbered."""
        keep = np.array([pv not in drop for pv in self.eligible], bool)
        rows = keep[self.video_code]
        recode = np.cumsum(keep) - 1
        return replace(self, eligible=[pv for pv, k in zip(self.eligible, keep) if k],
                       crops=self.crops.filter(pa.array(rows)), video_code=recode[self.video_code[rows]])


def load_crops(work: Path) -> StoreCrops:
    """Manifest rows, eligible videos (status ok, labelled REAL/FAKE; sorted) and their crops without pixels."""
    videos = read_videos(work).to_pylist()
    crops, files = read_crop_index(faces_dir(work))
    eligible = sorted((r["part"], r["video"]) for r in videos if r["status"] == Status.OK and r["label"] in LABELS)
    keys = _pv_keys(pa.array([p for p, _ in eligible], pa.int32()), pa.array([v for _, v in eligible], pa.string()))
    code = pc.index_in(_pv_keys(crops["part"], crops["video"]), value_set=keys)
    crops = crops.filter(pc.is_valid(code))
    return StoreCrops(videos, eligible, crops, pc.drop_null(code).to_numpy().astype(np.int64), files)
