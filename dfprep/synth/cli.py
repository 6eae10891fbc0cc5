"""`dfprep synth OUT`: write a synthetic DFDC-layout corpus (thin wrapper over `make_corpus`)."""
from typing import Optional

import typer


def synth_command(
    out: str = typer.Argument(..., help="Output folder; parts go to OUT/dfdc_train_part_N."),
    parts: int = typer.Option(1, "--parts", help="Number of parts."),
    start_part: int = typer.Option(0, "--start-part", help="Index of the first part."),
    videos: int = typer.Option(12, "--videos", help="Videos per part."),
    ratio: str = typer.Option("1:5", "--ratio", help="REAL:FAKE ratio (DFDC is about 1:5)."),
    duration: float = typer.Option(2.0, "--duration", help="Seconds per video."),
    fps: int = typer.Option(15, "--fps", help="Frames per second."),
    size: str = typer.Option("320x240", "--size", help="Landscape WxH; portrait videos swap it."),
    portrait: float = typer.Option(0.15, "--portrait", help="Fraction of videos rendered portrait."),
    multi_face: Optional[int] = typer.Option(None, "--multi-face", help="Two-person REALs per part (default 1 if videos>=6)."),
    no_face: Optional[int] = typer.Option(None, "--no-face", help="Faceless REALs per part (default 1 if videos>=6)."),
    no_audio: float = typer.Option(0.1, "--no-audio", help="Fraction of videos without an audio stream."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same corpus."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Render processes (default: CPU count)."),
    hostile: bool = typer.Option(False, "--hostile", help="Also add broken/hostile entries to each part (ingest tests)."),
) -> None:
    """Write a synthetic DFDC-layout corpus: real photographed faces, face-swapped fakes, H.264 + AAC mp4."""
    import time

    from rich import box
    from rich.console import Console
    from rich.table import Table

    from dfprep.synth.corpus import SynthConfig, make_corpus
    from dfprep.synth.hostile import add_hostile_files

    cfg = SynthConfig(parts=parts, start_part=start_part, videos=videos, ratio=ratio, duration=duration, fps=fps,
                      size=size, portrait=portrait, multi_face=multi_face, no_face=no_face, no_audio=no_audio,
                      seed=seed, workers=workers)
    from dfprep.options import cli_path

    from dfprep.storage import is_remote

    out = cli_path(out)
    if hostile and is_remote(out):
        Console(stderr=True).print("[red]error:[/red] --hostile writes FIFOs and symlinks: give a local folder")
        raise typer.Exit(2)
    console = Console()
    t0 = time.perf_counter()
    summary = make_corpus(out, cfg)
    table = Table(title=f"synth corpus (seed {seed})", box=box.SIMPLE, padding=(0, 1))
    table.add_column("part", no_wrap=True)
    for col in ("REAL", "FAKE", "2-face", "0-face", "portrait", "no-audio", "hostile"):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(col))
    for name, part in summary["parts"].items():
        n_hostile = len(add_hostile_files(out / name, seed=seed)) if hostile else 0
        table.add_row(name.rsplit("_", 1)[-1], str(part["counts"]["REAL"]), str(part["counts"]["FAKE"]), str(len(part["multi_face"])),
                      str(len(part["no_face"])), str(len(part["portrait"])), str(len(part["no_audio"])),
                      str(n_hostile))
    console.print(table)
    console.print(f"wrote {out if is_remote(out) else out.resolve()} in {time.perf_counter() - t0:.1f}s (summary: {out / 'synth.json'})")
