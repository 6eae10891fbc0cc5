"""`dfprep ingest ROOT --out WORK`: a thin Typer layer over `dfprep.ingest.run.ingest`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from dfprep.ingest.config import IngestConfig
from dfprep.ingest.discover import IngestUsageError


def ingest_command(
    root: Path = typer.Argument(..., help="Folder holding dfdc_train_part_* folders."),
    out: Path = typer.Option(..., "--out", "-o", help="WORK folder for videos.parquet, faces.parquet, run.json."),
    parts: Optional[str] = typer.Option(None, help="Parts to ingest, e.g. 0,3-5 (default: all)."),
    frames: int = typer.Option(32, help="Frames sampled per video, evenly spaced."),
    decoder: str = typer.Option("pyav-nonref", help="pyav-nonref (PyAV, skips unsampled non-reference frames; bit-identical), pyav or decord. pyav is also the fallback."),
    faces: bool = typer.Option(True, "--faces/--no-faces", help="Detect and crop faces (else probe+decode)."),
    detector: str = typer.Option("mtcnn", help="mtcnn (facenet-pytorch, GPU if any) or dlib (HOG, CPU)."),
    det_size: int = typer.Option(960, help="Longest side of the detection copy, px."),
    min_face_size: int = typer.Option(40, help="Smallest face searched, in detection-copy px."),
    threshold: Optional[float] = typer.Option(None, help="Min face confidence (default mtcnn 0.95, dlib 0.5)."),
    max_faces: int = typer.Option(2, help="Faces kept per frame, most confident first."),
    margin: float = typer.Option(0.3, help="Crop margin, fraction of the box on each side."),
    crop_size: int = typer.Option(224, help="Square crop side, px."),
    boxes_from_original: bool = typer.Option(False, help="Cut FAKE crops at their original's boxes."),
    identity: bool = typer.Option(True, "--identity/--no-identity",
                                  help="A 128-d face embedding per track (dlib ResNet), for identity-aware splits."),
    batch_videos: int = typer.Option(16, help="Videos per output file."),
    num_cpus: Optional[int] = typer.Option(None, help="CPUs for the embedded local Ray."),
    address: Optional[str] = typer.Option(None, envvar="RAY_ADDRESS", help="Existing Ray cluster address."),
    workers: Optional[int] = typer.Option(None, help="Decode workers (default: CPUs left after detectors)."),
    detectors: Optional[int] = typer.Option(None, help="Detector actors (0: detect inside each worker)."),
    gpus_per_detector: Optional[float] = typer.Option(None, help="GPU share per detector (e.g. 0.25)."),
    detector_resource: Optional[str] = typer.Option(None, help="Custom Ray resource detectors require."),
    det_cross_video: Optional[bool] = typer.Option(
        None, "--det-cross-video/--no-det-cross-video",
        help="Batch frames of several videos per detector pass (default: on GPU; off on CPU, bit-exact)."),
    timeout: float = typer.Option(300.0, help="Time limit per video, seconds."),
    overwrite: bool = typer.Option(False, help="Discard WORK's previous ingest and start again."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Discover, validate, probe and decode DFDC videos on Ray; detect and crop faces into a face store."""
    from dfprep.ingest.run import ingest
    from dfprep.ingest.scheduler import FATAL_ERRNOS, IngestAbort

    cfg = IngestConfig(parts=parts, frames=frames, decoder=decoder, faces=faces, detector=detector,
                       det_size=det_size, min_face_size=min_face_size, threshold=threshold, max_faces=max_faces,
                       margin=margin, crop_size=crop_size, boxes_from_original=boxes_from_original, identity=identity,
                       batch_videos=batch_videos, num_cpus=num_cpus, address=address, workers=workers,
                       detectors=detectors, gpus_per_detector=gpus_per_detector,
                       detector_resource=detector_resource, det_cross_video=det_cross_video, timeout_s=timeout,
                       progress=progress)
    console = Console()
    try:
        s = ingest(root, out, cfg, overwrite=overwrite)
    except IngestUsageError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2)
    except IngestAbort as exc:
        console.print(f"[red]ingest stopped:[/red] {exc}\nEvery file in {out} with its final name is complete; "
                      "fix the cause and rerun the same command to resume.")
        raise typer.Exit(1)
    except OSError as exc:
        if exc.errno not in FATAL_ERRNOS:
            raise
        console.print(f"[red]ingest stopped:[/red] cannot write outputs: {exc}\nEvery file in {out} with its "
                      "final name is complete; free space and rerun the same command to resume.")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: finished videos are kept; rerun the same command to resume")
        raise typer.Exit(130)
    print_summary(console, s)


def print_summary(console: Console, s: dict) -> None:
    t = Table(title="dfprep ingest", show_header=True)
    t.add_column("what")
    t.add_column("count", justify="right")
    for k, v in s["by_status"].items():
        t.add_row(f"videos {k}", str(v))
    t.add_row("videos total", str(s["videos"]))
    t.add_row("face crops", str(s["faces"]))
    t.add_row("ok videos with no face", str(s["ok_videos_without_face"]))
    t.add_row("processed this run / resumed", f"{s['processed_this_run']} / {s['resumed']}")
    t.add_row("seconds", f"{s['timings']['total_s']:.1f}")
    console.print(t)
    for e in s["errors_this_run"][:20]:
        console.print(f"  [red]error[/red] {e['video']}: {e['error']}")
    if len(s["errors_this_run"]) > 20:
        console.print(f"  ... {len(s['errors_this_run']) - 20} more in videos.parquet")
    for p in s["problems"][:10]:
        console.print(f"  [yellow]warning[/yellow] {p}")
    if len(s["problems"]) > 10:
        console.print(f"  ... {len(s['problems']) - 10} more in run.json")
    for k, v in s["outputs"].items():
        console.print(f"{k:>7}: {v}")
