"""RemotePath: the part of pathlib.Path's interface dfprep uses, over a pyarrow filesystem.

Code that reads and writes through `as_path(arg)` works on a local `Path` or a `RemotePath` alike. A RemotePath
pickles as its URI (a Ray worker rebuilds the filesystem from its own environment), has no `__fspath__` (so no
local API is handed a remote name by mistake), and writes only whole objects: `write_bytes` goes to a temporary
key and is moved onto the final one, so no reader ever sees half an object. Every failure of the store is a
StorageError naming the path (`store_failures`); a missing object stays a FileNotFoundError.
"""
from __future__ import annotations

import posixpath
import re
import uuid
from types import SimpleNamespace
from typing import Iterator

from dfprep.storage.errors import store_failures
from dfprep.storage.uri import READ_ONLY_SCHEMES, MissingBucket, filesystem

TMP_MARK = ".tmp-"
BUCKET_SCHEMES = ("s3", "gs")


class RemotePath:
    __slots__ = ("scheme", "rest")
    is_remote = True

    def __init__(self, scheme: str, rest: str):
        self.scheme = scheme
        self.rest = rest.strip("/")

    # --- names ---------------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.rest}"

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"RemotePath({self.uri!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RemotePath) and (self.scheme, self.rest) == (other.scheme, other.rest)

    def __lt__(self, other) -> bool:
        return (self.scheme, self.rest) < (other.scheme, other.rest)

    def __hash__(self) -> int:
        return hash((self.scheme, self.rest))

    def __reduce__(self):
        return (RemotePath, (self.scheme, self.rest))

    def __truediv__(self, other) -> "RemotePath":
        other = str(other).strip("/")
        return RemotePath(self.scheme, f"{self.rest}/{other}" if other else self.rest)

    @property
    def name(self) -> str:
        return posixpath.basename(self.rest) if "/" in self.rest else ""

    @property
    def parent(self) -> "RemotePath":
        return RemotePath(self.scheme, posixpath.dirname(self.rest)) if "/" in self.rest else self

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    @property
    def parts(self) -> tuple[str, ...]:
        return (f"{self.scheme}://",) + tuple(self.rest.split("/"))

    def with_name(self, name: str) -> "RemotePath":
        return self.parent / name

    def with_suffix(self, suffix: str) -> "RemotePath":
        return self.parent / (self.stem + suffix)

    def relative_to(self, other: "RemotePath") -> str:
        if not isinstance(other, RemotePath) or other.scheme != self.scheme or \
                not (self.rest + "/").startswith(other.rest + "/"):
            raise ValueError(f"{self} is not under {other}")
        return self.rest[len(other.rest) + 1:]

    def resolve(self) -> "RemotePath":
        return self

    absolute = resolve

    def expanduser(self) -> "RemotePath":
        return self

    # --- the filesystem ------------------------------------------------------------------------------------
    @property
    def netloc(self) -> str:
        return self.rest.split("/", 1)[0]

    @property
    def fs(self):
        return filesystem(self.scheme, self.netloc)

    @property
    def fs_path(self) -> str:
        """The name pyarrow's filesystem knows this object by."""
        if self.scheme in READ_ONLY_SCHEMES:
            return self.uri
        if self.scheme == "hdfs":
            return "/" + (self.rest.split("/", 1)[1] if "/" in self.rest else "")
        return self.rest

    def _info(self):
        with store_failures(self):
            return self.fs.get_file_info(self.fs_path)

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.Directory

    def stat(self):
        import pyarrow.fs as pafs

        info = self._info()
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(f"{self}: no such object")
        mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
        return SimpleNamespace(st_size=info.size or 0, st_mtime=mtime,
                               is_dir=info.type == pafs.FileType.Directory)

    def _child(self, fs_path: str) -> "RemotePath":
        base = self.fs_path.rstrip("/")
        return self / fs_path[len(base) + 1:]

    def _listing(self, recursive: bool) -> list:
        import pyarrow.fs as pafs

        if self.scheme in READ_ONLY_SCHEMES:
            raise OSError(f"{self}: an http(s) location cannot be listed; name the files (index.json does)")
        with store_failures(self, "list"):
            return self.fs.get_file_info(pafs.FileSelector(self.fs_path, allow_not_found=True,
                                                           recursive=recursive))

    def iterdir(self) -> Iterator["RemotePath"]:
        return iter(sorted(self._child(i.path) for i in self._listing(False)))

    def entries(self, mtimes: bool = False) -> list[tuple]:
        """(child, is a folder, size) of every entry, sorted, from one listing request (iterdir then is_dir
        would cost a request per entry); `mtimes`: (child, is a folder, size, mtime_ns or None)."""
        import pyarrow.fs as pafs

        return sorted((self._child(i.path), i.type == pafs.FileType.Directory, i.size or 0,
                       *((i.mtime_ns,) if mtimes else ()))
                      for i in self._listing(False) if i.type in (pafs.FileType.File, pafs.FileType.Directory))

    def walk_files(self) -> list[tuple["RemotePath", int, int | None]]:
        """(object, size, mtime_ns or None) of every object below, at any depth, sorted, from one recursive
        listing (a dataset layout lists its ROOT once, not a request per folder)."""
        import pyarrow.fs as pafs

        return sorted((self._child(i.path), i.size or 0, i.mtime_ns)
                      for i in self._listing(True) if i.type == pafs.FileType.File)

    def glob(self, pattern: str) -> Iterator["RemotePath"]:
        """pathlib's glob: `*` stays within a level, `**/` spans any number of levels."""
        rx = re.compile(_glob_regex(pattern))
        recursive = "/" in pattern or "**" in pattern
        hits = []
        for info in self._listing(recursive):
            child = self._child(info.path)
            if rx.fullmatch(child.relative_to(self)):
                hits.append(child)
        return iter(sorted(hits))

    def rglob(self, pattern: str) -> Iterator["RemotePath"]:
        return self.glob("**/" + pattern)

    def open(self, mode: str = "rb"):
        """A seekable reader (ranged reads on object storage). Writing goes through the atomic writers."""
        if mode not in ("rb", "r"):
            raise ValueError(f"{self}: open for {mode!r}: write remote objects with dfprep.atomic")
        with store_failures(self):
            f = self.fs.open_input_file(self.fs_path)
        if mode == "r":
            import io

            return io.TextIOWrapper(f, encoding="utf-8")
        return f

    def open_stream(self):
        """A forward-only, buffered reader for reading a whole object once (a shard): `stream.ForwardStream`."""
        from dfprep.storage.stream import ForwardStream

        return ForwardStream(self)

    def read_bytes(self) -> bytes:
        with self.open_stream() as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Object stores have no folders (a prefix exists once an object is under it), but the bucket must exist:
        a missing one is MissingBucket (a usage error naming it), checked here, where every stage makes its output
        folder before its first write. HDFS makes the folder."""
        if self.scheme == "hdfs":
            with store_failures(self, "write to"):
                self.fs.create_dir(self.fs_path, recursive=True)
        elif self.scheme in BUCKET_SCHEMES:
            self.check_bucket()

    def check_bucket(self) -> None:
        """MissingBucket when this path's bucket does not exist (one request; buckets are not created here)."""
        import pyarrow.fs as pafs

        with store_failures(self):
            info = self.fs.get_file_info(self.netloc)
        if info.type == pafs.FileType.NotFound:
            raise MissingBucket(f"{self}: the bucket '{self.netloc}' does not exist; create it first or name "
                                "another (nothing was written)")

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            with store_failures(self, "delete from"):
                self.fs.delete_file(self.fs_path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rmtree(self) -> None:
        if self.is_dir():
            with store_failures(self, "delete from"):
                self.fs.delete_dir(self.fs_path)

    def rename(self, target: "RemotePath") -> "RemotePath":
        with store_failures(self, "write to"):
            self.fs.move(self.fs_path, target.fs_path)
        return target

    replace = rename

    def write_bytes(self, data: bytes) -> int:
        """Write a whole object: to a temporary key, then moved onto this one (copy + delete on S3/GCS, a rename
        on HDFS), so this key only ever holds a complete object."""
        if self.scheme in READ_ONLY_SCHEMES:
            raise OSError(f"{self}: http(s) locations are read-only")
        tmp = self.with_name(f"{TMP_MARK}{uuid.uuid4().hex[:8]}-{self.name}")
        try:
            with store_failures(self, "write to"):
                with self.fs.open_output_stream(tmp.fs_path) as f:
                    f.write(data)
                self.fs.move(tmp.fs_path, self.fs_path)
        except BaseException:
            _try_delete(tmp)
            raise
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))


def _try_delete(p: RemotePath) -> None:
    try:
        p.fs.delete_file(p.fs_path)
    except Exception:           # the store may be the thing that failed; the next run removes stale temporaries
        pass


def _glob_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            c = pattern[i]
            out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c))
            i += 1
    return "".join(out)

