"""WORK/videos.parquet, the video manifest: one row per metadata entry or video file, its schema and reader."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import pyarrow as pa
import pyarrow.dataset as ds

if TYPE_CHECKING:
    from dfprep.dataset import VideoEntry
from dfprep.formats.work.names import WorkError, open_parquet, videos_dir

VIDEO_SCHEMA = pa.schema([
    ("dataset", pa.string()),
    ("video", pa.string()),
    ("part", pa.int32()),
    ("label", pa.string()),
    ("original", pa.string()),
    ("split", pa.string()),
    ("method", pa.string()),
    ("compression", pa.string()),
    ("identity", pa.string()),
    ("source_identity", pa.string()),
    ("audio_label", pa.string()),
    ("mask", pa.string()),
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
HASH = "head_tail_sha256"           # the content hash of the file a row was made from (dfprep.ingest.inputs)
# Columns every version of dfprep wrote: a file without one of them is not a video manifest. Columns added
# since (bytes, head_tail_sha256, dataset, method, ...) read as null from older files, except `dataset`: every
# row written before datasets existed is DFDC's, and reads so (`with_dataset`).
KEY_COLUMNS = ("video", "part", "label", "original", "split", "status")


def with_dataset(table: pa.Table) -> pa.Table:
    """`table` with a null `dataset` read as DFDC (a row written before the column existed); unchanged when the
    table has no `dataset` column or no null in it."""
    from dfprep.dataset import DFDC
    import pyarrow.compute as pc

    i = table.schema.get_field_index("dataset")
    if i < 0 or table.column(i).null_count == 0:
        return table
    return table.set_column(i, "dataset", pc.fill_null(table.column(i), DFDC))


def video_row(entry: "VideoEntry", **values) -> dict:
    """A full manifest row: the entry's fields (`VideoEntry.row_fields`), the given values, nulls elsewhere.
    A `status` given is written as its value (a Status or its string)."""
    from dfprep.dataset import Status

    row = {f.name: None for f in VIDEO_SCHEMA}
    row.update(entry.row_fields())
    row.update(values)
    row["status"] = Status(row["status"]).value
    return row


def videos_table(rows: list[dict]) -> pa.Table:
    rows = sorted(rows, key=lambda r: r["video"])
    return pa.Table.from_pylist(rows, schema=VIDEO_SCHEMA)


def open_videos(folder: Path) -> ds.Dataset:
    """The video manifest under `folder` (WORK/videos.parquet, or one part's folder of it) as a dataset with
    VIDEO_SCHEMA, so that files written before a column existed give nulls. WorkError (one line naming the
    folder or file) when it is absent, not Parquet, or lacks a KEY_COLUMNS column."""
    found = open_parquet(folder, "the video manifest", KEY_COLUMNS)
    try:
        return found.replace_schema(VIDEO_SCHEMA)       # one listing of the folder, not two
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise WorkError(f"{folder}: not a video manifest ({exc})") from None


def read_videos(work: Path, columns: Sequence[str] | None = None, folder: Path | None = None) -> pa.Table:
    """WORK/videos.parquet (or `folder`, a part of it) as one table of `columns` (default: all), in file
    order; WorkError naming the file when a file cannot be read."""
    folder = videos_dir(work) if folder is None else folder
    from dfprep.storage import StorageError

    d = open_videos(folder)
    try:
        return with_dataset(d.to_table(columns=list(columns) if columns is not None else list(VIDEO_SCHEMA.names)))
    except StorageError:
        raise
    except (pa.ArrowInvalid, OSError) as exc:
        raise WorkError(f"{folder}: unreadable ({exc})") from None
