"""`dfprep analyze WORK`: a thin Typer layer over `dfprep.analysis.run.analyze`."""
from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from dfprep.analysis.load import AnalysisError
from dfprep.options import cli_path


def analyze_command(
    work: Optional[str] = typer.Argument(None, help="WORK folder written by `dfprep ingest` (report goes to "
                                                      "WORK/report unless --out)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Report folder (default WORK/report)."),
    metadata_only: Optional[str] = typer.Option(
        None, "--metadata-only", metavar="PATH",
        help="Label and family statistics from metadata.json alone, before any video is decoded: a ROOT of "
             "dfdc_train_part_* folders or one metadata.json. WORK need not exist."),
    gallery: int = typer.Option(8, help="Crops per gallery row (REAL, FAKE, fake/original pairs)."),
    seed: int = typer.Option(0, help="Seed for choosing gallery crops."),
    augment_preview: bool = typer.Option(True, "--augment-preview/--no-augment-preview",
                                         help="Show the shard stage's augmentations on a few crops."),
    shards: Optional[str] = typer.Option(None, help="SHARDS folder of this WORK: report identity leakage "
                                                     "between its splits."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar over the report's steps "
                                                                          "(stderr)."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Report on a WORK whose ingest did not finish "
                                                                      "(stats.json then says partial: true)."),
) -> None:
    """Build the EDA report (index.html, stats.json, figures/*.png) from videos.parquet and faces.parquet."""
    from dfprep.analysis.run import alarm_lines, analyze

    console = Console(soft_wrap=True)  # long paths stay whole, copyable
    work, out, metadata_only, shards = (cli_path(x) for x in (work, out, metadata_only, shards))
    if work is None and out is None:
        console.print("[red]error:[/red] give a WORK folder, or --out DIR (e.g. with --metadata-only)")
        raise typer.Exit(2)
    try:
        s = analyze(work, out=out, metadata_only_root=metadata_only, gallery_size=gallery, seed=seed,
                    augment_preview=augment_preview, shards=shards, progress=progress, allow_partial=allow_partial)
    except AnalysisError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    t = s["totals"]
    line = f"{t['videos']:,} videos: {t['REAL']:,} REAL, {t['FAKE']:,} FAKE"
    if "faces" in t:
        line += f"; {t['ok']:,} decoded ok, {t['faces']:,} face crops"
    console.print(line)
    if s.get("partial"):
        console.print(f"[yellow]partial[/yellow]: the ingest of {work} did not finish ({s['partial_reason']}); "
                      "the report covers what was written so far")
    for alarm in alarm_lines(s).values():
        console.print(f"[bold red]alarm[/bold red]: {alarm}")
    dup = s.get("similarity", {}).get("cross_family_duplicates", {})
    if dup.get("hashes"):
        console.print(f"[yellow]leakage warning[/yellow]: {dup['hashes']:,} crop hashes shared across families")
    leak = s.get("identity", {}).get("leakage") or {}
    if leak.get("leaking_clusters"):
        console.print(f"[yellow]identity leakage[/yellow]: {leak['leaking_clusters']:,} identity clusters have "
                      f"videos in more than one split of {shards}")
    console.print(f"report: {s['outputs']['html']}\n stats: {s['outputs']['stats']}")
