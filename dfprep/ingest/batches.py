"""Where ingest results live on disk, and how a run resumes.

Each part's videos are cut into batches (`dfprep.ingest.batching` decides which videos go in which, and
records it); each batch becomes one file in videos.parquet/part-P/ and one in faces.parquet/part-P/, so the
outputs do not depend on the order in which videos finished. A finished video is first written alone to the
journal (WORK/_journal), which is what makes a run resumable at video granularity; when its batch is complete
the journal entries are merged into the two batch files (faces first, then videos: the videos file marks the
batch complete).
"""
from __future__ import annotations

import hashlib
import re
from contextlib import nullcontext
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.ipc as ipc

from dfprep.atomic import atomic_path, write_parquet
from dfprep.storage import as_path, dataset as open_dataset, is_remote, rmtree, store_failures
from dfprep.dataset import Status, VideoEntry
from dfprep.faces.store import FACE_ROW_GROUP, FACE_SCHEMA
from dfprep.ingest.manifest import videos_table

ROW_KEY = b"dfprep.video_row"

# Error reasons caused by a scheduling setting (--timeout, --retries), not by the file: such a row is not
# final, a rerun reopens its batch and processes the video again (`reopen_batch`; `batching` finds them). The
# scheduler writes them.
TIMED_OUT = "timed out after"
WORKER_DIED = "worker process died"
RETRYABLE_ERRORS = (TIMED_OUT, WORKER_DIED)


@dataclass
class Batch:
    part: int
    index: int
    entries: list[VideoEntry] = field(default_factory=list)

    @property
    def key(self) -> str:
        """What a video's result is filed under (`dfprep.ingest.tasks.VideoTask.key`): part-P/batch-NNNNN."""
        return f"part-{self.part}/batch-{self.index:05d}"

    @property
    def name(self) -> str:
        return f"batch-{self.index:05d}.parquet"

    @staticmethod
    def index_of(name: str) -> int | None:
        """The index of a batch file name (`batch-NNNNN.parquet`) or a journal folder name (`batch-NNNNN`)."""
        m = _BATCH_NAME.fullmatch(name)
        return int(m.group(1)) if m else None


_BATCH_NAME = re.compile(r"batch-(\d{5,})(?:\.parquet)?")
JOURNAL = "_journal"


def videos_part_dir(work: Path, part: int) -> Path:
    return as_path(work) / "videos.parquet" / f"part-{part}"


def videos_file(work: Path, b: Batch) -> Path:
    return videos_part_dir(work, b.part) / b.name


def faces_file(work: Path, b: Batch) -> Path:
    return as_path(work) / "faces.parquet" / f"part-{b.part}" / b.name


def journal_part_dir(work: Path, part: int) -> Path:
    return as_path(work) / JOURNAL / f"part-{part}"


def journal_dir(work: Path, b: Batch) -> Path:
    return journal_part_dir(work, b.part) / f"batch-{b.index:05d}"


def journal_file(work: Path, b: Batch, video: str) -> Path:
    h = hashlib.sha1(f"{b.part}/{video}".encode()).hexdigest()[:20]
    return journal_dir(work, b) / f"{h}.arrow"


def batch_done(work: Path, b: Batch) -> bool:
    return videos_file(work, b).is_file()


def write_journal(path: Path, row: dict, faces: pa.Table) -> None:
    """One video's result: its faces as Arrow IPC, its manifest row as JSON in the schema metadata."""
    meta = {ROW_KEY: json.dumps(row).encode()}
    table = faces.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        with ipc.new_file(str(tmp), table.schema) as w:
            w.write_table(table)


def read_journal(path: Path) -> tuple[dict, pa.Table]:
    path = as_path(path)
    with ipc.open_file(path.open("rb") if is_remote(path) else str(path)) as r:
        table = r.read_all()
    row = json.loads(table.schema.metadata[ROW_KEY])
    return row, table.replace_schema_metadata(None).cast(FACE_SCHEMA)


