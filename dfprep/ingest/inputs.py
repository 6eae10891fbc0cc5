"""Is a listed video still the file that was ingested? Content identity, the rsync way.

A processed row of videos.parquet records the size of the file it was made from (`bytes`) and `head_tail_sha256`,
a cheap content hash (the size, the first and the last `HEAD_TAIL_BYTES`), computed by the worker from the very
bytes it decodes. A modification time is not content, so it is not in the row (the rows of one file are the same
whatever disk or store it sits on); it lives in WORK/_inputs/part-P.json (`dfprep.formats.work.inputs`), a cache
of the (size, mtime_ns, hash) last seen for each video, so that an untouched file is recognised without being
read. At resume:

- size differs from the row's: the file changed, the video is redone;
- size and mtime equal to the cache's, for the row's hash: the same file;
- otherwise (a copy on a new disk, a `touch`, a replacement of the same size): the current file's hash is
  compared with the row's.

A row written before hashes were recorded (null `head_tail_sha256`) takes the file found on the first check to be
the one ingested (unless its size differs) and caches its hash as the row's stand-in.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from dfprep.formats.work.inputs import read_stamps, write_stamps
from dfprep.formats.work.videos import HASH
from dfprep.dataset import Status, VideoEntry
from dfprep.storage import StorageError, as_path

HEAD_TAIL_BYTES = 64 << 10      # covers the mp4 header (ftyp, moov when at the front) and the first frame's bytes


def head_tail_sha256(path) -> tuple[int, str]:
    """(size, sha256 of the size, the first and the last HEAD_TAIL_BYTES) of a local or remote file."""
    with as_path(path).open("rb") as fh:
        size = fh.seek(0, 2)
        h = hashlib.sha256(f"{size}\0".encode())
        fh.seek(0)
        h.update(fh.read(HEAD_TAIL_BYTES))
        if size > HEAD_TAIL_BYTES:
            fh.seek(max(HEAD_TAIL_BYTES, size - HEAD_TAIL_BYTES))
            h.update(fh.read(HEAD_TAIL_BYTES))
    return size, h.hexdigest()


class SameFile:
    """`same(row, entry)`: is the listed file of `entry` (size and mtime from discovery) the one `row` was made
    from? Remembers each stamp it confirmed, for the cache written at the end of the run."""

    def __init__(self, work: Path):
        self.work = work
        self._stamps: dict[int, dict[str, tuple]] = {}
        self.confirmed: dict[tuple[int, str], tuple] = {}

    def stamps(self, part: int) -> dict[str, tuple]:
        if part not in self._stamps:
            self._stamps[part] = read_stamps(self.work, part)
        return self._stamps[part]

    def __call__(self, row: dict, entry: VideoEntry) -> bool:
        size, mtime = entry.size, entry.mtime_ns
        if size is None:
            return True                 # nothing is known of the file now: the row stands
        if row.get("bytes") is not None and row["bytes"] != size:
            return False
        cached = self.stamps(entry.part).get(entry.video)
        ref = row.get(HASH) or (cached[2] if cached else None)
        key = (entry.part, entry.video)
        if cached is not None and mtime is not None and cached == (size, mtime, ref):
            self.confirmed[key] = cached
            return True
        try:
            now_size, now = head_tail_sha256(entry.path)
        except StorageError:
            raise
        except OSError:
            return False                # unreadable now: processing it records why
        if now_size == size and (ref is None or now == ref):
            self.confirmed[key] = (size, mtime, now)
            return True
        return False


def record_stamps(work: Path, same: SameFile, entries: list[VideoEntry], rows: list[dict]) -> None:
    """Write each part's cache: the stamps confirmed this run, and for rows made this run the size and mtime
    discovery saw with the hash the worker computed (when the sizes agree). Unchanged caches are not rewritten."""
    found = {(e.part, e.video): e for e in entries if e.status is Status.PENDING and e.size is not None}
    by_part: dict[int, dict[str, tuple]] = {p: {} for p in {e.part for e in entries}}
    for r in rows:
        key = (r["part"], r["video"])
        e = found.get(key)
        if e is None or r["part"] not in by_part:
            continue
        if key in same.confirmed:
            by_part[r["part"]][r["video"]] = same.confirmed[key]
        elif r.get(HASH) and r.get("bytes") == e.size and e.mtime_ns is not None:
            by_part[r["part"]][r["video"]] = (e.size, e.mtime_ns, r[HASH])
    for part, stamps in by_part.items():
        if stamps != same.stamps(part):
            write_stamps(work, part, stamps)
