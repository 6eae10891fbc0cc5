"""The one rule for a file name that a record names inside its own folder.

A metadata.json key (a video in its part folder), a shard in SHARDS/index.json or a wids description, a file a
run record lists: each is joined to the folder its record lives in, so each must be a plain name inside that
folder. An absolute path, a URI (`s3://other/x.tar`), a `..` segment or a path separator would make a reader
open something outside the folder (and a local and a remote reader disagree on what), so every reader refuses
them with `name_problem`, before anything is opened.
"""
from __future__ import annotations

import os
import re

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|[A-Za-z]:)")     # s3://, file://, http://, and C: (a drive)
MAX_NAME_BYTES = 255


def name_problem(name: object) -> str | None:
    """Why `name` is not a plain file name inside its folder (e.g. "is an absolute path"), or None when it is."""
    if not isinstance(name, str) or not name:
        return "is not a non-empty string"
    if "\x00" in name:
        return "contains a NUL byte"
    if name.startswith(("/", "\\")) or os.path.isabs(name):
        return "is an absolute path"
    if _SCHEME.match(name):
        return "has a scheme or drive (a URI or another disk, not a name inside the folder)"
    if ".." in re.split(r"[/\\]", name) or name == ".":
        return "is or contains a relative path component (. or ..)"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes (a file name cannot be)"
    return None


def relpath_problem(name: object) -> str | None:
    """Why `name` is not a relative path that stays inside its root (a video of a dataset other than DFDC is
    named by its path inside the dataset's root, `a/b/c.mp4`), or None when it is: `/` separates segments, each
    a plain name (`name_problem`); no backslash, absolute path, scheme, `.` or `..`."""
    if not isinstance(name, str) or not name:
        return "is not a non-empty string"
    if "\\" in name:
        return "contains a backslash (segments are separated by /)"
    if name.startswith("/") or os.path.isabs(name):
        return "is an absolute path"
    if _SCHEME.match(name):
        return "has a scheme or drive (a URI or another disk, not a path inside the root)"
    for seg in name.split("/"):
        why = name_problem(seg)
        if why:
            return f"has a segment {seg!r} that {why}"
    return None


def join_plain(folder, name: str, error: type[Exception], what: str):
    """`folder / name` when `name` is a plain name (`name_problem`); else `error` with one line naming the
    folder, the name and why. `folder` may be a local Path or a dfprep.storage RemotePath."""
    why = name_problem(name)
    if why:
        raise error(f"{folder}: {what} {name!r} {why}; refused, never opened")
    return folder / name
