"""Training's refusals, importable without torch (the CLI catches them)."""
from __future__ import annotations

from dfprep.errors import DataError, UsageError


class BadShardError(DataError, ValueError):
    """Bad data in a shard (its bytes differ from index.json, a tar member that is not a plain file, an image over
    the pixel budget): the message names the shard and the member; `dfprep train` stops with exit status 1."""


class UnsafeShardError(BadShardError):
    """A shard member outside the allow-list (e.g. a pickle): refused, never decoded."""


class TrainUsageError(UsageError):
    """A misuse that stops training before it starts (bad option, missing or unusable shards)."""


def one_line(exc: BaseException) -> str:
    """The error's own message on one line. An error raised in a DataLoader worker comes back as "Caught X in
    DataLoader worker process N. Original Traceback ...": its last line holds the worker's message."""
    text = str(exc).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        name = type(exc).__name__
        text = last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
    return " ".join(text.split())
