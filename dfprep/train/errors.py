"""Training's refusals, importable without torch (the CLI catches them)."""
from __future__ import annotations


class UnsafeShardError(ValueError):
    """A shard member outside the allow-list (e.g. a pickle): refused, never decoded."""


class TrainUsageError(Exception):
    """A misuse that stops training before it starts (bad option, missing or unusable shards)."""
