"""`dfprep predict`, `dfprep evaluate`, `dfprep explain`: thin Typer layers over predict.py, evaluate.py, explain.py."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dfprep.ingest.config import CropOverrides
from dfprep.options import StoragePath, argument, cli_path, command, option


def _console() -> Console:
    """Messages name files (paths, CSV rows, metadata keys): no wrapping inside a path, no highlighting."""
    return Console(soft_wrap=True, highlight=False)


def _warn(console: Console, text: str) -> None:
    console.print(f"  [yellow]warning[/yellow] {escape(text)}")


def _fail(console: Console, exc: Exception, code: int = 2) -> None:
    """One line `error: message`, the message escaped (a file name such as `[/x].mp4` is text, not rich
    markup); exit 2 for misuse, 1 for bad data."""
    console.print(f"[red]error:[/red] {escape(str(exc))}")
    raise typer.Exit(code)


def _predict(crop: CropOverrides, run: Path, input: Path, out: Path, frames: int, video_agg: Optional[str],
             batch_size: int, device: Optional[str], workers: Optional[int], num_cpus: Optional[int],
             progress: bool, follow_symlinks: bool) -> None:
    """Score every video: P(FAKE) per file in the Kaggle DFDC submission format; 0.5 when no face or unreadable."""
    from dfprep.ingest.scheduler import IngestAbort
    from dfprep.storage import StorageError, UnsupportedURI
    from dfprep.inference.predict import PredictError, predict, report_path

    det_size, detector, given = crop.forced()
    console = _console()
    try:
        s = predict(run, input, out, frames=frames, agg=video_agg, det_size=det_size, batch_size=batch_size,
                    device=device, detector=detector, workers=workers, num_cpus=num_cpus, progress=progress,
                    crop=given, follow_symlinks=follow_symlinks)
    except (PredictError, FileNotFoundError, IngestAbort, StorageError, UnsupportedURI) as exc:  # store failing: 1
        _fail(console, exc, 1 if isinstance(exc, StorageError) else 2)
    for w in s.warnings:
        _warn(console, w)
    for d in s.defaulted:
        _warn(console, f"{d.filename}: {d.reason}; written as 0.5")
    console.print(f"{s.videos} videos ({s.scored} scored by the model, {len(s.defaulted)} at 0.5) "
                  f"in {s.seconds:.1f} s")
    console.print(escape(f"submission: {out}\n    report: {report_path(out)}"))


def evaluate_command(
    submission: str = typer.Argument(..., help="submission.csv (filename,label)."),
    root: str = typer.Argument(..., help="A DFDC part folder (metadata.json) or a ROOT of dfdc_train_part_*."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Also write the metrics as JSON here."),
    threshold: float = typer.Option(0.5, help="A video is called FAKE when its probability >= this."),
    strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) unless the rows are exactly the labelled "
                                                         "videos, as Kaggle would; nothing is scored then."),
) -> None:
    """Score a submission against the labels in metadata.json: DFDC log loss, accuracy, precision, recall, AUC."""
    from dfprep.atomic import write_json
    from dfprep.storage import StorageError
    from dfprep.inference.evaluate import EvaluateError, SubmissionMismatch, evaluate_submission, show_names
    from dfprep.train.metrics import shown

    console = _console()
    submission, root, out = cli_path(submission), cli_path(root), cli_path(out)
    try:
        r = evaluate_submission(submission, root, threshold, strict=strict)
    except (EvaluateError, StorageError) as exc:
        _fail(console, exc, 1 if isinstance(exc, (SubmissionMismatch, StorageError)) else 2)
    t = Table(title=escape(f"dfprep evaluate {submission}"))
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in r["metrics"].items():
        t.add_row(k, "n/a" if v is None else shown(v))             # --out keeps every digit
    t.add_row("labelled, no row", str(len(r["missing"])))
    t.add_row("row, no label", str(len(r["extra"])))
    console.print(t)
    for key, what in (("missing", "labelled but not in the submission"), ("extra", "in the submission, no label")):
        names = r[key]
        if names:
            _warn(console, f"{len(names)} {what}: {show_names(names, 10)}")
    for w in r["warnings"][:10]:
        _warn(console, w)
    if out:
        try:
            write_json(out, r)
        except StorageError as exc:
            _fail(console, exc, 1)
        console.print(f"metrics: {escape(str(out))}")


def _explain(crop: CropOverrides, run: Path, path: Path, out: Path, frames: int, device: Optional[str],
             colormap: str, max_image_pixels: int) -> None:
    """Grad-CAM heatmaps of the FAKE logit over face crops, as PNG overlays."""
    from dfprep.storage import StorageError
    from dfprep.inference.explain import ExplainDataError, ExplainError, explain

    det_size, detector, given = crop.forced()
    console = _console()
    try:
        index = explain(run, path, out, frames=frames, det_size=det_size, device=device, detector=detector,
                        colormap=colormap, crop=given, max_image_pixels=max_image_pixels)
    except (ExplainError, FileNotFoundError, StorageError) as exc:   # bad data, a failing store: 1; misuse: 2
        _fail(console, exc, 1 if isinstance(exc, (ExplainDataError, StorageError)) else 2)
    for w in index["warnings"]:
        _warn(console, w)
    for it in index["items"]:
        console.print(escape(f"{out / it['file']}  P(FAKE)={it['prob_fake']:.3f}"))
    console.print(escape(f"index: {out / 'index.json'}"))


predict_command = command(CropOverrides, _predict, leading=[
    argument("run", StoragePath, "RUN folder written by `dfprep train` (config.json, model.pt)."),
    argument("input", StoragePath, "A folder of mp4s, a DFDC part folder, or a ROOT of dfdc_train_part_*."),
    option("out", StoragePath, "submission.csv", "--out", "-o", help="Submission CSV (filename,label)."),
    option("frames", int, 32, "--frames", help="Frames sampled per video, evenly spaced."),
    option("video_agg", Optional[str], None, "--video-agg", help="mean, median or max of a video's crop/clip "
                                                              "probabilities (default: the run's, else mean)."),
    option("batch_size", int, 64, "--batch-size", help="Face crops per model forward pass."),
    option("device", Optional[str], None, "--device", help="cpu, cuda, cuda:1 (default: cuda when available)."),
    option("workers", Optional[int], None, "--workers", help="Ray decode workers (default: one per free CPU); "
                                                            "0: everything in this process, no Ray."),
    option("num_cpus", Optional[int], None, "--num-cpus", help="CPUs for the embedded local Ray."),
    option("progress", bool, True, "--progress/--no-progress", help="Progress bar."),
    option("follow_symlinks", bool, False, "--follow-symlinks",
           help="Read *.mp4 symlinks leading out of INPUT (default: never opened, 0.5 with the target named).")])

explain_command = command(CropOverrides, _explain, leading=[
    argument("run", StoragePath, "RUN folder written by `dfprep train`."),
    argument("path", StoragePath, "A face-crop image (jpg/png) or a video."),
    option("out", StoragePath, ..., "--out", "-o", help="Folder for the PNG overlays and index.json."),
    option("frames", int, 4, "--frames", help="Video: frames sampled (clip models: at least clip_len)."),
    option("device", Optional[str], None, "--device", help="cpu, cuda, cuda:1 (default: cuda when available)."),
    option("colormap", str, "jet", "--colormap", help="matplotlib colormap of the heatmap."),
    option("max_image_pixels", int, 4096 * 4096, "--max-image-pixels",
           help="Pixel budget of an image input (width x height, read from its header before decoding).")])
