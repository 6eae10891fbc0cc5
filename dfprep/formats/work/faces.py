"""WORK/faces.parquet, the face store: one row per face crop; its schema, rows and readers (docs/formats.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dfprep.formats.work.names import WorkError, faces_dir
from dfprep.errors import DataError

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


class FaceStoreError(DataError, WorkError, ValueError):
    """A face store file that cannot be read; the message names it."""


# Rows per Parquet row group: ~256 crops of ~15-25 KB keeps a group near 5 MB, small enough to stream.
FACE_ROW_GROUP = 256


def empty_faces() -> pa.Table:
    return FACE_SCHEMA.empty_table()


def faces_table(rows: dict[str, list]) -> pa.Table:
    """Face-store rows from columns; `embedding`, when absent, is all null (no identity embeddings)."""
    n = len(rows["video"])
    return pa.table({f.name: pa.array(rows.get(f.name, [None] * n) if f.name == "embedding" else rows[f.name],
                                      type=f.type) for f in FACE_SCHEMA}, schema=FACE_SCHEMA)


def face_files(faces: Path) -> list[Path]:
    """The face store's files under `faces` (WORK/faces.parquet, `faces_dir`), sorted; temporaries of a run in
    progress (`.tmp-*`) left out."""
    from dfprep.storage import as_path

    return sorted(p for p in as_path(faces).rglob("*.parquet") if not p.name.startswith("."))


def read_embeddings(work: Path) -> tuple[list[tuple[int, str]], np.ndarray]:
    """Every track's identity embedding: ((part, video) per track, float32 [n, 128]).

    A projected read of (part, video, embedding), keeping the rows where the embedding is set (one per track,
    its representative face). Files written before embeddings existed, or by an ingest with --no-identity,
    contribute nothing; so does a WORK without a face store.
    """
    keys: list[tuple[int, str]] = []
    vecs: list[np.ndarray] = []
    from dfprep.storage import StorageError, arrow_source

    for p in face_files(faces_dir(work)) if faces_dir(work).exists() else []:
        try:
            fs, name = arrow_source(p)
            if "embedding" not in pq.read_schema(name, filesystem=fs).names:
                continue
            # the filter is applied while reading: only the one representative row per track is materialised
            t = pq.read_table(name, columns=["part", "video", "embedding"], filesystem=fs,
                              filters=pc.is_valid(pc.field("embedding")))
        except StorageError:
            raise
        except (pa.ArrowInvalid, OSError) as exc:
            raise FaceStoreError(f"{p}: cannot read the face store file: {exc}") from None
        if not t.num_rows:
            continue
        emb = t.column("embedding").combine_chunks()
        vecs.append(emb.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(emb), -1))
        keys += list(zip(t.column("part").to_pylist(), t.column("video").to_pylist()))
    return keys, (np.concatenate(vecs) if vecs else np.zeros((0, 128), np.float32))
