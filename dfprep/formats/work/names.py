"""The names of everything in WORK, in one place, and the error WORK's readers raise.

A part's rows live in `<dataset>.parquet/part-P/batch-NNNNN.parquet` (videos.parquet and faces.parquet); the
journal, plans and input cache are keyed by part and batch the same way. docs/formats.md describes each file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from dfprep.errors import UsageError
from dfprep.storage import as_path

VIDEOS = "videos.parquet"           # the video manifest (dfprep.formats.work.videos)
FACES = "faces.parquet"             # the face store (dfprep.formats.work.faces)
RUN_JSON = "run.json"               # the last run's summary (dfprep.formats.work.runjson)
STATE = "_state.json"               # the settings and ROOT WORK was made with
TIMELINE = "timeline.jsonl"         # the last run's stage timings (written by dfprep.ingest.timeline)
BATCHES = "_batches"                # part-P.json: each part's batch plan
INPUTS = "_inputs"                  # part-P.json: the cache of each listed file's (size, mtime, hash)
JOURNAL = "_journal"                # part-P/batch-NNNNN/<sha1>.arrow: finished videos of unmerged batches
REPORT = "report"                   # `dfprep analyze WORK`'s default output folder
# Everything an ingest writes (what --overwrite removes), `report` and leases aside.
INGEST_OUTPUTS = (VIDEOS, FACES, JOURNAL, BATCHES, INPUTS, RUN_JSON, TIMELINE, STATE)


class WorkError(UsageError):
    """A WORK file that its reader cannot use (absent, unreadable, a key missing or mistyped): one line naming
    the file and the reason (exit 2: the folder given is not the WORK it should be)."""


def part_folder(part: int) -> str:
    """The folder of part P inside videos.parquet, faces.parquet and _journal (`part-P`, not Hive's `part=P`:
    `part` is a column already)."""
    return f"part-{part}"


def part_json(part: int) -> str:
    """The file of part P inside _batches and _inputs."""
    return f"part-{part}.json"


_PART_JSON = re.compile(r"part-(\d+)\.json")
_BATCH_NAME = re.compile(r"batch-(\d{5,})(?:\.parquet)?")


def part_of_json(name: str) -> int | None:
    """The part of a `part-P.json` name; None for any other name."""
    m = _PART_JSON.fullmatch(name)
    return int(m.group(1)) if m else None


@dataclass
class BatchId:
    """A batch of a part: its videos are one file in videos.parquet/part-P/ and one in faces.parquet/part-P/."""
    part: int
    index: int

    @property
    def name(self) -> str:
        """The batch's file name in videos.parquet/part-P/ and faces.parquet/part-P/."""
        return f"batch-{self.index:05d}.parquet"

    @property
    def journal_name(self) -> str:
        """The batch's folder name in _journal/part-P/."""
        return f"batch-{self.index:05d}"

    @staticmethod
    def index_of(name: str) -> int | None:
        """The index of a batch file name (`batch-NNNNN.parquet`) or a journal folder name (`batch-NNNNN`)."""
        m = _BATCH_NAME.fullmatch(name)
        return int(m.group(1)) if m else None


def open_parquet(folder: Path, what: str, need: tuple[str, ...]):
    """One of WORK's Parquet datasets (videos.parquet, faces.parquet, or a part of one) as a pyarrow dataset;
    WorkError (one line naming the folder or file) when it is absent, not Parquet, or its files lack a column of
    `need`. `what` says which it is in the message. A failing store stays a StorageError."""
    from dfprep.storage import StorageError, dataset as open_dataset

    if not folder.exists():
        raise WorkError(f"{folder}: not found; is this a WORK folder written by `dfprep ingest`? ({what})")
    try:
        found = open_dataset(folder, format="parquet")
    except StorageError:
        raise                           # the store failed: the run's error, not the file's
    except (pa.ArrowInvalid, OSError) as exc:
        raise WorkError(f"{folder}: cannot open as a Parquet dataset ({exc})") from None
    missing = [c for c in need if c not in found.schema.names] if found.files else []
    if missing:
        raise WorkError(f"{folder}: missing column(s) {missing}; not written by this dfprep version?")
    return found


def videos_dir(work: Path) -> Path:
    return as_path(work) / VIDEOS


def faces_dir(work: Path) -> Path:
    return as_path(work) / FACES


def run_json_path(work: Path) -> Path:
    return as_path(work) / RUN_JSON


def state_path(work: Path) -> Path:
    return as_path(work) / STATE


def timeline_path(work: Path) -> Path:
    return as_path(work) / TIMELINE


def journal_root(work: Path) -> Path:
    return as_path(work) / JOURNAL


def report_dir(work: Path) -> Path:
    return as_path(work) / REPORT
