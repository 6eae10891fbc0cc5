"""How ingest results reach WORK's batch files, and how a run resumes.

Each part's videos are cut into batches (`dfprep.ingest.batching` decides which videos go in which, and
records it); each batch becomes one file in videos.parquet/part-P/ and one in faces.parquet/part-P/, so the
outputs do not depend on the order in which videos finished. A finished video is first written alone to the
journal (WORK/_journal), which is what makes a run resumable at video granularity; when its batch is complete
the journal entries are merged into the two batch files. The files' names, reading and writing are the WORK
format's (`dfprep.formats.work.batches`).
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfprep.formats.work.batches import (batch_done, journal_dir, journal_file, read_batch_files, read_batch_video,
                                         read_journal, write_batch_files, write_journal)
from dfprep.formats.work.faces import FACE_SCHEMA
from dfprep.formats.work.names import BatchId
from dfprep.dataset import Status, VideoEntry
from dfprep.storage import is_remote, rmtree, store_failures

# Error reasons caused by a scheduling setting (--timeout, --retries), not by the file: such a row is not
# final, a rerun reopens its batch and processes the video again (`reopen_batch`; `batching` finds them). The
# scheduler writes them.
TIMED_OUT = "timed out after"
WORKER_DIED = "worker process died"
RETRYABLE_ERRORS = (TIMED_OUT, WORKER_DIED)


@dataclass
class Batch(BatchId):
    """A batch of a part (`BatchId`: its files' names) with the discovery entries of its videos."""
    entries: list[VideoEntry] = field(default_factory=list)

    @property
    def key(self) -> str:
        """What a video's result is filed under (`dfprep.ingest.tasks.VideoTask.key`): part-P/batch-NNNNN."""
        return f"part-{self.part}/{self.journal_name}"


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
    n_videos, n_faces = write_batch_files(work, b, rows, faces)
    rmtree(journal_dir(work, b))
    return {"part": b.part, "batch": b.index, "videos": n_videos, "faces": n_faces}


def reopen_batch(work: Path, b: Batch, again: set[str]) -> None:
    """Turn a merged batch back into journal entries so that the videos in `again` can be processed anew:
    every other processed video's row and faces are journalled from the batch files (unless a journal entry
    exists already: an interrupted reopen); the merge that follows rewrites the batch files."""
    rows, faces = read_batch_files(work, b)
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
            found = read_batch_video(work, b, video, FACE_BOX_COLUMNS)
            if found is None:
                return None
            row, t = found
            break
        try:
            row, t = read_journal(journal_file(work, b, video))
            break
        except FileNotFoundError:
            continue
    else:
        return None
    return frame_faces_from(row, t) if row.get("status") == Status.OK else None
