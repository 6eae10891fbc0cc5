"""What `dfprep predict` scores: every `*.mp4` entry of INPUT, each either a regular file to decode or an entry
refused with its reason (never opened), so the submission has a row for every entry a scorer expects."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dfprep.dataset import VIDEO_EXTS, Status, part_folders

from dfprep.errors import UsageError
from dfprep.storage import AnyPath, as_path, entries, is_remote


class PredictError(UsageError, ValueError):
    """Unusable input (no videos, clashing names, bad option): the message names the path and the reason."""


@dataclass(frozen=True)
class Inputs:
    """What INPUT lists: `videos`, the regular files to decode; `refused`, {file name: why it is never opened}
    for every other `*.mp4` entry (a FIFO, a folder, a symlink loop or one that leaves INPUT). Each gets a row."""
    videos: list
    refused: dict
    identity: dict          # {file name: {"size", "mtime"}} of each local video as listed: the bytes scored


def list_inputs(input: AnyPath, follow_symlinks: bool = False) -> Inputs:
    """Every *.mp4 entry of INPUT and of its dfdc_train_part_* folders (so INPUT may be a folder of mp4s, one DFDC
    part, or a ROOT of parts), sorted by name. Two entries with one file name are an error: a submission row is
    keyed by file name alone. INPUT may be remote (s3://, gs://, hdfs://): one listing per folder.

    An entry is checked as ingest checks a listed video (`dfprep.ingest.discover`), with stat only: one that is
    no regular file is never opened (opening a FIFO blocks forever), and one that is a symlink leading out of
    INPUT is refused unless `follow_symlinks`; each is in `refused` with its reason."""
    from dfprep.ingest.discover import escape, file_problem

    input = as_path(input)
    if not input.is_dir():
        raise PredictError(f"{input}: not a folder (expected a folder of mp4s, a DFDC part or a ROOT of parts)")
    top = entries(input)
    folders = [(input, top)] + [(c, entries(c)) for c in part_folders(top).values()]
    inside = None if follow_symlinks or is_remote(input) else Path(input)
    seen: dict[str, AnyPath] = {}
    refused: dict[str, str] = {}
    for folder, listed in folders:
        for p, is_dir in listed:
            if p.suffix.lower() not in VIDEO_EXTS:
                continue
            if p.name in seen:
                raise PredictError(f"{p} and {seen[p.name]} share the file name {p.name!r}; a submission "
                                   "has one row per file name: predict the parts separately")
            seen[p.name] = p
            why = _entry_problem(p, is_dir, inside, escape, file_problem)
            if why:
                refused[p.name] = why
    if not seen:
        raise PredictError(f"{input}: no .mp4 files in it or in dfdc_train_part_* folders below it")
    videos = [seen[n] for n in sorted(seen) if n not in refused]
    return Inputs(videos, dict(sorted(refused.items())), {p.name: _identity(p) for p in videos if not is_remote(p)})


def _identity(p: Path) -> dict:
    st = p.stat()
    return {"size": st.st_size, "mtime": st.st_mtime}


def _entry_problem(p: AnyPath, is_dir: bool, inside: Path | None, escape, file_problem) -> str | None:
    if is_remote(p):
        return "not a regular file (a folder); never opened" if is_dir else None
    leaves = escape(p, inside) if inside is not None else None
    if leaves:      # ingest's words name its ROOT; here the folder is INPUT
        return f"{leaves.replace('ROOT', 'INPUT', 1)}; never opened (--follow-symlinks to read it)"
    bad = file_problem(p)
    if bad and bad[0] is Status.MISSING:               # ingest's words are about metadata.json; here a broken link
        return "the entry leads to no file (a broken symlink); never opened"
    return bad[1] if bad else None


def list_videos(input: AnyPath, follow_symlinks: bool = False) -> list[AnyPath]:
    """The regular video files of INPUT (`list_inputs`), sorted by name."""
    return list_inputs(input, follow_symlinks).videos