def merge_batch(work: Path, b: Batch, rows_without_work: dict[str, dict]) -> dict:
    """Write the batch's two files from the journal (and the rows that needed no work); drop the journal."""
    rows, tables = [], []
    for e in b.entries:
        if e.video in rows_without_work:
            rows.append(rows_without_work[e.video])
            continue
        row, t = read_journal(journal_file(work, b, e.video))
        rows.append(row)
        tables.append(t)
    faces = pa.concat_tables(tables) if tables else FACE_SCHEMA.empty_table()
    if faces.num_rows:
        faces = faces.sort_by([("video", "ascending"), ("frame_idx", "ascending"), ("track_id", "ascending")])
    write_parquet(faces_file(work, b), faces, row_group_size=FACE_ROW_GROUP)
    vt = videos_table(rows)
    write_parquet(videos_file(work, b), vt)
    rmtree(journal_dir(work, b))
    return {"part": b.part, "batch": b.index, "videos": vt.num_rows, "faces": faces.num_rows}


def reopen_batch(work: Path, b: Batch, again: set[str]) -> None:
    """Turn a merged batch back into journal entries so that the videos in `again` can be processed anew:
    every other processed video's row and faces are journalled from the batch files (unless a journal entry
    exists already: an interrupted reopen); the merge that follows rewrites the batch files."""
    rows = open_dataset(videos_file(work, b)).to_table().to_pylist()
    faces = open_dataset(faces_file(work, b)).to_table().replace_schema_metadata(None).cast(FACE_SCHEMA)
    by_video = {r["video"]: r for r in rows if r["status"] in (Status.OK, Status.ERROR)}
    for e in b.entries:
        if e.status is not Status.PENDING or e.video in again:
            continue
        path = journal_file(work, b, e.video)
        if path.exists() or e.video not in by_video:
            continue
        mine = faces.filter(pc.equal(faces.column("video"), e.video))
        write_journal(path, by_video[e.video], mine)


FACE_BOX_COLUMNS = ["frame_idx", "track_id", "prob", "x1", "y1", "x2", "y2", "landmarks"]


def frame_faces_from(row: dict, faces: pa.Table) -> list:
    """Rebuild a video's per-frame faces (FrameFaces) from its manifest row and its face rows."""
    from dfprep.faces.params import FrameFaces

    t = faces.select(FACE_BOX_COLUMNS).to_pylist()
    out = []
    for fi in row.get("sampled_frames") or []:
        rs = [r for r in t if r["frame_idx"] == fi]
        boxes = np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rs], np.float32).reshape(-1, 4)
        marks = None
        if rs and all(r["landmarks"] is not None for r in rs):
            marks = np.array([r["landmarks"] for r in rs], np.float32)
        out.append(FrameFaces(boxes, np.array([r["prob"] for r in rs], np.float32), marks,
                              np.array([r["track_id"] for r in rs], np.int64)))
    return out


def stored_frame_faces(work: Path, part: int, batch_index: int, video: str) -> list | None:
    """A finished video's per-frame faces, read from disk: its batch files once merged, else its journal.

    Read by the worker that needs them (--boxes-from-original), so the driver never holds them. The batch
    files are checked first and the journal re-checked after, because a merge writes the batch files before
    it deletes the journal: one of the two always exists for a finished video.
    """
    b = Batch(part, batch_index)
    with store_failures(work) if is_remote(work) else nullcontext():   # a failing store is the run's, not the video's
        return _stored_frame_faces(work, b, video)


def _stored_frame_faces(work, b: Batch, video: str) -> list | None:
    for _ in range(2):
        if batch_done(work, b):
            vt = open_dataset(videos_file(work, b)).to_table(filter=ds.field("video") == video).to_pylist()
            if not vt:
                return None
            t = open_dataset(faces_file(work, b)).to_table(filter=ds.field("video") == video,
                                                        columns=FACE_BOX_COLUMNS)
            row = vt[0]
            break
        try:
            row, t = read_journal(journal_file(work, b, video))
            break
        except FileNotFoundError:
            continue
    else:
        return None
    return frame_faces_from(row, t) if row.get("status") == Status.OK else None
