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

from dfprep.formats.shards import INDEX
from dfprep.shards.summary import ShardsSummary
from dfprep.options import StoragePath, argument, command, option
from dfprep.shards.config import ShardsConfig, VerifyConfig
from dfprep.storage import as_path

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


def _shards(cfg: ShardsConfig, work: Path, out: Path, overwrite: bool) -> None:
    """Write train/val/test shards: families never cross splits; train balanced; index.json last."""
    from dfprep.shards.run import make_shards

    try:
        summary = make_shards(work, out, cfg, overwrite=overwrite)
    except OSError as exc:     # the driver's own writes failed: say why, what to do and what is kept
        error = _write_error(exc, out)
        if error is None:
            raise
        raise error from exc
    print_summary(Console(), summary)


def _write_error(exc: OSError, out):
    """The driver's failed write as a ShardWriteError (a store failure, exit 1) naming OUT, the reason and what
    to do; None for an OSError no hint covers (it propagates as it is)."""
    from dfprep.shards.run import HINTS, ShardWriteError, cause_line
    from dfprep.storage import StorageError

    hint = HINTS.get(exc.errno, "wait until the store is back" if isinstance(exc, StorageError) else None)
    if hint is None:
        return None
    return ShardWriteError([f"cannot write {out}: {cause_line(exc)}; {hint} and rerun the same command to resume "
                            "(finished shards are kept)"])


def _per_split(counts: dict) -> str:
    return ", ".join(f"{s} {n}" for s, n in counts.items() if n) or "none"


def print_summary(console: Console, summary: ShardsSummary) -> None:
    """The run's table (one row per split) and lines: a re-split, a growth or nothing new, warnings."""
    t = Table(title="dfprep shards")
    for col in ("split", "samples", "REAL", "FAKE", "families", "shards", "MB"):
        t.add_column(col, justify="left" if col == "split" else "right")
    for s in summary.splits:
        t.add_row(s.name, str(s.samples), str(s.real), str(s.fake), str(s.families), str(s.shards),
                  f"{s.bytes / 1e6:.1f}")
    console.print(t)
    grow = summary.growth
    if summary.resplit:
        rs = summary.resplit
        console.print(f"re-split: WORK changed under SHARDS ({rs['n_changes']} change(s), {len(rs['leaks'])} "
                      f"family leak(s) avoided); every shard rewritten, {len(rs['moved'])} video(s) moved split "
                      "(index.json `resplit` lists them)", highlight=False, soft_wrap=True)
    if summary.nothing_new:
        console.print(f"nothing new: {summary.nothing_new}; {grow.kept} shards kept as they are, nothing written")
    elif grow.generation:
        console.print(f"generation {grow.generation}: {grow.kept} old shards kept; new families: "
                      f"{_per_split(grow.new_families)}; old families and groups joined by new videos: "
                      f"{_per_split(grow.joined_families)}; new shards: {_per_split(grow.new_shards)}")
    datasets = summary.index.get("datasets") or {}
    if len(datasets) > 1 or summary.index.get("dataset_splits"):
        for name, by in datasets.items():       # several datasets: what each split holds of each
            per = ", ".join(f"{sp} {n['REAL']} REAL / {n['FAKE']} FAKE" for sp, n in by.items())
            console.print(f"  {name}: {per}", highlight=False, soft_wrap=True)
    console.print(f"written {summary.written}, reused {summary.reused}, {summary.timings.get('total_s')} s; "
                  f"class weights {summary.class_weights}")
    for w in summary.warnings:
        console.print(f"  [yellow]warning[/yellow] {w}")
    console.print(f"  index: {as_path(summary.out) / INDEX}")


def _verify(cfg: VerifyConfig, shards, work) -> None:
    """Reread every shard with webdataset; exit 1 with the list of problems, 0 when all is well."""
    from dfprep.formats.shards import read_shards_index
    from dfprep.shards.verify import verify_shards

    console = Console()
    problems = verify_shards(shards, work, workers=cfg.workers)
    if problems:
        for p in problems:
            console.print(f"[red]problem[/red] {p}", highlight=False, soft_wrap=True)
        console.print(f"[red]{len(problems)} problem(s)[/red] in {shards}")
        raise typer.Exit(1)
    index = read_shards_index(shards)
    n = len(index.entries())
    samples = sum(s.samples for s in index.splits.values())
    console.print(f"[green]ok[/green]: {n} shards, {samples} samples in {shards}")


shards_command = command(ShardsConfig, _shards, leading=[
    argument("work", StoragePath, "WORK folder of `dfprep ingest` (videos.parquet, faces.parquet)."),
    option("out", StoragePath, ..., "--out", "-o", help="SHARDS folder for the .tar shards and index.json.")],
    trailing=[option("overwrite", bool, False, "--overwrite", help="Replace shards in OUT made with other settings.")])
verify_command = command(VerifyConfig, _verify, leading=[
    argument("shards", StoragePath, "SHARDS folder written by `dfprep shards`."),
    option("work", Optional[StoragePath], None, "--work", help="WORK whose face store the labels are checked "
                                                               "against (default: the one recorded in index.json, "
                                                               "if present).")])
shards_app.command(DEFAULT_COMMAND)(shards_command)
shards_app.command("verify")(verify_command)
