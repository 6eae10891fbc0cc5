"""Training's refusals, importable without torch; each of a kind of `dfprep.errors` (its exit code)."""
from __future__ import annotations

from dfprep.errors import DataError, UsageError


class BadShardError(DataError, ValueError):
    """Bad data in a shard (its bytes differ from index.json, a tar member that is not a plain file, an image over
    the pixel budget): the message names the shard and the member; `dfprep train` stops with exit status 1."""


class UnsafeShardError(BadShardError):
    """A shard member outside the allow-list (e.g. a pickle): refused, never decoded."""


class TrainUsageError(UsageError):
    """A misuse that stops training before it starts (bad option, missing or unusable shards)."""


