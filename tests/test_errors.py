"""dfprep's one error hierarchy and its one handler (`dfprep.errors`, `dfprep.cli.reported`)."""
from __future__ import annotations

import errno
import importlib
import inspect
import pkgutil

import pytest
import typer
from typer.testing import CliRunner

import dfprep
from dfprep.cli import INTERRUPTED, reported
from dfprep.errors import DataError, DfprepError, StoreError, UsageError, error_line, error_lines, exit_code, kind_of

NOT_ERRORS = {"NothingNew", "_Untrusted"}      # a signal (nothing to write), and decode's private flag


def _dfprep_exceptions() -> dict[str, type]:
    """Every exception class a dfprep module defines (importing every module of the package)."""
    found = {}
    for mod in pkgutil.walk_packages(dfprep.__path__, "dfprep."):
        if mod.name.endswith("__main__") or mod.name == "dfprep.errors":    # the kinds themselves
            continue
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == mod.name:
                found[f"{mod.name}.{name}"] = obj
    return found


def test_every_dfprep_exception_has_a_kind():
    classes = _dfprep_exceptions()
    assert len(classes) >= 25, sorted(classes)
    kinds = {}
    for name, cls in classes.items():
        if cls.__name__ in NOT_ERRORS:
            assert not issubclass(cls, DfprepError), name
            continue
        assert issubclass(cls, DfprepError), f"{name} is not a DfprepError"
        kinds[cls.__name__] = next(k for k in cls.__mro__ if k in (UsageError, DataError, StoreError)).__name__
    # the kinds chosen for the classes whose kind is a decision, not a name
    assert kinds["SubmissionMismatch"] == "DataError" and kinds["EvaluateError"] == "UsageError"
    assert kinds["ExplainDataError"] == "DataError" and kinds["ExplainError"] == "UsageError"
    assert kinds["StorageError"] == kinds["IngestAbort"] == kinds["ShardWriteError"] == "StoreError"
    assert kinds["LeaseHeld"] == kinds["UnsupportedURI"] == kinds["IdentityModelsMissing"] == "UsageError"
    assert kinds["BadShardError"] == kinds["FaceStoreError"] == kinds["ShardFormatError"] == "DataError"


def test_old_bases_still_catch():
    """Callers that catch OSError or ValueError keep catching what they caught."""
    from dfprep.formats.work.faces import FaceStoreError
    from dfprep.inference.evaluate import EvaluateError
    from dfprep.storage import StorageError, UnsupportedURI

    assert isinstance(StorageError("x"), OSError) and isinstance(StorageError("x"), StoreError)
    for cls in (FaceStoreError, EvaluateError, UnsupportedURI):
        assert issubclass(cls, ValueError), cls


def test_kind_and_exit_code():
    from dfprep.inference.evaluate import EvaluateError, SubmissionMismatch
    from dfprep.storage import StorageError

    assert kind_of(SubmissionMismatch("x")) is DataError and exit_code(SubmissionMismatch("x")) == 1
    assert kind_of(EvaluateError("x")) is UsageError and exit_code(EvaluateError("x")) == 2
    assert kind_of(StorageError("x")) is StoreError and exit_code(StorageError("x")) == 1
    full = OSError(errno.ENOSPC, "No space left on device", "/w/x.parquet")
    assert kind_of(full) is StoreError and exit_code(full) == 1
    assert kind_of(FileNotFoundError(errno.ENOENT, "gone")) is None       # not classified: a bug's traceback
    assert kind_of(ValueError("bug")) is None and exit_code(ValueError("bug")) == 1
    assert exit_code(KeyboardInterrupt()) == 130


