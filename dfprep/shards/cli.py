"""`dfprep shards WORK --out SHARDS` and `dfprep shards verify SHARDS`: thin Typer layers over the library.

Both forms live in one Typer app, `shards_app`: its group routes any first word that is not a subcommand
name to the `write` command, so `dfprep shards WORK --out S` means `dfprep shards write WORK --out S`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from dfprep.shards.config import ShardsConfig, ShardsUsageError

DEFAULT_COMMAND = "write"


class DefaultCommandGroup(TyperGroup):
    """A group whose first argument, when it is not a subcommand (or a help flag), goes to `write`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


shards_app = typer.Typer(cls=DefaultCommandGroup, no_args_is_help=True, add_completion=False,
                         help="Balanced, leak-free, augmented WebDataset shards of a face store; "
                              "`dfprep shards WORK --out SHARDS`, then `dfprep shards verify SHARDS`.")


def shards_command(
    work: Path = typer.Argument(..., help="WORK folder of `dfprep ingest` (videos.parquet, faces.parquet)."),
    out: Path = typer.Option(..., "--out", "-o", help="SHARDS folder for the .tar shards and index.json."),
    split: str = typer.Option("0.8,0.1,0.1", help="train,val,test shares of crops, by family (any ratios)."),
    val_parts: Optional[str] = typer.Option(None, help="DFDC parts for val, e.g. 45-47 (instead of --split)."),
    test_parts: Optional[str] = typer.Option(None, help="DFDC parts for test, e.g. 48-49."),
    group: str = typer.Option("family", help="What a split keeps whole: family, or identity (families whose face "
                                             "embeddings are within --identity-threshold: one person)."),
    identity_threshold: float = typer.Option(0.6, help="Embedding distance linking two tracks with --group "
                                                       "identity (dlib's same-person threshold)."),
    seed: int = typer.Option(0, help="Seed of splits, balance, shuffles and augmentation."),
    balance: str = typer.Option("undersample", help="undersample, oversample or none (train)."),
    ratio: str = typer.Option("1:1", help="Target REAL:FAKE, e.g. 1:1 or 1:2."),
    balance_eval: bool = typer.Option(False, help="Balance val and test too (else natural distribution)."),
    augment: str = typer.Option("oversampled", help="off, oversampled (repeated copies) or all (train)."),
    unit: str = typer.Option("frame", help="frame (one crop per sample) or clip (--clip-len crops of a track)."),
    clip_len: int = typer.Option(8, help="Crops per clip with --unit clip."),
    shard_size: str = typer.Option("256MB", help="Target shard size."),
    samples_per_shard: Optional[int] = typer.Option(None, help="Samples per shard (overrides --shard-size)."),
    num_cpus: Optional[int] = typer.Option(None, help="CPUs for the embedded local Ray."),
    address: Optional[str] = typer.Option(None, envvar="RAY_ADDRESS", help="Existing Ray cluster address."),
    overwrite: bool = typer.Option(False, help="Replace shards in OUT made with other settings."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Write train/val/test shards: families never cross splits; train balanced; index.json last."""
    from dfprep.shards.run import make_shards

    cfg = ShardsConfig(split=split, val_parts=val_parts, test_parts=test_parts, group=group,
                       identity_threshold=identity_threshold, seed=seed, balance=balance,
                       ratio=ratio, balance_eval=balance_eval, augment=augment, unit=unit, clip_len=clip_len,
                       shard_size=shard_size, samples_per_shard=samples_per_shard, num_cpus=num_cpus,
                       address=address, progress=progress)
    console = Console()
    try:
        index = make_shards(work, out, cfg, overwrite=overwrite)
    except ShardsUsageError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    except RuntimeError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: finished shards are kept; rerun the same command to resume")
        raise typer.Exit(130)
    print_summary(console, index)


def print_summary(console: Console, index: dict) -> None:
    t = Table(title="dfprep shards")
    for col in ("split", "samples", "REAL", "FAKE", "families", "shards", "MB"):
        t.add_column(col, justify="left" if col == "split" else "right")
    for name, s in index["splits"].items():
        t.add_row(name, str(s["samples"]), str(s["real"]), str(s["fake"]), str(s["families"]),
                  str(len(s["shards"])), f"{s['bytes'] / 1e6:.1f}")
    console.print(t)
    run = index.get("run", {})
    console.print(f"written {run.get('written')}, reused {run.get('reused')}, "
                  f"{run.get('timings', {}).get('total_s')} s; class weights {index.get('class_weights')}")
    for w in index.get("warnings", []):
        console.print(f"  [yellow]warning[/yellow] {w}")
    console.print(f"  index: {Path(run.get('out', '.')) / 'index.json'}")


def verify_command(
    shards: Path = typer.Argument(..., help="SHARDS folder written by `dfprep shards`."),
    work: Optional[Path] = typer.Option(None, help="WORK whose face store the labels are checked against "
                                                   "(default: the one recorded in index.json, if present)."),
    workers: int = typer.Option(1, help="Shards checked in parallel processes."),
) -> None:
    """Reread every shard with webdataset; exit 1 with the list of problems, 0 when all is well."""
    from dfprep.shards.index import read_index
    from dfprep.shards.verify import verify_shards

    console = Console()
    problems = verify_shards(shards, work, workers=workers)
    if problems:
        for p in problems:
            console.print(f"[red]problem[/red] {p}", highlight=False, soft_wrap=True)
        console.print(f"[red]{len(problems)} problem(s)[/red] in {shards}")
        raise typer.Exit(1)
    index = read_index(shards)
    n = sum(len(s["shards"]) for s in index["splits"].values())
    console.print(f"[green]ok[/green]: {n} shards, {index['samples']} samples in {shards}")


shards_app.command(DEFAULT_COMMAND)(shards_command)
shards_app.command("verify")(verify_command)
