"""dfprep's one error hierarchy: what went wrong decides the exit code and the advice, not which stage saw it.

Raise the class that names the cause where the cause is known; `dfprep.cli` turns any of them into one line on
stderr and the exit code, in one place for every command. A stage's own classes (IngestUsageError, BadShardError,
StorageError, ...) subclass these, so a caller may catch either the stage's class or the kind.

- UsageError, exit 2: the command was given something it cannot use (an argument, a folder that is not what it
  should be, settings that conflict with what the folder holds, another run holding the output).
- DataError, exit 1: input data is bad (a file that cannot be read as what it should be).
- StoreError, exit 1: the disk or object store failed mid-run; what finished is kept, and rerunning the same
  command resumes.
"""
from __future__ import annotations

import errno

FULL_DISK = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}    # an OSError with these is the store's, never the data's


class DfprepError(Exception):
    """Base of every error dfprep reports as one line."""

    exit_code = 1
    advice = ""            # a second sentence the handler adds, when the kind has one


class UsageError(DfprepError):
    """The command was given something it cannot use; nothing was changed."""

    exit_code = 2


class DataError(DfprepError):
    """Input data is bad; the message names the file and the reason."""


class StoreError(DfprepError):
    """The disk or object store failed; finished work is kept and the same command resumes."""

    advice = "finished work is kept; rerun the same command to resume"


KINDS = (UsageError, DataError, StoreError)


def kind_of(exc: BaseException) -> type[DfprepError] | None:
    """The kind an exception is reported as: for a DfprepError the first of UsageError, DataError, StoreError in
    its class's MRO (so `class SubmissionMismatch(DataError, EvaluateError)` is bad data although EvaluateError is
    a usage error), DfprepError itself when it has none; StoreError for an OSError of a full or read-only disk;
    None for anything else (a bug: shown with its traceback)."""
    if isinstance(exc, DfprepError):
        return next((k for k in type(exc).__mro__ if k in KINDS), DfprepError)
    if isinstance(exc, OSError) and exc.errno in FULL_DISK:
        return StoreError
    return None


def one_line(exc: BaseException, text: str | None = None) -> str:
    """The error's own message (or `text`) on one line. An error raised in a DataLoader worker comes back as
    "Caught X in DataLoader worker process N. Original Traceback ...": its last line holds the worker's message."""
    text = (str(exc) if text is None else text).strip()
    if "Original Traceback" in text:
        last, name = text.splitlines()[-1], type(exc).__name__
        text = last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
    return " ".join(text.split())


def error_line(exc: BaseException, text: str | None = None) -> str:
    """The one line shown for `exc` (or for `text`, one of its lines): the message, the advice of its class
    (its kind's unless the class has its own) appended when the message lacks it."""
    text = one_line(exc, text) or type(exc).__name__
    kind = kind_of(exc)
    advice = getattr(exc, "advice", "") if isinstance(exc, DfprepError) else kind.advice if kind else ""
    if advice and "rerun" not in text:
        text = f"{text}; {advice}"
    return text


def error_lines(exc: BaseException) -> list[str]:
    """The lines shown for `exc`: one per cause when it carries them (`exc.lines`, e.g. ShardWriteError: one per
    distinct reason shards failed), else its one `error_line`."""
    lines = getattr(exc, "lines", None)
    if isinstance(lines, list) and lines and all(isinstance(x, str) for x in lines):
        return [error_line(exc, x) for x in lines]
    return [error_line(exc)]


def exit_code(exc: BaseException) -> int:
    """2 for misuse, 130 for an interrupt, 1 for bad data, a failed store and anything else."""
    if isinstance(exc, KeyboardInterrupt):
        return 130
    kind = kind_of(exc)
    return kind.exit_code if kind else 1
