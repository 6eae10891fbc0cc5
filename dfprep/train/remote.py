"""Reading train's and predict's inputs where they may be remote (dfprep.storage paths), and telling a failing
store apart from bad data.

What the shared Path-like interface leaves to this stage: a shard is streamed in one forward pass with a read
buffer (pyarrow's S3 stream issues a ranged GET per `read` without one, and a tar is read 512 bytes at a time),
over http(s) as one plain GET (fsspec's block cache needs Range requests, which simple static servers do not
serve); a folder is listed once with its entries' types (not one request per entry); a torch file is loaded from
its bytes; and any failure of the store while doing so becomes one `StorageError` line naming the object.

Filesystem clients are forgotten in a forked child (a DataLoader worker): a child must not share the parent's
pooled connections, and fsspec's http client refuses to run after a fork.
"""
from __future__ import annotations

import io
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dfprep.storage import AnyPath, RemotePath, StorageError, as_path, is_remote
from dfprep.train.errors import one_line

READ_BUFFER = 8 << 20      # a remote read buffer: one ranged GET per 8 MiB of a shard on S3/GCS/HDFS


def _forget_filesystems() -> None:
    """After a fork: new clients in the child (reaches into dfprep.storage.uri until that layer does this itself)."""
    from dfprep.storage import uri

    uri._FS.clear()
    uri._LOCK = threading.Lock()       # a lock held by another thread at the fork would never be released here


os.register_at_fork(after_in_child=_forget_filesystems)


def _why(exc: BaseException) -> str:
    return one_line(exc) or type(exc).__name__


@contextmanager
def store_errors(p: AnyPath, doing: str = "read from") -> Iterator[None]:
    """An OSError from a remote path's store becomes a StorageError naming the path; local paths, a missing
    object (FileNotFoundError) and dfprep's own errors pass through unchanged."""
    try:
        yield
    except (StorageError, FileNotFoundError):
        raise
    except OSError as exc:
        if not is_remote(p):
            raise
        raise StorageError(f"{p}: cannot {doing} the store: {_why(exc)}") from None


class RemoteStream:
    """A remote object read once, forward: `read(n)` returns n bytes unless the object ends first (so a tar reader
    can tell truncation from a short network read); any failure of the store is a StorageError naming it."""

    def __init__(self, p: RemotePath):
        self.p = p
        try:
            if p.scheme in ("http", "https"):
                import fsspec

                self.fh = fsspec.filesystem(p.scheme).open(p.uri, "rb", block_size=0)   # one streamed GET
            else:
                self.fh = p.fs.open_input_stream(p.fs_path, buffer_size=READ_BUFFER)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001 - aiohttp's errors are not all OSErrors
            raise StorageError(f"{p}: cannot read from the store: {_why(exc)}") from None

    def read(self, n: int = -1) -> bytes:
        try:
            if n is None or n < 0:
                return self.fh.read()
            parts, got = [], 0
            while got < n:
                data = self.fh.read(n - got)
                if not data:
                    break
                parts.append(data)
                got += len(data)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        except Exception as exc:  # noqa: BLE001 - whatever the client raises, the store failed mid-object
            raise StorageError(f"{self.p}: cannot read from the store: {_why(exc)}") from None

    def close(self) -> None:
        try:
            self.fh.close()
        except Exception:  # noqa: BLE001 - closing a stream whose store went away
            pass

    def __enter__(self) -> "RemoteStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_bytes(p: AnyPath) -> bytes:
    """A whole (small) file's bytes, local or remote."""
    if not is_remote(p):
        return Path(p).read_bytes()
    with RemoteStream(p) as fh:
        return fh.read()


def torch_load(p: AnyPath, map_location="cpu"):
    """torch.load(weights_only=True) of a local file, or of a remote object's bytes."""
    import torch

    source = io.BytesIO(read_bytes(p)) if is_remote(p) else p
    return torch.load(source, map_location=map_location, weights_only=True)


def list_folder(folder: AnyPath) -> list[tuple[AnyPath, bool]]:
    """(entry, is a folder) for every entry of `folder`, sorted; a remote folder in one listing request."""
    folder = as_path(folder)
    if not is_remote(folder):
        return sorted((c, c.is_dir()) for c in Path(folder).iterdir())
    import pyarrow.fs as pafs

    if folder.scheme in ("http", "https"):
        raise StorageError(f"{folder}: an http(s) location cannot be listed; copy the videos to a folder or a "
                           "bucket")
    with store_errors(folder):
        infos = folder.fs.get_file_info(pafs.FileSelector(folder.fs_path, allow_not_found=True))
    return sorted((folder / i.base_name, i.type == pafs.FileType.Directory) for i in infos
                  if i.type in (pafs.FileType.File, pafs.FileType.Directory))


def exists_as(p: AnyPath, kind: str) -> bool:
    """p.is_file() / p.is_dir() with a failing store reported as such."""
    with store_errors(p):
        return p.is_file() if kind == "file" else p.is_dir()
