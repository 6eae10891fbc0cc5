"""One filesystem layer for every path argument: `as_path(arg)` gives a local `Path` or a `RemotePath`.

Stages read and write through the small Path-like interface both share, plus the helpers here for what pathlib
cannot express: pyarrow datasets on the right filesystem, a local copy of a remote file for a decoder that needs
one, and the error that says the store itself (not the data) failed.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from dfprep.storage.errors import StorageError, store_failures
from dfprep.storage.remote import TMP_MARK, RemotePath
from dfprep.storage.uri import MissingBucket, UnsupportedURI, local_path_of_file_uri, split_uri

AnyPath = Union[Path, RemotePath]

__all__ = ["AnyPath", "RemotePath", "StorageError", "UnsupportedURI", "MissingBucket", "as_path", "is_remote", "arrow_source",
           "dataset", "local_copy", "upload_file", "spool_dir", "store_failures", "rmtree", "relative",
           "parquet_file", "entries"]


def as_path(arg: "str | os.PathLike | RemotePath | None") -> "AnyPath | None":
    """A path argument as a local Path or a RemotePath; UnsupportedURI for a scheme dfprep does not serve."""
    if arg is None or isinstance(arg, (RemotePath, Path)):
        return arg
    text = os.fspath(arg)
    parsed = split_uri(text)
    if parsed is None:
        return Path(text)
    scheme, rest = parsed
    if scheme == "file":
        return local_path_of_file_uri(rest)
    return RemotePath(scheme, rest)


def is_remote(p) -> bool:
    return isinstance(p, RemotePath)


def arrow_source(p: AnyPath) -> tuple[object | None, str]:
    """(filesystem, path) to hand pyarrow: None and the local name for a local path."""
    if isinstance(p, RemotePath):
        return p.fs, p.fs_path
    return None, str(p)


def dataset(p: AnyPath, **kwargs):
    """pyarrow.dataset.dataset over a local or remote Parquet folder or file."""
    import pyarrow.dataset as ds

    fs, path = arrow_source(p)
    return ds.dataset(path, filesystem=fs, **kwargs)


def staging_dir() -> str | None:
    """Where local working copies of remote outputs go (a RUN being trained, predict's journal):
    DFPREP_STAGING_DIR (made if absent; on a cluster, a folder every node sees), else None (the system temp)."""
    base = os.environ.get("DFPREP_STAGING_DIR") or None
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    return base


def spool_dir() -> Path:
    """Where remote inputs are copied for decoders that need a file: DFPREP_SPOOL_DIR, else the system temp."""
    base = Path(os.environ.get("DFPREP_SPOOL_DIR") or tempfile.gettempdir()) / "dfprep-spool"
    base.mkdir(parents=True, exist_ok=True)
    return base


@contextmanager
def local_copy(p: AnyPath, max_bytes: int | None = None) -> Iterator[Path]:
    """A local file holding `p`'s bytes for the block: `p` itself when local, else a spool copy deleted after.

    One object at a time per caller, so the spool holds at most the videos in flight; `max_bytes` refuses an
    object larger than the caller will handle before any byte is fetched."""
    if not isinstance(p, RemotePath):
        yield Path(p)
        return
    import pyarrow.fs as pafs

    size = p.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise ValueError(f"{p}: {size} bytes is over the spool limit of {max_bytes} bytes")
    fd, name = tempfile.mkstemp(prefix="v-", suffix=p.suffix, dir=spool_dir())
    os.close(fd)
    try:
        with store_failures(p):
            pafs.copy_files(p.fs_path, name, source_filesystem=p.fs,
                            destination_filesystem=pafs.LocalFileSystem(), use_threads=False)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def upload_file(local: Path, dest: RemotePath) -> None:
    """Copy a finished local file to `dest` through a temporary key, so `dest` only ever holds it whole."""
    import pyarrow.fs as pafs
    import uuid

    tmp = dest.with_name(f"{TMP_MARK}{uuid.uuid4().hex[:8]}-{dest.name}")
    try:
        with store_failures(dest, "write to"):
            pafs.copy_files(str(local), tmp.fs_path, source_filesystem=pafs.LocalFileSystem(),
                            destination_filesystem=dest.fs, use_threads=False)
            dest.fs.move(tmp.fs_path, dest.fs_path)
    except BaseException:
        try:
            dest.fs.delete_file(tmp.fs_path)
        except Exception:
            pass
        raise


def rmtree(p: AnyPath) -> None:
    if isinstance(p, RemotePath):
        p.rmtree()
    elif Path(p).is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        Path(p).unlink(missing_ok=True)


def relative(p: AnyPath, base: AnyPath) -> str:
    """`p`'s name under `base`, with forward slashes, for a local or a remote path."""
    rel = p.relative_to(base)
    return rel if isinstance(rel, str) else rel.as_posix()


def parquet_file(p: AnyPath):
    """pyarrow.parquet.ParquetFile of a local or remote file (remote: ranged reads of the footer and the row
    groups asked for, not the whole object)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(p.open("rb") if isinstance(p, RemotePath) else p)


def entries(folder: AnyPath) -> list[tuple[AnyPath, bool]]:
    """(entry, is a folder) of every entry of a local or remote folder, sorted; a remote one in one request."""
    if isinstance(folder, RemotePath):
        return [(p, is_dir) for p, is_dir, _ in folder.entries()]
    return sorted((c, c.is_dir()) for c in Path(folder).iterdir())
