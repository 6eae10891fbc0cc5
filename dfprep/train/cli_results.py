"""`dfprep predict`, `dfprep evaluate`, `dfprep explain`: thin Typer layers over predict.py, evaluate.py, explain.py."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table


def _fail(console: Console, exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


_FROM_RUN = "(default: the run's, recorded from its ingest; a different value is refused)"


def _crop_options(margin, crop_size, max_faces, threshold, min_face_size) -> dict:
    """The crop settings given on the command line ({name: value}; None: not given, the run's is used)."""
    return {"margin": margin, "crop_size": crop_size, "max_faces": max_faces, "threshold": threshold,
            "min_face_size": min_face_size}


def predict_command(
    run: Path = typer.Argument(..., help="RUN folder written by `dfprep train` (config.json, model.pt)."),
    input: Path = typer.Argument(..., help="A folder of mp4s, a DFDC part folder, or a ROOT of dfdc_train_part_*."),
    out: Path = typer.Option(Path("submission.csv"), "--out", "-o", help="Submission CSV (filename,label)."),
    frames: int = typer.Option(32, help="Frames sampled per video, evenly spaced."),
    video_agg: Optional[str] = typer.Option(None, help="mean, median or max of a video's crop/clip "
                                                       "probabilities (default: the run's, else mean)."),
    det_size: Optional[int] = typer.Option(None, help=f"Longest side of the face-detection copy, px {_FROM_RUN}."),
    batch_size: int = typer.Option(64, help="Face crops per model forward pass."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 (default: cuda when available)."),
    detector: Optional[str] = typer.Option(None, help=f"mtcnn or dlib {_FROM_RUN}."),
    margin: Optional[float] = typer.Option(None, help=f"Crop margin {_FROM_RUN}."),
    crop_size: Optional[int] = typer.Option(None, help=f"Square crop side, px {_FROM_RUN}."),
    max_faces: Optional[int] = typer.Option(None, help=f"Faces kept per frame {_FROM_RUN}."),
    threshold: Optional[float] = typer.Option(None, help=f"Min face confidence {_FROM_RUN}."),
    min_face_size: Optional[int] = typer.Option(None, help=f"Smallest face searched {_FROM_RUN}."),
    workers: Optional[int] = typer.Option(None, help="Ray decode workers (default: one per free CPU); "
                                                     "0: everything in this process, no Ray."),
    num_cpus: Optional[int] = typer.Option(None, help="CPUs for the embedded local Ray."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Score every video: P(FAKE) per file in the Kaggle DFDC submission format; 0.5 when no face or unreadable."""
    from dfprep.ingest.scheduler import IngestAbort
    from dfprep.train.predict import PredictError, predict, report_path

    console = Console(soft_wrap=True)  # paths in messages stay whole
    try:
        s = predict(run, input, out, frames=frames, agg=video_agg, det_size=det_size, batch_size=batch_size,
                    device=device, detector=detector, workers=workers, num_cpus=num_cpus, progress=progress,
                    crop=_crop_options(margin, crop_size, max_faces, threshold, min_face_size))
    except (PredictError, FileNotFoundError, IngestAbort) as exc:
        _fail(console, exc)
    for w in s["warnings"]:
        console.print(f"  [yellow]warning[/yellow] {w}", highlight=False)
    for d in s["defaulted"]:
        console.print(f"  [yellow]warning[/yellow] {d['filename']}: {d['reason']}; written as 0.5")
    console.print(f"{s['videos']} videos ({s['scored']} scored by the model, {len(s['defaulted'])} at 0.5) "
                  f"in {s['seconds']:.1f} s")
    console.print(f"submission: {out}\n    report: {report_path(out)}")


def evaluate_command(
    submission: Path = typer.Argument(..., help="submission.csv (filename,label)."),
    root: Path = typer.Argument(..., help="A DFDC part folder (metadata.json) or a ROOT of dfdc_train_part_*."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the metrics as JSON here."),
    threshold: float = typer.Option(0.5, help="A video is called FAKE when its probability >= this."),
) -> None:
    """Score a submission against the labels in metadata.json: DFDC log loss, accuracy, precision, recall, AUC."""
    from dfprep.atomic import write_json
    from dfprep.train.evaluate import EvaluateError, evaluate_submission

    console = Console(soft_wrap=True)  # paths in messages stay whole
    try:
        r = evaluate_submission(submission, root, threshold)
    except EvaluateError as exc:
        _fail(console, exc)
    t = Table(title=f"dfprep evaluate {submission}")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in r["metrics"].items():
        t.add_row(k, "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v)))
    t.add_row("labelled, no row", str(len(r["missing"])))
    t.add_row("row, no label", str(len(r["extra"])))
    console.print(t)
    for key, what in (("missing", "labelled but not in the submission"), ("extra", "in the submission, no label")):
        names = r[key]
        if names:
            more = f" ... {len(names) - 10} more" if len(names) > 10 else ""
            console.print(f"  [yellow]warning[/yellow] {len(names)} {what}: {', '.join(names[:10])}{more}")
    for w in r["warnings"][:10]:
        console.print(f"  [yellow]warning[/yellow] {w}")
    if out:
        write_json(out, r)
        console.print(f"metrics: {out}")


def explain_command(
    run: Path = typer.Argument(..., help="RUN folder written by `dfprep train`."),
    path: Path = typer.Argument(..., help="A face-crop image (jpg/png) or a video."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the PNG overlays and index.json."),
    frames: int = typer.Option(4, help="Video: frames sampled (clip models: at least clip_len)."),
    det_size: Optional[int] = typer.Option(None, help=f"Longest side of the face-detection copy, px {_FROM_RUN}."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 (default: cuda when available)."),
    colormap: str = typer.Option("jet", help="matplotlib colormap of the heatmap."),
    detector: Optional[str] = typer.Option(None, help=f"mtcnn or dlib {_FROM_RUN}."),
    margin: Optional[float] = typer.Option(None, help=f"Crop margin {_FROM_RUN}."),
    crop_size: Optional[int] = typer.Option(None, help=f"Square crop side, px {_FROM_RUN}."),
    max_faces: Optional[int] = typer.Option(None, help=f"Faces kept per frame {_FROM_RUN}."),
    threshold: Optional[float] = typer.Option(None, help=f"Min face confidence {_FROM_RUN}."),
    min_face_size: Optional[int] = typer.Option(None, help=f"Smallest face searched {_FROM_RUN}."),
) -> None:
    """Grad-CAM heatmaps of the FAKE logit over face crops, as PNG overlays."""
    from dfprep.train.explain import ExplainError, explain

    console = Console(soft_wrap=True)  # paths in messages stay whole
    try:
        index = explain(run, path, out, frames=frames, det_size=det_size, device=device, detector=detector,
                        colormap=colormap, crop=_crop_options(margin, crop_size, max_faces, threshold, min_face_size))
    except (ExplainError, FileNotFoundError) as exc:
        _fail(console, exc)
    for w in index["warnings"]:
        console.print(f"  [yellow]warning[/yellow] {w}", highlight=False)
    for it in index["items"]:
        console.print(f"{out / it['file']}  P(FAKE)={it['prob_fake']:.3f}")
    console.print(f"index: {out / 'index.json'}")
