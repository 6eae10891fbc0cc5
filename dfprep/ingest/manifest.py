"""The video manifest schema (WORK/videos.parquet): one row per metadata entry or video file."""
from __future__ import annotations

import pyarrow as pa

from dfprep.dataset import Status, VideoEntry

VIDEO_SCHEMA = pa.schema([
    ("video", pa.string()),
    ("part", pa.int32()),
    ("label", pa.string()),
    ("original", pa.string()),
    ("split", pa.string()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("warning", pa.string()),
    ("n_frames", pa.int32()),
    ("fps", pa.float32()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("duration_s", pa.float32()),
    ("codec", pa.string()),
    ("has_audio", pa.bool_()),
    ("bytes", pa.int64()),
    ("head_tail_sha256", pa.string()),
    ("rotation", pa.int16()),
    ("decoder", pa.string()),
    ("sampled_frames", pa.list_(pa.int32())),
    ("frame_phash", pa.list_(pa.uint64())),
    ("n_faces", pa.int32()),
    ("frames_with_face", pa.int32()),
    ("n_tracks", pa.int32()),
    ("mean_face_prob", pa.float32()),
])


def video_row(entry: VideoEntry, **values) -> dict:
    """A full manifest row: the entry's fields (`VideoEntry.row_fields`), the given values, nulls elsewhere.
    A `status` given is written as its value (a Status or its string)."""
    row = {f.name: None for f in VIDEO_SCHEMA}
    row.update(entry.row_fields())
    row.update(values)
    row["status"] = Status(row["status"]).value
    return row


def videos_table(rows: list[dict]) -> pa.Table:
    rows = sorted(rows, key=lambda r: r["video"])
    return pa.Table.from_pylist(rows, schema=VIDEO_SCHEMA)
