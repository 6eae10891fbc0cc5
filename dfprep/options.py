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


def opt(default: Any, help: str, *, flag: str | None = None, cli: bool = True, envvar: str | None = None,
        factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its CLI help; `flag` names the option when it differs from the field name
    (bool fields get `--x/--no-x`); `envvar` reads it from the environment; `cli=False` keeps it off the
    command line."""
    md = {"help": help, "flag": flag, "cli": cli, "envvar": envvar}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=md)
    return dataclasses.field(default=default, metadata=md)


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
                            envvar=f.metadata.get("envvar"))
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
    """A path argument as dfprep.storage.as_path gives it; an unsupported URI is one line on stderr naming the
    argument (`label`: --out, ROOT...), exit 2."""
    if value is None:
        return None
    from rich.console import Console
    from rich.markup import escape

    from dfprep.storage import UnsupportedURI, as_path

    try:
        return as_path(value)
    except UnsupportedURI as exc:
        Console(stderr=True, soft_wrap=True, highlight=False).print(
            f"[red]error:[/red] {escape(f'{label} ' if label else '')}{escape(str(exc))}")
        raise typer.Exit(2)


def _label(p: inspect.Parameter) -> str:
    """How a usage line names a parameter: its first flag (--out), or an argument's name in capitals (ROOT)."""
    decls = getattr(p.default, "param_decls", None) or ()
    flags = [d for d in decls if d.startswith("--")]
    return flags[0] if flags and isinstance(p.default, typer.models.OptionInfo) else p.name.upper()


def _storage_annotation(tp: Any) -> Any:
    """str (or Optional[str]) for a StoragePath annotation; None for any other."""
    if tp is StoragePath:
        return str
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
        return body(cfg, **{k: cli_path(v, labels[k]) if k in paths else v for k, v in values.items() if k in own})

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
