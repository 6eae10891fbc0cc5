"""The `dfprep` command: thin Typer wrappers over the library functions of each stage."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import typer
from typer.core import TyperGroup


class OneLineUsage(TyperGroup):
    """The `dfprep` group: a command line Typer refuses (a value outside an option's declared choices or bounds,
    an unknown option, a missing argument) is one `error:` line on stderr naming the option, exit 2, as every
    other misuse is; `--help` and a bare `dfprep` still print the help."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode: bool = True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
        from typer.exceptions import Abort

        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except UsageError as exc:
            from rich.markup import escape

            where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            _stderr_line(f"[red]error:[/red] {escape(' '.join(exc.format_message().split()))}{escape(where)}")
            sys.exit(exc.exit_code)
        except ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except Abort:
            _stderr_line("Aborted!")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)      # typer.Exit(n) comes back as n without standalone mode


app = typer.Typer(cls=OneLineUsage, add_completion=False, no_args_is_help=True,
                  help="Prepare DFDC-style deepfake video data: synth, ingest, analyze, shards, train.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"dfprep {version('dfprep')}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print dfprep's version and exit.")) -> None:
    """Prepare DFDC-style deepfake video data: synth, ingest, analyze, shards, train."""
    from dfprep.torchpair import refuse_mismatched_pair

    refuse_mismatched_pair()


INTERRUPTED = "interrupted: finished work is kept; rerun the same command to resume"


def _stderr_line(markup: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True, highlight=False).print(markup)


def reported(command, interrupted: str = INTERRUPTED):
    """`command` with dfprep's errors reported in one place: a DfprepError (or an OSError that
    `errors.kind_of` classifies, e.g. a full disk) becomes `error: <one line>` on stderr (a line per cause when
    the error carries several) and `errors.exit_code`; Ctrl-C becomes the one `interrupted` line and exit 130.
    Anything else propagates: a bug keeps its traceback."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from rich.markup import escape

        from dfprep.errors import error_lines, exit_code, kind_of

        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            head, _, rest = interrupted.partition(":")
            _stderr_line(f"[yellow]{escape(head)}[/yellow]:{escape(rest)}")
            raise typer.Exit(130) from None
        except Exception as exc:
            if kind_of(exc) is None:
                raise
            for line in error_lines(exc):       # escaped: names may hold [brackets]
                _stderr_line(f"[red]error:[/red] {escape(line)}")
            raise typer.Exit(exit_code(exc)) from None
    run.reported = True         # what tests and `_register` look for
    return run


def _register() -> None:
    # Each stage's command lives beside its library code; importing here keeps `dfprep --help` in one place.
    # Every command goes through `reported`: one handler turns errors into one line and an exit code.
    from dfprep.synth.cli import synth_command
    app.command("synth")(reported(synth_command))
    from dfprep.ingest.cli import ingest_command
    app.command("ingest")(reported(ingest_command))
    from dfprep.analysis.cli import analyze_command
    app.command("analyze")(reported(analyze_command))
    from dfprep.shards.cli import shards_app
    for sub in shards_app.registered_commands:
        if not getattr(sub.callback, "reported", False):
            sub.callback = reported(sub.callback)
    app.add_typer(shards_app, name="shards")
    from dfprep.train.cli import TRAIN_INTERRUPTED, train_command
    app.command("train")(reported(train_command, TRAIN_INTERRUPTED))
    from dfprep.inference.cli import evaluate_command, explain_command, predict_command
    app.command("predict")(reported(predict_command))
    app.command("evaluate")(reported(evaluate_command))
    app.command("explain")(reported(explain_command))
    app.command("demo")(reported(demo_command))


def _demo(cfg, out: Path) -> None:
    """Run the whole pipeline on a synthetic corpus with embedded local Ray; print where each output is."""
    from dataclasses import asdict

    from dfprep.pipeline import run_demo

    run_demo(out, **asdict(cfg))


def _demo_command():
    from dfprep.options import argument, command
    from dfprep.pipeline import DemoConfig

    return command(DemoConfig, _demo, leading=[
        argument("out", Path, "Folder for the corpus and every output.", default=Path("demo"))])


demo_command = _demo_command()


_register()


if __name__ == "__main__":
    app()
