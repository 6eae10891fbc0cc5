"""Which filesystem a path argument names: a local path, or a URI of a store dfprep can read and write.

One rule for every path argument (ROOT, WORK, SHARDS, RUN, INPUT, a submission): a string with `scheme://` is a
URI, anything else a local path. A URI with a `.` or `..` segment is refused (stores do not resolve them). pyarrow.fs serves `s3://`, `gs://` and `hdfs://`; fsspec serves `http(s)://`
(read-only: shards a trainer streams). An unknown scheme is a usage error, never a local folder named after it.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from dfprep.errors import UsageError

WRITABLE_SCHEMES = ("s3", "gs", "hdfs")
READ_ONLY_SCHEMES = ("http", "https")
SCHEMES = ("file",) + WRITABLE_SCHEMES + READ_ONLY_SCHEMES
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
_ONE_SLASH = re.compile(r"^(s3|gs|gcs|hdfs|https?|file):/(?!/)")
_FS: dict[tuple, object] = {}
_LOCK = threading.Lock()


class UnsupportedURI(UsageError, ValueError):
    """A path argument dfprep cannot open: one usage line, exit 2."""


class MissingBucket(UnsupportedURI):
    """An output named in a bucket that does not exist: a usage error (nothing was or could be written), not the
    store failing."""


DOT_SEGMENTS = (".", "..")


def dot_segment_problem(text: str, key: str) -> str | None:
    """Why a URI whose key holds a `.` or `..` segment is refused, or None. Object stores do not resolve them
    (`s3://b/outs/../evil` would name a key `outs/../evil` for one client and `evil` for another), so
    dfprep never guesses which folder was meant."""
    path = re.split(r"[?#]", key, maxsplit=1)[0]
    bad = sorted({seg for seg in path.split("/") if seg in DOT_SEGMENTS}, key=len, reverse=True)
    if not bad:
        return None
    return (f"{text}: a URI may not contain a '{bad[0]}' segment (an object store does not resolve it, so the "
            f"folder meant is ambiguous); name the folder without '.' or '..'")


def split_uri(text: str) -> tuple[str, str] | None:
    """(scheme, rest) for `scheme://rest`, None for a local path."""
    m = _URI.match(text)
    if m is None:
        if _ONE_SLASH.match(text):
            raise UnsupportedURI(f"{text}: looks like a URI with one slash after the scheme; write "
                                 f"{text.split(':', 1)[0]}://{text.split(':/', 1)[1]}")
        return None
    scheme = m.group(1).lower()
    if scheme == "gcs":
        scheme = "gs"
    if scheme not in SCHEMES:
        raise UnsupportedURI(f"{text}: unsupported scheme '{scheme}://' (use a local path, file://, "
                             f"{', '.join(s + '://' for s in WRITABLE_SCHEMES)}, or http(s):// to read shards)")
    rest = m.group(2)
    if scheme in WRITABLE_SCHEMES and not rest.split("/", 1)[0]:
        raise UnsupportedURI(f"{text}: no bucket (or host) after '{scheme}://'")
    problem = dot_segment_problem(text, rest)
    if problem:
        raise UnsupportedURI(problem)
    return scheme, rest


def s3_options() -> dict:
    """S3 settings from the environment the AWS tools use: an endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL,
    e.g. MinIO or a local server), the region; keys and profiles come from the SDK's own chain (AWS_PROFILE...)."""
    opts: dict = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_override"] = endpoint
        opts["region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    elif os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        opts["region"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    timeout = os.environ.get("DFPREP_STORAGE_TIMEOUT_S")
    opts["connect_timeout"] = opts["request_timeout"] = float(timeout) if timeout else 60.0
    return opts


def _make_filesystem(scheme: str, netloc: str):
    import pyarrow.fs as pafs

    if scheme == "s3":
        opts = s3_options()
        if "region" not in opts:     # AWS proper: ask the bucket where it lives, as FileSystem.from_uri does
            try:
                opts["region"] = pafs.resolve_s3_region(netloc)
            except OSError:
                opts["region"] = "us-east-1"
        return pafs.S3FileSystem(**opts)
    if scheme == "gs":
        return pafs.GcsFileSystem()
    if scheme == "hdfs":
        return pafs.FileSystem.from_uri(f"hdfs://{netloc}")[0]
    if scheme in READ_ONLY_SCHEMES:
        import fsspec

        return pafs.PyFileSystem(pafs.FSSpecHandler(fsspec.filesystem(scheme)))
    raise UnsupportedURI(f"{scheme}://: not a remote scheme")


def filesystem(scheme: str, netloc: str):
    """One filesystem object per (scheme, bucket or host, environment) in a process: clients are costly to make."""
    key = (scheme, netloc if scheme in ("hdfs", "s3") else "",
           tuple(sorted(s3_options().items())) if scheme == "s3" else ())
    with _LOCK:
        if key not in _FS:
            _FS[key] = _make_filesystem(scheme, netloc)
        return _FS[key]


def _forget_filesystems() -> None:
    """In a forked child (a DataLoader worker): new clients, never the parent's pooled connections (fsspec's http
    client refuses to run after a fork), and a new lock (one held by another thread at the fork stays held)."""
    global _LOCK
    _FS.clear()
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_filesystems)


def local_path_of_file_uri(rest: str) -> Path:
    """file:///abs/path -> /abs/path (file://host/... is refused: dfprep does not guess remote hosts)."""
    if rest.startswith("/"):
        return Path(rest)
    if rest.startswith("localhost/"):
        return Path(rest[len("localhost"):])
    raise UnsupportedURI(f"file://{rest}: a file URI needs an absolute path (file:///data/x)")
