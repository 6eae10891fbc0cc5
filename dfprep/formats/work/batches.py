"""WORK's batch files, the journal and the batch plans: their names and their low-level reading and writing.

Each part's videos are cut into batches (`dfprep.ingest.batching` decides which, and records the plan in
`_batches/part-P.json`); a batch is one file in videos.parquet/part-P/ and one in faces.parquet/part-P/. A
finished video is first written alone to the journal (`_journal/part-P/batch-NNNNN/<sha1>.arrow`: its faces as
Arrow IPC, its manifest row as JSON in the schema metadata); `write_batch_files` merges a complete batch into its
two files, faces first, then videos: the videos file marks the batch finished. What is merged when, and how a run
resumes, is `dfprep.ingest.batches`'.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc

from dfprep.atomic import atomic_path, write_json, write_parquet
from dfprep.dataset import DFDC
from dfprep.formats.work.faces import FACE_ROW_GROUP, conform_faces
from dfprep.formats.work.names import (BATCHES, BatchId, WorkError, faces_dir, journal_root, part_folder,
                                       part_json, part_of_json, videos_dir)
from dfprep.formats.work.videos import read_videos, videos_table, with_dataset
from dfprep.storage import as_path, dataset as open_dataset, is_remote

ROW_KEY = b"dfprep.video_row"       # the journal file's schema-metadata key holding the manifest row


# --- names --------------------------------------------------------------------------------------------------------

def videos_part_dir(work: Path, part: int) -> Path:
    return videos_dir(work) / part_folder(part)


def videos_file(work: Path, b: BatchId) -> Path:
    return videos_part_dir(work, b.part) / b.name


def faces_file(work: Path, b: BatchId) -> Path:
    return faces_dir(work) / part_folder(b.part) / b.name


def journal_part_dir(work: Path, part: int) -> Path:
    return journal_root(work) / part_folder(part)


def journal_dir(work: Path, b: BatchId) -> Path:
    return journal_part_dir(work, b.part) / b.journal_name


def journal_file(work: Path, b: BatchId, video: str) -> Path:
    h = hashlib.sha1(f"{b.part}/{video}".encode()).hexdigest()[:20]
    return journal_dir(work, b) / f"{h}.arrow"


def plan_file(work: Path, part: int) -> Path:
    return as_path(work) / BATCHES / part_json(part)


# --- the journal ----------------------------------------------------------------------------------------------------

def write_journal(path: Path, row: dict, faces: pa.Table) -> None:
    """One video's result: its faces as Arrow IPC, its manifest row as JSON in the schema metadata."""
    meta = {ROW_KEY: json.dumps(row).encode()}
    table = faces.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        with ipc.new_file(str(tmp), table.schema) as w:
            w.write_table(table)


def read_journal(path: Path) -> tuple[dict, pa.Table]:
    """(manifest row, faces) of one journal file; FileNotFoundError when it is absent."""
    path = as_path(path)
    with ipc.open_file(path.open("rb") if is_remote(path) else str(path)) as r:
        table = r.read_all()
    row = json.loads(table.schema.metadata[ROW_KEY])
    row.setdefault("dataset", DFDC)                 # journalled before datasets existed: DFDC's
    return row, conform_faces(table)


def journal_batches(work: Path, part: int) -> set[int]:
    """Indices of the part's batches that have a journal folder."""
    folder = journal_part_dir(work, part)
    found = (BatchId.index_of(p.name) for p in folder.iterdir()) if folder.is_dir() else ()
    return {i for i in found if i is not None}


# --- batch files ----------------------------------------------------------------------------------------------------

def batch_done(work: Path, b: BatchId) -> bool:
    return videos_file(work, b).is_file()


def write_batch_files(work: Path, b: BatchId, rows: list[dict], faces: pa.Table) -> tuple[int, int]:
    """A batch's two files: faces (sorted by video, frame, track) first, then the videos file that marks the
    batch finished. Returns (videos, faces) written."""
    if faces.num_rows:
        faces = faces.sort_by([("video", "ascending"), ("frame_idx", "ascending"), ("track_id", "ascending")])
    write_parquet(faces_file(work, b), faces, row_group_size=FACE_ROW_GROUP)
    vt = videos_table(rows)
    write_parquet(videos_file(work, b), vt)
    return vt.num_rows, faces.num_rows


def read_batch_files(work: Path, b: BatchId) -> tuple[list[dict], pa.Table]:
    """(manifest rows, faces) of a finished batch."""
    rows = with_dataset(open_dataset(videos_file(work, b)).to_table()).to_pylist()
    for r in rows:
        r.setdefault("dataset", DFDC)               # written before datasets existed: DFDC's
    faces = conform_faces(open_dataset(faces_file(work, b)).to_table())
    return rows, faces


def read_batch_video(work: Path, b: BatchId, video: str, face_columns: list[str]) -> tuple[dict, pa.Table] | None:
    """(manifest row, its faces' `face_columns`) of one video of a finished batch; None when it holds no such
    video."""
    rows = with_dataset(open_dataset(videos_file(work, b)).to_table(filter=ds.field("video") == video)).to_pylist()
    if not rows:
        return None
    rows[0].setdefault("dataset", DFDC)             # written before datasets existed: DFDC's
    faces = open_dataset(faces_file(work, b)).to_table(filter=ds.field("video") == video, columns=face_columns)
    return rows[0], faces


def finished_batches(work: Path, part: int, columns: tuple[str, ...]) -> dict[int, list[dict]]:
    """{batch index: its rows (`columns`)} for every finished batch file of a part, in one scan (older files
    give null for columns they lack)."""
    folder = videos_part_dir(work, part)
    if not folder.is_dir():
        return {}
    t = read_videos(work, [*columns, "__filename"], folder=folder)
    out: dict[int, list[dict]] = {}
    for row in t.to_pylist():
        i = BatchId.index_of(row.pop("__filename").rsplit("/", 1)[-1])
        if i is not None:
            out.setdefault(i, []).append(row)
    return dict(sorted(out.items()))


# --- batch plans (_batches/part-P.json) -----------------------------------------------------------------------------

def recorded_parts(work: Path) -> list[int]:
    """The parts that have a recorded plan in WORK/_batches (`plan_file`'s names), sorted."""
    folder = as_path(work) / BATCHES
    found = (part_of_json(p.name) for p in folder.iterdir()) if folder.is_dir() else ()
    return sorted(p for p in found if p is not None)


def read_plan(work: Path, part: int) -> dict[int, list[str]] | None:
    """The recorded plan of a part ({batch index: video names}), None when none was recorded; WorkError naming
    the file when it is not a plan of that part."""
    from dfprep.records import load_object

    path = plan_file(work, part)
    if not path.is_file():
        return None
    data = load_object(path, WorkError, "")
    batches = data.get("batches")
    ok = isinstance(batches, list) and all(
        isinstance(b, dict) and isinstance(b.get("index"), int) and isinstance(b.get("videos"), list)
        and all(isinstance(v, str) for v in b["videos"]) for b in batches)
    if not ok or data.get("part") != part:
        raise WorkError(f"{path}: not a batch plan of part {part}; --overwrite to start again")
    return {b["index"]: list(b["videos"]) for b in batches}


def write_plan(work: Path, part: int, plan: dict[int, list[str]], batch_videos: int) -> None:
    write_json(plan_file(work, part), {"part": part, "batch_videos": batch_videos,
                                       "batches": [{"index": i, "videos": plan[i]} for i in sorted(plan)]})
