"""`dfprep ingest ROOT --out WORK`: a thin Typer layer over `dfprep.ingest.run.ingest`."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from dfprep.ingest.config import IngestConfig
from dfprep.options import StoragePath, argument, command, option
from dfprep.ingest.summary import IngestSummary
from dfprep.storage import StorageError, is_remote


def _ingest(cfg: IngestConfig, root, out, overwrite: bool) -> None:
    """Read each ROOT through its dataset layout (recognised, or --dataset), probe and decode its videos on Ray,
    detect and crop faces into a face store. Several ROOTs (one per dataset) share one WORK."""
    from dfprep.ingest.run import ingest

    try:
        s = ingest(root, out, cfg, overwrite=overwrite)
    except OSError as exc:      # a remote store's client failing outside dfprep's wrappers: the store's failure
        if isinstance(exc, StorageError) or not (any(map(is_remote, root)) or is_remote(out)):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StorageError(f"the store failed: {first}; finished videos are kept in {out}") from exc
    print_summary(Console(), s)


ingest_command = command(IngestConfig, _ingest, leading=[
    argument("root", list[StoragePath], "Dataset folder(s): DFDC parts, FaceForensics++, Celeb-DF, ... (README, "
                                        "Datasets); one per dataset."),
    option("out", StoragePath, ..., "--out", "-o", help="WORK folder for videos.parquet, faces.parquet, run.json.")],
    trailing=[option("overwrite", bool, False, "--overwrite", help="Discard WORK's previous ingest and start again.")])


def print_summary(console: Console, s: IngestSummary) -> None:
    for r in s.roots:
        console.print(f"{r['root']}: {r['layout']} layout ({r.get('evidence') or 'given'}), datasets "
                      f"{', '.join(r['datasets']) or 'none'}")
    t = Table(title="dfprep ingest", show_header=True)
    t.add_column("what")
    t.add_column("count", justify="right")
    for k, v in s.by_status.items():
        t.add_row(f"videos {k}", str(v))
    t.add_row("videos total", str(s.videos))
    if s.datasets and len(s.datasets) > 1:
        for d, counts in s.datasets.items():
            t.add_row(f"  dataset {d}", str(sum(counts.values())))
    t.add_row("face crops", str(s.faces))
    t.add_row("ok videos with no face", str(s.ok_videos_without_face))
    t.add_row("processed this run / resumed", f"{s.processed_this_run} / {s.resumed}")
    t.add_row("seconds", f"{s.total_s:.1f}")
    console.print(t)
    for e in s.errors_this_run[:20]:
        console.print(f"  [red]error[/red] {e.video}: {e.error}")
    if len(s.errors_this_run) > 20:
        console.print(f"  ... {len(s.errors_this_run) - 20} more in videos.parquet")
    for p in s.problems[:10]:
        console.print(f"  [yellow]warning[/yellow] {p}")
    if len(s.problems) > 10:
        console.print(f"  ... {len(s.problems) - 10} more in run.json")
    for k, v in s.outputs.items():
        console.print(f"{k:>7}: {v}")
