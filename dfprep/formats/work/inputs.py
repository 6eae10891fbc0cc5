"""WORK/_inputs/part-P.json: the cache of what each listed file looked like when its row was last checked,
`{"part": P, "files": {video: [size, mtime_ns, head_tail_sha256]}}` (`dfprep.ingest.inputs` decides what it means)."""
from __future__ import annotations

import json
from pathlib import Path

from dfprep.atomic import write_json
from dfprep.formats.work.names import INPUTS, part_json
from dfprep.storage import StorageError, as_path


def stamps_file(work: Path, part: int) -> Path:
    return as_path(work) / INPUTS / part_json(part)


def read_stamps(work: Path, part: int) -> dict[str, tuple]:
    """{video: (size, mtime_ns, hash)} last seen for a part; {} when absent or unreadable (it is only a cache:
    a miss costs reading the file's head and tail, never a wrong answer)."""
    path = stamps_file(work, part)
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
        return {k: tuple(v) for k, v in data.get("files", {}).items() if isinstance(v, list) and len(v) == 3}
    except StorageError:
        raise                           # the store failed: the run's error, never a reason to redo videos
    except (OSError, ValueError, AttributeError):
        return {}


def write_stamps(work: Path, part: int, stamps: dict[str, tuple]) -> None:
    write_json(stamps_file(work, part), {"part": part, "files": {k: list(stamps[k]) for k in sorted(stamps)}})
