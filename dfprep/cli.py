"""The `dfprep` command: thin Typer wrappers over the library functions of each stage."""
from __future__ import annotations

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Prepare DFDC-style deepfake video data: synth, ingest, analyze, shards, train.")


def _register() -> None:
    # Each stage's command lives beside its library code; importing here keeps `dfprep --help` in one place.
    from dfprep.synth.cli import synth_command
    app.command("synth")(synth_command)
    from dfprep.ingest.cli import ingest_command
    app.command("ingest")(ingest_command)


_register()

if __name__ == "__main__":
    app()
