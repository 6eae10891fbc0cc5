"""Options declared once: each config dataclass field carries its default, help text and CLI name, and the
Typer command's parameters are derived from the dataclass, so a default or a help text lives in one place.

    @dataclass
    class IngestConfig:
        frames: int = opt(32, "Frames sampled per video, evenly spaced.")
        timeout_s: float = opt(300.0, "Time limit per video, seconds.", flag="--timeout")
        extra: dict = opt(None, "", cli=False, factory=dict)

    ingest_command = command(IngestConfig, run_ingest, leading=[root_argument, out_option])

`command` builds a function whose signature Typer reads: the leading parameters (arguments such as ROOT,
options that are not settings), then one option per field. Called, it builds the dataclass from the field
options and calls `body(cfg, **the leading parameters)`.
"""
from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any, Callable, Optional

import typer

_MISSING = dataclasses.MISSING
Choices = typing.Union[tuple, Callable[[], Any]]     # names, or a function returning them


def opt(default: Any, help: str, *, flag: str | None = None, cli: bool = True, envvar: str | None = None,
        factory: Callable[[], Any] | None = None, choices: Choices | None = None, min: float | None = None,
        max: float | None = None, min_open: bool = False, max_open: bool = False) -> Any:
    """A dataclass field with its CLI help; `flag` names the option when it differs from the field name
    (bool fields get `--x/--no-x`); `envvar` reads it from the environment; `cli=False` keeps it off the
    command line. `choices` (names, or a function returning them when they live in a module costly to import;
    every comma-separated item for a tuple field) and `min`/`max` (inclusive unless `min_open`/`max_open`) are
    declared here once: the CLI refuses a value outside them (exit 2) before the command runs, and
    `check_declared` refuses it for a library caller."""
    md = {"help": help, "flag": flag, "cli": cli, "envvar": envvar, "choices": choices,
          "bounds": (min, max, min_open, max_open) if min is not None or max is not None else None}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=md)
    return dataclasses.field(default=default, metadata=md)


def _names(choices: Choices) -> list[str]:
    return list(choices() if callable(choices) else choices)


def declared_problem(f: dataclasses.Field, value: Any) -> str | None:
    """Why `value` is outside the choices or bounds declared on field `f` (None when it is inside): one phrase
    such as "must be >= 1, got 0", shared by the CLI (before the command runs) and `check_declared`."""
    choices, bounds = f.metadata.get("choices"), f.metadata.get("bounds")
    if value is None:
        return None
    if choices is not None:
        names = _names(choices)
        items = list(value) if isinstance(value, (tuple, list)) else [value]
        bad = [x for x in items if x not in names]
        if bad:
            return f"must be one of {', '.join(names)}, got {bad[0]!r}"
    if bounds is not None and not isinstance(value, bool):
        lo, hi, lo_open, hi_open = bounds
        if (lo is not None and (value <= lo if lo_open else value < lo)) or \
                (hi is not None and (value >= hi if hi_open else value > hi)):
            return f"must be {_range_text(bounds)}, got {value}"
    return None


