"""Find DFDC parts, read and validate their metadata.json, and list what each video's fate will be.

Pure functions over the file system; no video is opened here. Every metadata key, and every video file
present on disk, becomes exactly one entry (a `VideoEntry`, which becomes a row of videos.parquet).
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from dfprep.dataset import VIDEO_EXTS, MetadataError, Status, VideoEntry, key_problem, metadata_entries, \
    part_folders, read_metadata
from dfprep.errors import UsageError
from dfprep.storage import as_path, entries, is_remote


class IngestUsageError(UsageError):
    """A misuse that stops the run before it starts (no ROOT, no parts)."""


def parse_parts(spec: str | None) -> set[int] | None:
    """'0,3-5' -> {0, 3, 4, 5}; None or '' -> None (all parts)."""
    if not spec:
        return None
    out: set[int] = set()
    for tok in spec.split(","):
        tok = tok.strip()
        if not tok:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", tok)
        if not m:
            raise IngestUsageError(f"bad part spec {tok!r} in {spec!r}; expected e.g. 0,3-5")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise IngestUsageError(f"bad part range {tok!r}: {hi} < {lo}")
        out.update(range(lo, hi + 1))
    return out


def find_parts(root: Path, parts: set[int] | None = None) -> dict[int, Path]:
    """Part number -> folder, for every `dfdc_train_part_N` under root (or the selected ones)."""
    root = as_path(root)
    if not root.is_dir():
        raise IngestUsageError(f"ROOT {root} does not exist or is not a folder")
    found = part_folders(entries(root))
    if parts is not None:
        absent = sorted(parts - found.keys())
        if absent and not (parts & found.keys()):
            raise IngestUsageError(f"none of the selected parts {sorted(parts)} exist under {root}")
        found = {n: p for n, p in found.items() if n in parts}
    if not found:
        raise IngestUsageError(f"no dfdc_train_part_* folders under {root}")
    return dict(sorted(found.items()))


NOT_REGULAR = "not a regular file"
CANNOT_STAT = "cannot stat the file"
# The `error` reasons discovery gives a listed name before any opening (`file_problem`): such a row was never
# processed, so once the name is a regular file a rerun processes it (`dfprep.ingest.batching`).
DISCOVERY_ERRORS = (NOT_REGULAR, CANNOT_STAT)
MISSING = "listed in metadata.json but the file is absent"

_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def escape(path: Path, root: Path | None) -> str | None:
    """Where `path` leads when it resolves (through symlinks) to a place outside `root`; None if it stays."""
    if root is None or is_remote(path):      # object stores have no symlinks
        return None
    real, base = os.path.realpath(path), os.path.realpath(root)
    try:
        inside = os.path.commonpath([base, real]) == base
    except ValueError:                                  # different drives (Windows)
        inside = False
    return None if inside else f"symlink leaves ROOT: -> {real}"


def file_problem(path: Path) -> tuple[Status, str] | None:
    """(status, reason) when a listed path is no regular file to open (absent, a FIFO, a device...), else None.

    Only stat is called: a FIFO, socket or device is never opened (opening a FIFO blocks forever)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Status.MISSING, MISSING
    except OSError as exc:
        return Status.ERROR, f"{CANNOT_STAT} ({exc.strerror or exc})"
    if stat.S_ISREG(st.st_mode):
        return None
    kind = next((name for test, name in _KINDS if test(st.st_mode)), "unknown type")
    return Status.ERROR, f"{NOT_REGULAR} ({kind}); never opened"


