"""Listing a dataset's files under ingest's rules for hostile inputs, for layouts that find videos by walking
their folders (every layout but DFDC's, which lists metadata keys).

A file with a wanted extension becomes one entry: pending when it is a regular file inside ROOT; `rejected`
when it is a symlink resolving outside ROOT (unless --follow-symlinks); `error` when it is a FIFO, socket,
device or folder (only stat is called: a FIFO is never opened). A folder symlink leading out of ROOT is not
entered, and says so. Names are POSIX paths relative to ROOT (`dfprep.dataset.video_name_problem`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dfprep.dataset import Status, VideoEntry
from dfprep.errors import DataError
from dfprep.ingest.discover import escape, file_problem
from dfprep.storage import as_path, is_remote


class DatasetFileError(DataError):
    """A dataset's own file (a split list, a labels CSV, a metadata JSON) that cannot be read as its format."""


@dataclass(frozen=True)
class Listed:
    """A file found under ROOT: its POSIX path inside ROOT, and its stamps where the listing gave them."""
    rel: str
    size: int | None = None
    mtime_ns: int | None = None


@dataclass
class Tree:
    """The files under ROOT with the wanted extensions (`files`: rel -> Listed), and the problems met."""
    root: object
    files: dict
    problems: list
    inside: Path | None       # ROOT's own path for the containment rule; None with --follow-symlinks or remote

    def under(self, prefix: str) -> list[str]:
        """The rel paths of the files below the folder `prefix` (POSIX, no trailing /), sorted."""
        p = prefix.rstrip("/") + "/"
        return sorted(r for r in self.files if r.startswith(p))

    def entry(self, rel: str, dataset: str, part: int, **fields) -> VideoEntry:
        """A VideoEntry for `rel` (listed or not: a name a list gives may be absent), hostile rules applied."""
        return make_entry(self.root, rel, dataset, part, self.inside, self.files.get(rel), **fields)


def make_entry(root, rel: str, dataset: str, part: int, inside: Path | None, listed: Listed | None = None,
               **fields) -> VideoEntry:
    """One entry, its file checked as DFDC's are (`dfprep.ingest.discover`): missing, not regular, a symlink
    leaving ROOT."""
    from dfprep.dataset import video_name_problem

    e = VideoEntry(rel, part, dataset=dataset, **fields)
    if why := video_name_problem(part, rel):
        e.status, e.error = Status.REJECTED, f"{why}; never opened"
        return e
    path = as_path(root) / rel
    if is_remote(path):
        if listed is None:
            e.status, e.error = Status.MISSING, "listed by the dataset's files but the file is absent"
        else:
            e.path, e.size, e.mtime_ns = str(path), listed.size, listed.mtime_ns
        return e
    leaves = escape(path, inside) if inside is not None and os.path.lexists(path) else None
    bad = (Status.REJECTED, f"{leaves}; never opened") if leaves else file_problem(path)
    if bad:
        e.status, e.error = bad
        if e.status is Status.MISSING:
            e.error = "listed by the dataset's files but the file is absent"
        return e
    st = os.stat(path)
    e.path, e.size, e.mtime_ns = str(path), st.st_size, st.st_mtime_ns
    return e


def list_tree(root, exts: set[str], follow_symlinks: bool = False, under: str = "") -> Tree:
    """Every file below ROOT/under whose extension (lower case) is in `exts`, any depth, by rel path; hidden
    names (`.x`) are skipped. Local: os.walk, a folder symlink leaving ROOT not entered (a problem); remote: one
    recursive listing."""
    root = as_path(root)
    start = root / under if under else root
    files: dict[str, Listed] = {}
    problems: list[str] = []
    if is_remote(root):
        if start.is_dir():
            for p, size, mtime in start.walk_files():
                rel = p.relative_to(root)
                if Path(rel).suffix.lower() in exts and not any(s.startswith(".") for s in rel.split("/")):
                    files[rel] = Listed(rel, size, mtime)
        return Tree(root, files, problems, None)
    inside = None if follow_symlinks else Path(os.path.realpath(root))
    for folder, dirs, names in os.walk(start, followlinks=True):
        keep = []
        for d in sorted(dirs):
            full = os.path.join(folder, d)
            if d.startswith("."):
                continue
            if inside is not None and os.path.islink(full) and (leaves := escape(Path(full), inside)):
                problems.append(f"{full}: {leaves}; folder skipped, never opened (--follow-symlinks allows it)")
                continue
            keep.append(d)
        dirs[:] = keep
        for n in names:
            if n.startswith(".") or Path(n).suffix.lower() not in exts:
                continue
            rel = os.path.relpath(os.path.join(folder, n), root).replace(os.sep, "/")
            files[rel] = Listed(rel)
    return Tree(root, dict(sorted(files.items())), problems, inside)


def read_json_file(path, what: str):
    """A dataset's JSON file, or DatasetFileError naming it and why (absent, unreadable, not JSON)."""
    path = as_path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: {what} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetFileError(f"{path}: {what} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise DatasetFileError(f"{path}: {what} cannot be read ({exc.strerror or exc})") from None


def read_text(path, what: str) -> str:
    """A dataset's text file (UTF-8, a byte-order mark dropped: spreadsheet exports carry one); DatasetFileError
    naming it and `what` it is when it is absent or cannot be read."""
    path = as_path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetFileError(f"{path}: {what} is missing") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise DatasetFileError(f"{path}: {what} cannot be read ({exc})") from None


def csv_cells(text: str, path, what: str) -> list[list[str]]:
    """Every row of a dataset's CSV text as cells; DatasetFileError naming the file and line when the csv module
    refuses it (a field over its size limit, a NUL byte...)."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text))
    try:
        return list(reader)
    except csv.Error as exc:
        raise DatasetFileError(f"{path}: {what} line {reader.line_num} cannot be read as CSV ({exc})") from None


def read_lines(path, what: str) -> list[str]:
    """A dataset's text list, stripped, blank lines dropped; DatasetFileError naming it when it cannot be read."""
    return [ln.strip() for ln in read_text(path, what).splitlines() if ln.strip()]
