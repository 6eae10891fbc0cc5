"""The `dfprep` command: thin Typer wrappers over the library functions of each stage."""
from __future__ import annotations

import functools
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
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


def usage_errors(command):
    """`command` with a path the store refuses once the run has begun (dfprep.storage.UnsupportedURI: an output
    in a bucket that does not exist) shown as one line, exit 2, like a path refused when the arguments are read."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from dfprep.storage import UnsupportedURI

        try:
            return command(*args, **kwargs)
        except UnsupportedURI as exc:
            from rich.console import Console
            from rich.markup import escape

            Console(stderr=True, soft_wrap=True, highlight=False).print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2)
    return run


def _register() -> None:
    # Each stage's command lives beside its library code; importing here keeps `dfprep --help` in one place.
    from dfprep.synth.cli import synth_command
    app.command("synth")(usage_errors(synth_command))
    from dfprep.ingest.cli import ingest_command
    app.command("ingest")(usage_errors(ingest_command))
    from dfprep.analysis.cli import analyze_command
    app.command("analyze")(usage_errors(analyze_command))
    from dfprep.shards.cli import shards_app
    for sub in shards_app.registered_commands:
        sub.callback = usage_errors(sub.callback)
    app.add_typer(shards_app, name="shards")
    from dfprep.train.cli import train_command
    app.command("train")(usage_errors(train_command))
    from dfprep.inference.cli import evaluate_command, explain_command, predict_command
    app.command("predict")(usage_errors(predict_command))
    app.command("evaluate")(usage_errors(evaluate_command))
    app.command("explain")(usage_errors(explain_command))


@app.command("demo")
def demo_command(out: Path = typer.Argument(Path("demo"), help="Folder for the corpus and every output."),
                 videos: int = typer.Option(40, help="Videos per part."),
                 parts: int = typer.Option(2, help="DFDC-layout parts."),
                 seed: int = typer.Option(0),
                 epochs: int = typer.Option(4, help="Training epochs.")) -> None:
    """Run the whole pipeline on a synthetic corpus with embedded local Ray; print where each output is."""
    from dfprep.pipeline import run_demo

    run_demo(out, videos=videos, parts=parts, seed=seed, epochs=epochs)


_register()


if __name__ == "__main__":
    app()
