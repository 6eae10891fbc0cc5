"""The store failing, told apart from bad data: one exception type, raised by the layer itself."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from dfprep.errors import StoreError


class StorageError(StoreError, OSError):
    """The store failed (unreachable, refused, timed out): the run's problem, not the data's. Nothing finished is
    lost; rerunning the same command when the store is back resumes."""


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@contextmanager
def store_failures(where, doing: str = "read from") -> Iterator[None]:
    """Any failure of a store client inside the block becomes a StorageError naming `where`; a missing object
    (FileNotFoundError) and a StorageError pass through unchanged."""
    try:
        yield
    except (StorageError, FileNotFoundError):
        raise
    except Exception as exc:  # noqa: BLE001 - clients raise OSError (pyarrow) or their own types (aiohttp)
        raise StorageError(f"{where}: cannot {doing} the store: {_why(exc)}") from None
