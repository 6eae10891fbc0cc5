"""Reading WORK's face store for sharding: a planning scan without pixels, then JPEG bytes per shard.

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

from dfprep.formats.work.faces import face_files
from dfprep.formats.work.names import WorkError, faces_dir, videos_dir
from dfprep.dataset import LABELS, Status
from dfprep.shards.config import ShardsUsageError
from dfprep.storage import as_path, parquet_file, relative

PLAN_COLUMNS = ["video", "part", "label", "original", "frame_idx", "track_id", "prob", "x1", "y1", "x2", "y2",
                "phash"]
VIDEO_COLUMNS = ["video", "part", "label", "original", "status", "n_faces"]
HASH_METHOD = "sha256 over sorted (relative path, size, Parquet footer bytes) of faces.parquet/**/*.parquet"
FOOTER_MAX = 1 << 20     # a footer larger than this is hashed by its first and last MiB


def store_paths(work: Path) -> tuple[Path, Path]:
    """WORK/videos.parquet and WORK/faces.parquet, or a clear error naming what is missing."""
    work = as_path(work)
    videos, faces = videos_dir(work), faces_dir(work)
    for p in (videos, faces):
        if not p.is_dir() or not any(p.rglob("*.parquet")):
            raise ShardsUsageError(f"{p}: not found or empty; is {work} the --out folder of `dfprep ingest`?")
    return videos, faces


def _footer(path: Path) -> bytes:
    """The Parquet footer (schema, row-group statistics, sizes): changes whenever the file's content does."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size < 12:
            raise ShardsUsageError(f"{path}: not a Parquet file ({size} bytes)")
        fh.seek(size - 8)
        tail = fh.read(8)
        if tail[4:] != b"PAR1":
            raise ShardsUsageError(f"{path}: not a Parquet file (no PAR1 magic at the end)")
        n = int.from_bytes(tail[:4], "little")
        if n + 8 > size:
            raise ShardsUsageError(f"{path}: corrupt Parquet footer length {n}")
        if n <= FOOTER_MAX:
            fh.seek(size - 8 - n)
            return fh.read(n + 8)
        fh.seek(size - 8 - n)
        head = fh.read(FOOTER_MAX)
        fh.seek(size - FOOTER_MAX)
        return head + fh.read(FOOTER_MAX)


def store_hash(faces: Path) -> str:
    """Content hash of the face store, cheap at any scale: name, size and footer of every file.

    The footer holds per-row-group byte sizes and min/max statistics, so rewriting a file with other crops
    changes it; hashing 80 GB of JPEG would take longer than writing the shards.
    """
    h = hashlib.sha256()
    for p in face_files(faces):
        rel = relative(p, faces)
        h.update(f"{rel}\0{p.stat().st_size}\0".encode())
        h.update(hashlib.sha256(_footer(p)).digest())
    return h.hexdigest()


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

    try:
        return read_manifest(work, VIDEO_COLUMNS)
    except WorkError as exc:
        raise ShardsUsageError(str(exc)) from None


def read_crops(faces: Path) -> tuple[pa.Table, list[str]]:
    """Every crop's planning columns (no jpeg), with `file` (index into the returned list of relative paths),
    `row_group` (its Parquet row group) and `jpeg_bytes` (estimated from the row group's column-chunk size).
    """
    files = face_files(faces)
    tables = []
    for i, p in enumerate(files):
        try:
            pf = parquet_file(p)
            t = pf.read(columns=PLAN_COLUMNS)
            md = pf.metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise ShardsUsageError(f"{p}: cannot read the face store file: {exc}") from None
        jcol = md.schema.names.index("jpeg") if "jpeg" in md.schema.names else None
        est, groups = [], []
        for r in range(md.num_row_groups):
            rg = md.row_group(r)
            per = rg.column(jcol).total_uncompressed_size / max(rg.num_rows, 1) if jcol is not None else 0
            est += [int(per)] * rg.num_rows
            groups += [r] * rg.num_rows
        t = t.append_column("file", pa.array([i] * t.num_rows, pa.int32()))
        t = t.append_column("row_group", pa.array(groups, pa.int32()))
        t = t.append_column("jpeg_bytes", pa.array(est, pa.int64()))
        tables.append(t)
    rel = [relative(p, faces) for p in files]
    if not tables:
        return pa.table({c: [] for c in PLAN_COLUMNS + ["file", "row_group", "jpeg_bytes"]}), rel
    return pa.concat_tables(tables), rel


def fetch_jpegs(faces: Path, reads: dict[str, list[int]], wanted: set[tuple]) -> dict[tuple, memoryview]:
    """(part, video, frame_idx, track_id) -> JPEG bytes of the wanted crops, reading only the listed row groups.

    Values are memoryviews into one Arrow buffer per file holding only the wanted crops (no copy per crop).
    """
    out: dict[tuple, memoryview] = {}
    for rel, groups in sorted(reads.items()):
        path = as_path(faces) / rel
        try:
            t = parquet_file(path).read_row_groups(sorted(groups), columns=["part", "video", "frame_idx",
                                                                             "track_id", "jpeg"])
        except (pa.ArrowInvalid, OSError) as exc:
            raise OSError(f"{path}: cannot read row groups {sorted(groups)}: {exc}") from None
        cols = t.select(["part", "video", "frame_idx", "track_id"]).to_pydict()
        keys = list(zip(cols["part"], cols["video"], cols["frame_idx"], cols["track_id"]))
        rows = [i for i, k in enumerate(keys) if k in wanted]
        jpeg = t.column("jpeg").take(pa.array(rows, pa.int64())).combine_chunks()
        if jpeg.null_count:
            raise OSError(f"{path}: {jpeg.null_count} wanted crops have no jpeg")
        width = np.int64 if pa.types.is_large_binary(jpeg.type) else np.int32
        offsets = np.frombuffer(jpeg.buffers()[1], width)[jpeg.offset:jpeg.offset + len(jpeg) + 1].tolist()
        data = memoryview(jpeg.buffers()[2]) if jpeg.buffers()[2] is not None else memoryview(b"")
        for j, i in enumerate(rows):
            out[keys[i]] = data[offsets[j]:offsets[j + 1]]
    return out


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
    crops, files = read_crops(faces_dir(work))
    eligible = sorted((r["part"], r["video"]) for r in videos if r["status"] == Status.OK and r["label"] in LABELS)
    keys = _pv_keys(pa.array([p for p, _ in eligible], pa.int32()), pa.array([v for _, v in eligible], pa.string()))
    code = pc.index_in(_pv_keys(crops["part"], crops["video"]), value_set=keys)
    crops = crops.filter(pc.is_valid(code))
    return StoreCrops(videos, eligible, crops, pc.drop_null(code).to_numpy().astype(np.int64), files)
