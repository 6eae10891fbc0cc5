"""Typed reading of the JSON files one stage writes and another reads.

WORK/run.json (`dfprep.formats.work.runjson.read_run_json`), SHARDS/index.json
(`dfprep.shards.index.read_shards_index`) and RUN/config.json (`dfprep.formats.run.read_run_config`) each have a
reader beside their writer that returns a frozen dataclass of the fields other stages use. The readers check
presence and type through `Fields`, so a missing or mistyped key is one line naming the file and the key, raised
as the error class the reader is given (the format's: WorkError, RunError), never a KeyError or a silent default
deep inside another stage.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_KINDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
          list: "a list"}


def load_object(path: Path, error: type[Exception], hint: str) -> dict:
    """The JSON object in `path`; `error` with one line naming the file when it is absent, unreadable or not
    a JSON object. `hint` follows "not found; " (e.g. "is X the --out folder of `dfprep train`?"). `path` may be
    remote (dfprep.storage): a store that fails is a StorageError, not the file's problem."""
    from dfprep.storage import StorageError, as_path

    path = as_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: not found; {hint}") from None
    except StorageError:
        raise
    except OSError as exc:
        raise error(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    except ValueError as exc:
        raise error(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: not a JSON object")
    return data


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


class Fields:
    """Checked access to one JSON object of a file: `need` and `opt` raise `error` naming the file and the key.

    `where` is the object's key path inside the file ("splits.train."); `note` ends a missing key's message
    (e.g. " (written by an older dfprep? rerun `dfprep shards`)").
    """

    def __init__(self, data: dict, path: Path, error: type[Exception], where: str = "", note: str = ""):
        from dfprep.storage import as_path

        self.data, self.path, self.error, self.where, self.note = data, as_path(path), error, where, note

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _check(self, key: str, value: Any, kind: type) -> Any:
        if not _is(value, kind):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise self.error(f"{self.path}: key '{self.where}{key}' must be {_KINDS.get(kind, kind.__name__)}, "
                             f"got {shown}")
        return float(value) if kind is float else value

    def need(self, key: str, kind: type) -> Any:
        """The value of a key that must be present, not null, and of `kind` (an int is a float; a bool is not
        an int)."""
        if self.data.get(key) is None:
            what = "is null" if key in self.data else "is missing"
            raise self.error(f"{self.path}: key '{self.where}{key}' {what}{self.note}")
        return self._check(key, self.data[key], kind)

    def opt(self, key: str, kind: type, default: Any = None) -> Any:
        """The value of a key that older files lack (or hold null): `default` then; of `kind` otherwise."""
        value = self.data.get(key)
        return default if value is None else self._check(key, value, kind)

    def sub(self, key: str) -> "Fields":
        """The object under `key` (which must be present), for its own checked fields."""
        return Fields(self.need(key, dict), self.path, self.error, f"{self.where}{key}.", self.note)

    def opt_sub(self, key: str) -> "Fields | None":
        """The object under `key`, or None when the key is absent or null."""
        return self.sub(key) if self.has(key) else None

    def items(self, key: str) -> "list[Fields]":
        """The objects of the list under `key` (which must be present), each for its own checked fields."""
        out = []
        for i, item in enumerate(self.need(key, list)):
            where = f"{self.where}{key}[{i}]."
            if not isinstance(item, dict):
                raise self.error(f"{self.path}: key '{where[:-1]}' must be an object, got {item!r:.60}")
            out.append(Fields(item, self.path, self.error, where, self.note))
        return out

    def strings(self, key: str, default: tuple = ()) -> tuple[str, ...]:
        """A list of strings (absent or null: `default`)."""
        values = self.opt(key, list)
        if values is None:
            return tuple(default)
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise self.error(f"{self.path}: key '{self.where}{key}[{i}]' must be a string, got {v!r:.60}")
        return tuple(values)
