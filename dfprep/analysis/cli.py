"""`dfprep analyze WORK`: a thin Typer layer over `dfprep.analysis.run.analyze`."""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional

from rich.console import Console

from dfprep.analysis.config import AnalyzeConfig, AnalyzeSummary
from dfprep.options import StoragePath, argument, command, option


def _analyze(cfg: AnalyzeConfig, work, out, metadata_only, shards) -> None:
    """Build the EDA report (index.html, stats.json, figures/*.png) from videos.parquet and faces.parquet."""
    from dfprep.analysis.load import AnalysisError
    from dfprep.analysis.run import analyze

    if work is None and out is None:
        raise AnalysisError("give a WORK folder, or --out DIR (e.g. with --metadata-only)")
    s = AnalyzeSummary.of(analyze(work, out=out, metadata_only_root=metadata_only, shards=shards, **asdict(cfg)))
    console = Console(soft_wrap=True)  # long paths stay whole, copyable
    line = f"{s.videos:,} videos: {s.real:,} REAL, {s.fake:,} FAKE"
    if s.faces is not None:
        line += f"; {s.ok:,} decoded ok, {s.faces:,} face crops"
    console.print(line)
    if s.partial_reason:
        console.print(f"[yellow]partial[/yellow]: the ingest of {work} did not finish ({s.partial_reason}); "
                      "the report covers what was written so far")
    for alarm in s.alarms:
        console.print(f"[bold red]alarm[/bold red]: {alarm}")
    if s.shared_crop_hashes:
        console.print(f"[yellow]leakage warning[/yellow]: {s.shared_crop_hashes:,} crop hashes shared across families")
    if s.leaking_clusters:
        console.print(f"[yellow]identity leakage[/yellow]: {s.leaking_clusters:,} identity clusters have videos in "
                      f"more than one split of {shards}")
    console.print(f"report: {s.html}\n stats: {s.stats}")


analyze_command = command(AnalyzeConfig, _analyze, leading=[
    argument("work", Optional[StoragePath], "WORK folder written by `dfprep ingest` (report goes to WORK/report "
                                            "unless --out).", default=None),
    option("out", Optional[StoragePath], None, "--out", "-o", help="Report folder (default WORK/report)."),
    option("metadata_only", Optional[StoragePath], None, "--metadata-only",
           help="Label and family statistics from metadata.json alone, before any video is decoded: a ROOT of "
                "dfdc_train_part_* folders or one metadata.json. WORK need not exist."),
    option("shards", Optional[StoragePath], None, "--shards", help="SHARDS folder of this WORK: report identity "
                                                                   "leakage between its splits.")])