def read_part(part: int, folder: Path, root: Path | None = None) -> tuple[list[VideoEntry], list[str]]:
    """Entries for one part (sorted by video name) and part-level problems.

    With `root`, a listed file or the metadata.json that resolves outside it (a symlink) is rejected;
    None follows symlinks anywhere (`--follow-symlinks`). A remote part is listed once (names and sizes)."""
    problems: list[str] = []
    meta_path = folder / "metadata.json"
    listing = _remote_listing(folder) if is_remote(folder) else None
    try:
        leaves = escape(meta_path, root) if listing is None and os.path.lexists(meta_path) else None
        if leaves:
            raise MetadataError(f"{leaves}; never opened")
        data, dupes = read_metadata(meta_path)
    except MetadataError as exc:
        problems.append(f"{meta_path}: {exc}; its videos are reported as unlisted")
        data, dupes = {}, []
    for k in sorted(set(dupes)):
        problems.append(f"{folder / 'metadata.json'}: key {k!r} appears more than once; the last one is used")
    entries = metadata_entries(data, part)
    listed = {e.video for e in entries if key_problem(e.video) is None}
    for e in entries:
        if e.status is not Status.PENDING:
            continue
        path = folder / e.video
        if listing is not None:
            bad = _remote_problem(listing.get(e.video))
        else:
            leaves = escape(path, root) if os.path.lexists(path) else None
            bad = (Status.REJECTED, f"{leaves}; never opened") if leaves else file_problem(path)
        if bad:
            e.status, e.error = bad
        else:
            e.path = str(path)
            e.size, e.mtime_ns = _stamp(path) if listing is None else listing[e.video][1:]
    names = sorted(listing) if listing is not None else [c.name for c in sorted(folder.iterdir())]
    for name in names:
        child = folder / name
        is_file = listing[name][0] if listing is not None else child.is_file()
        if Path(name).suffix.lower() in VIDEO_EXTS and is_file and name not in listed:
            entries.append(VideoEntry(name, part, status=Status.UNLISTED, path=str(child),
                                      error="video file present but not listed in metadata.json",
                                      size=listing[name][1] if listing is not None else None))
    entries.sort(key=lambda e: (e.video, e.status.value))
    return entries, problems


def _remote_listing(folder) -> dict[str, tuple[bool, int, int | None]]:
    """name -> (is an object, size, mtime_ns) for a remote part folder, in one listing (not a request per video)."""
    return {p.name: (not is_dir, size, mtime) for p, is_dir, size, mtime in folder.entries(mtimes=True)}


def _stamp(path: Path) -> tuple[int | None, int | None]:
    """A listed local file's (size, modification time in ns): what `dfprep.ingest.inputs` compares at resume."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def _remote_problem(found: tuple[bool, int] | None) -> tuple[Status, str] | None:
    if found is None:
        return Status.MISSING, MISSING
    return None if found[0] else (Status.ERROR, f"{NOT_REGULAR} (directory); never opened")


def check_originals(entries: list[VideoEntry]) -> list[str]:
    """Flag FAKEs whose original is not a REAL entry of the dataset (they stay usable; it is a warning)."""
    reals = {(e.part, e.video) for e in entries if e.label == "REAL" and e.status is not Status.REJECTED}
    reals_any = {v for _, v in reals}
    problems = []
    for e in entries:
        if e.label != "FAKE" or e.status is Status.REJECTED:
            continue
        orig = e.original
        if not orig:
            msg = "FAKE entry has no original"
        elif (e.part, orig) in reals:
            continue
        elif orig in reals_any:
            msg = f"original {orig!r} is a REAL entry of another part"
        else:
            msg = f"original {orig!r} is not a REAL entry of the dataset"
        e.warning = msg if not e.warning else f"{e.warning}; {msg}"
        problems.append(f"part {e.part} {e.video}: {msg}")
    return problems


def discover(root: Path, parts: set[int] | None = None,
             follow_symlinks: bool = False) -> tuple[list[VideoEntry], list[str]]:
    """All entries of the selected parts, sorted by (part, video), and the problems found.

    Without `follow_symlinks`, a part folder, metadata.json or listed video that is a symlink leading out of
    ROOT is refused with the target named (a part: a problem, the part skipped; a video: `rejected`)."""
    entries: list[VideoEntry] = []
    problems: list[str] = []
    inside = None if follow_symlinks or is_remote(as_path(root)) else Path(root)
    for n, folder in find_parts(root, parts).items():
        leaves = escape(folder, inside)
        if leaves:
            problems.append(f"{folder}: {leaves}; part skipped, never opened (--follow-symlinks allows it)")
            continue
        e, p = read_part(n, folder, inside)
        entries += e
        problems += p
    problems += check_originals(entries)
    return entries, problems