def test_error_line():
    from dfprep.ingest.scheduler import IngestAbort
    from dfprep.storage import StorageError
    from dfprep.train.errors import BadShardError

    assert error_line(UsageError("a\n  b")) == "a b"                           # one line, whatever the message
    assert error_line(StorageError("s3://b/x: cannot read from the store: refused")) == (
        "s3://b/x: cannot read from the store: refused; finished work is kept; rerun the same command to resume")
    said = "x: cannot write (the store failed, not the data: rerun with --resume once it is back)"
    assert error_line(StorageError(said)) == said                               # advice given once, not twice
    assert error_line(IngestAbort("no decode worker started")).endswith(
        "every finished video is kept in WORK; fix the cause and rerun the same command to resume")
    worker = BadShardError("Caught BadShardError in DataLoader worker process 0.\nOriginal Traceback (most recent "
                           "call last):\n  File \"x.py\", line 1\nBadShardError: shard a.tar: sha256 differs")
    assert error_line(worker) == "shard a.tar: sha256 differs"


def test_error_lines_one_per_cause():
    from dfprep.shards.run import ShardWriteError

    exc = ShardWriteError(["2 shard(s) failed: No space left on device (...); free space and rerun the same "
                           "command to resume (finished shards are kept)", "1 shard(s) failed: Permission denied"])
    lines = error_lines(exc)
    assert lines[0] == exc.lines[0]
    assert lines[1] == "1 shard(s) failed: Permission denied; finished work is kept; rerun the same command to resume"


def _app(body, **kw) -> typer.Typer:
    app = typer.Typer()
    app.command(body.__name__)(reported(body, **kw))
    app.command("other")(lambda: None)          # two commands: the first is invoked by name
    return app


def _run(body, **kw):
    return CliRunner().invoke(_app(body, **kw), [body.__name__])


def test_handler_one_line_and_exit_code():
    def refused():
        raise UsageError("[red]x[/red].mp4: not a WORK\n(see --help)")

    res = _run(refused)
    assert res.exit_code == 2 and res.output.strip() == "error: [red]x[/red].mp4: not a WORK (see --help)"

    def disk_full():
        raise OSError(errno.ENOSPC, "No space left on device", "/w/x.tar")

    res = _run(disk_full)
    assert res.exit_code == 1 and res.output.strip() == (
        "error: [Errno 28] No space left on device: '/w/x.tar'; finished work is kept; rerun the same command to "
        "resume")


def test_handler_interrupt():
    def stopped():
        raise KeyboardInterrupt

    res = _run(stopped)
    assert res.exit_code == 130 and res.output.strip() == INTERRUPTED
    res = _run(stopped, interrupted="interrupted: rerun with --resume")
    assert res.exit_code == 130 and res.output.strip() == "interrupted: rerun with --resume"


def test_handler_lets_a_bug_through():
    def bug():
        raise ZeroDivisionError("a bug")

    res = _run(bug)
    assert isinstance(res.exception, ZeroDivisionError) and "error:" not in res.output


def test_a_refused_command_line_is_one_line():
    """Typer's own refusals (a declared bound, an unknown option, a missing option) are one `error:` line too."""
    from dfprep.cli import app

    for args, says in ((["synth", "x", "--videos", "-1"], "error: Invalid value for '--videos': must be >= 1, got -1"),
                       (["ingest", "x", "--out", "y", "--bogus"], "error: No such option: --bogus"),
                       (["ingest", "x"], "error: Missing option '--out'")):
        res = CliRunner().invoke(app, args)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith(says), (args, res.output)
    res = CliRunner().invoke(app, ["synth", "--help"])
    assert res.exit_code == 0 and "--videos" in res.output


@pytest.mark.parametrize("name", ["synth", "ingest", "analyze", "train", "predict", "evaluate", "explain", "demo"])
def test_every_command_is_reported(name):
    """Each registered command (and each `shards` subcommand) goes through `reported`."""
    from dfprep.cli import app

    callbacks = {c.name: c.callback for c in app.registered_commands}
    assert getattr(callbacks[name], "reported", False), name
    shards = next(g.typer_instance for g in app.registered_groups if g.name == "shards")
    assert all(getattr(c.callback, "reported", False) for c in shards.registered_commands)