def _parser(f: dataclasses.Field, tp: Any) -> Callable[[Any], Any] | None:
    """The Typer parser of a field with declared choices or bounds: the text converted to the field's type (each
    comma-separated item for a tuple field), then refused with typer.BadParameter (the usage block, exit 2) when
    outside them; None for a field without (Typer's own conversion)."""
    if f.metadata.get("choices") is None and f.metadata.get("bounds") is None:
        return None
    base = _base(tp)
    comma = typing.get_origin(base) is tuple
    convert = base if base in (int, float) else str

    def parse(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        try:
            value = tuple(x.strip() for x in text.split(",") if x.strip()) if comma else convert(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a valid {convert.__name__}") from None
        why = declared_problem(f, value)
        if why:
            raise typer.BadParameter(why)
        return text if comma else value
    return parse


def check_declared(cfg: Any, error: type[Exception]) -> None:
    """Refuse a field value outside its declared choices or bounds, as the CLI would: `error` (a UsageError
    class) naming the option. For library callers, who give the dataclass without the CLI."""
    for f in dataclasses.fields(cfg):
        why = declared_problem(f, getattr(cfg, f.name))
        if why:
            raise error(f"{f.metadata.get('flag') or '--' + f.name.replace('_', '-')} {why}")


def _base(tp: Any) -> Any:
    """X of `X | None` (Optional[X]); `tp` itself otherwise."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _metavar(f: dataclasses.Field, tp: Any) -> str | None:
    """How --help shows a field with a parser: its choices when they are at hand (not a function), else its
    type as Typer shows it."""
    choices = f.metadata.get("choices")
    if isinstance(choices, tuple):
        return "[" + "|".join(choices) + "]"
    if f.metadata.get("bounds") is not None or choices is not None:
        base = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Union else tp
        return {int: "<int>", float: "<float>"}.get(base, "<str>")     # as Typer shows the others
    return None


def _range_text(bounds: tuple) -> str:
    lo, hi, lo_open, hi_open = bounds
    if hi is None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if lo is None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _cli_type(tp: Any) -> Any:
    """`X | None` as Optional[X] (what Typer understands); tuples of strings as one comma-separated string."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return Optional[_cli_type(args[0])]
    if origin is tuple:
        return str
    return tp


def _flags(f: dataclasses.Field, tp: Any) -> list[str]:
    name = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
    base = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Union else tp
    if base is bool and "/" not in name:
        return [f"{name}/--no-{name[2:]}"]
    return [name]


def field_parameters(cls: type) -> list[inspect.Parameter]:
    """One keyword parameter per CLI field of `cls`, with its default, flag and help."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", False):
            continue
        tp = _cli_type(hints[f.name])
        default = f.default if f.default is not _MISSING else None
        if isinstance(default, tuple):
            default = ",".join(default)
        info = typer.Option(default, *_flags(f, tp), help=f.metadata.get("help") or None,
                            envvar=f.metadata.get("envvar"), parser=_parser(f, hints[f.name]),
                            metavar=_metavar(f, tp))
        out.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=tp))
    return out


def from_options(cls: type, values: dict) -> Any:
    """The dataclass from parsed option values (comma-separated strings back into tuples)."""
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        v = values[f.name]
        tp = hints[f.name]
        if isinstance(v, str) and (typing.get_origin(tp) is tuple or
                                   any(typing.get_origin(a) is tuple for a in typing.get_args(tp))):
            v = tuple(x.strip() for x in v.split(",") if x.strip())
        kw[f.name] = v
    return cls(**kw)


class StoragePath:
    """Annotation of a path parameter: a local path or a URI (s3://, gs://, hdfs://, file://), converted by
    `cli_path` before the body runs; Typer sees a plain string, so `s3://b/x` is never turned into `s3:/b/x`."""


def cli_path(value, label: str | None = None):
    """A path argument as dfprep.storage.as_path gives it; an unsupported URI is an UnsupportedURI naming the
    argument (`label`: --out, ROOT...) first, which `dfprep.cli.reported` shows as one line, exit 2."""
    if value is None:
        return None
    from dfprep.storage import UnsupportedURI, as_path

    try:
        return as_path(value)
    except UnsupportedURI as exc:
        if not label:
            raise
        raise type(exc)(f"{label} {exc}") from None


def _label(p: inspect.Parameter) -> str:
    """How a usage line names a parameter: its first flag (--out), or an argument's name in capitals (ROOT)."""
    decls = getattr(p.default, "param_decls", None) or ()
    flags = [d for d in decls if d.startswith("--")]
    return flags[0] if flags and isinstance(p.default, typer.models.OptionInfo) else p.name.upper()


def _storage_annotation(tp: Any) -> Any:
    """str (Optional[str], List[str]) for a StoragePath (Optional, list) annotation; None for any other."""
    if tp is StoragePath:
        return str
    if typing.get_origin(tp) is list and typing.get_args(tp) == (StoragePath,):
        return typing.List[str]
    if typing.get_origin(tp) is typing.Union and StoragePath in typing.get_args(tp):
        return Optional[str]
    return None


def command(cls: type, body: Callable[..., Any], leading: list[inspect.Parameter] = (),
            trailing: list[inspect.Parameter] = ()) -> Callable[..., Any]:
    """A Typer command: `leading` parameters, one option per field of `cls`, then `trailing` ones."""
    paths = {p.name for p in (*leading, *trailing) if _storage_annotation(p.annotation) is not None}
    params = [p.replace(annotation=_storage_annotation(p.annotation)) if p.name in paths else p
              for p in (*leading, *field_parameters(cls), *trailing)]
    own = {p.name for p in (*leading, *trailing)}
    labels = {p.name: _label(p) for p in (*leading, *trailing)}

    def run(**values):
        cfg = from_options(cls, {k: v for k, v in values.items() if k not in own})
        def conv(k, v):
            return [cli_path(x, labels[k]) for x in v] if isinstance(v, list) else cli_path(v, labels[k])

        return body(cfg, **{k: conv(k, v) if k in paths else v for k, v in values.items() if k in own})

    for p in params:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{p.name}: give command parameters as keyword-only")
    run.__signature__ = inspect.Signature(params)
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__doc__ = body.__doc__
    run.__name__ = getattr(body, "__name__", "command")
    return run


def argument(name: str, tp: Any, help: str, default: Any = ...) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=tp,
                             default=typer.Argument(default, help=help))


def option(name: str, tp: Any, default: Any, *flags: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=tp,
                             default=typer.Option(default, *flags, help=help))
