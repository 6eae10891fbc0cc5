"""The `dfprep` command: thin Typer wrappers over the library functions of each stage."""
from __future__ import annotations

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


def _register() -> None:
    # Each stage's command lives beside its library code; importing here keeps `dfprep --help` in one place.
    from dfprep.synth.cli import synth_command
    app.command("synth")(synth_command)
    from dfprep.ingest.cli import ingest_command
    app.command("ingest")(ingest_command)
    from dfprep.analysis.cli import analyze_command
    app.command("analyze")(analyze_command)
    from dfprep.shards.cli import shards_app
    app.add_typer(shards_app, name="shards")
    from dfprep.train.cli import train_command
    app.command("train")(train_command)
    from dfprep.train.cli_results import evaluate_command, explain_command, predict_command
    app.command("predict")(predict_command)
    app.command("evaluate")(evaluate_command)
    app.command("explain")(explain_command)


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
