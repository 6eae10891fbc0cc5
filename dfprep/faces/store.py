"""The face store schema (WORK/faces.parquet): one row per face crop. Documented in docs/formats.md."""
from __future__ import annotations

import pyarrow as pa

LANDMARKS = pa.list_(pa.list_(pa.float32(), 2), 5)
# dlib's 128-d face descriptor of a track (dfprep.faces.identity); only on the track's representative row.
EMBEDDING = pa.list_(pa.float32(), 128)

FACE_SCHEMA = pa.schema([
    ("video", pa.string()),
    ("part", pa.int32()),
    ("label", pa.string()),
    ("original", pa.string()),
    ("frame_idx", pa.int32()),
    ("track_id", pa.int32()),
    ("prob", pa.float32()),
    ("x1", pa.float32()),
    ("y1", pa.float32()),
    ("x2", pa.float32()),
    ("y2", pa.float32()),
    ("landmarks", LANDMARKS),
    ("jpeg", pa.binary()),
    ("phash", pa.uint64()),
    ("frame_phash", pa.uint64()),
    ("embedding", EMBEDDING),
])

# Rows per Parquet row group: ~256 crops of ~15-25 KB keeps a group near 5 MB, small enough to stream.
FACE_ROW_GROUP = 256


def empty_faces() -> pa.Table:
    return FACE_SCHEMA.empty_table()


def faces_table(rows: dict[str, list]) -> pa.Table:
    """Face-store rows from columns; `embedding`, when absent, is all null (no identity embeddings)."""
    n = len(rows["video"])
    return pa.table({f.name: pa.array(rows[f.name] if f.name in rows or f.name != "embedding" else [None] * n,
                                      type=f.type) for f in FACE_SCHEMA}, schema=FACE_SCHEMA)
