"""Write-then-rename helpers: a reader (or a resumed run) never sees a half-written output.

Local paths are written to a sibling temporary name and renamed. Remote ones (dfprep.storage.RemotePath) are
written to a local temporary file, uploaded to a temporary key and moved onto the final key."""
from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from dfprep.storage import is_remote
from dfprep.storage.remote import TMP_MARK



def tmp_name(path):
    """A sibling temporary name; same folder so the final rename is atomic on one filesystem."""
    path = path if is_remote(path) else Path(path)
    return path.with_name(f"{TMP_MARK}{uuid.uuid4().hex[:8]}-{path.name}")


@contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it onto `path` only if the block succeeds.

    For a remote `path` the temporary is a local file, uploaded when the block succeeds (a folder written there
    is refused: object stores have no atomic folder rename)."""
    if is_remote(path):
        with _remote_atomic(path) as tmp:
            yield tmp
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _remote_atomic(path) -> Iterator[Path]:
    from dfprep.storage import spool_dir, upload_file

    tmp = spool_dir() / f"{TMP_MARK}{uuid.uuid4().hex[:8]}-{path.name}"
    try:
        yield tmp
        if tmp.is_dir():
            raise IsADirectoryError(f"{path}: a folder cannot be written atomically to object storage")
        upload_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path, data: bytes) -> None:
    if is_remote(path):
        path.write_bytes(data)
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def write_parquet(path, table: pa.Table, row_group_size: int | None = None) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size, compression="zstd")


def remove_stale_tmp(root) -> int:
    """Delete temporaries left by an interrupted run; nothing trusts them."""
    n = 0
    if is_remote(root):
        for p in list(root.rglob(f"{TMP_MARK}*")):
            p.unlink(missing_ok=True)
            n += 1
        return n
    if not Path(root).exists():
        return 0
    for p in Path(root).rglob(f"{TMP_MARK}*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


def missing_folders(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, deepest first: what mkdir(parents=True) will make."""
    made = []
    for p in (Path(path), *Path(path).parents):
        if p.exists():
            break
        made.append(p)
    return made


def remove_if_empty(made: list[Path]) -> None:
    """Remove folders a run made, deepest first, as long as each is empty (a refused run leaves none behind)."""
    for p in made:
        try:
            p.rmdir()
        except OSError:
            return
