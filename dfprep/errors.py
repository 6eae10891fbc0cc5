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


def kind_of(exc: BaseException) -> type[DfprepError] | None:
    """The kind an exception is reported as: its own for a DfprepError, StoreError for a full or read-only disk,
    None for anything else (a bug: shown with its traceback)."""
    if isinstance(exc, DfprepError):
        return type(exc)
    if isinstance(exc, OSError) and exc.errno in FULL_DISK:
        return StoreError
    return None


def error_line(exc: BaseException) -> str:
    """The one line shown for `exc`: its message, its kind's advice appended when the message lacks it."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    kind = kind_of(exc)
    advice = kind.advice if kind else ""
    if advice and "rerun" not in text:
        text = f"{text}; {advice}"
    return text


def exit_code(exc: BaseException) -> int:
    """2 for misuse, 130 for an interrupt, 1 for bad data, a failed store and anything else."""
    if isinstance(exc, KeyboardInterrupt):
        return 130
    kind = kind_of(exc)
    return kind.exit_code if kind else 1
