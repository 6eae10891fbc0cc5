"""`dfprep train SHARDS --out RUN`: a thin Typer layer over `dfprep.train.run.train`.

Multi-GPU / multi-process: `torchrun --nproc_per_node=N -m dfprep.train.ddp SHARDS --out RUN [options]`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from dfprep.train.errors import TrainUsageError, UnsafeShardError


def train_command(
    shards: Path = typer.Argument(..., help="SHARDS folder written by `dfprep shards` (index.json + tars)."),
    out: Path = typer.Option(..., "--out", "-o", help="RUN folder: model.pt, metrics.json, history.csv, tb/."),
    model: str = typer.Option("resnet18", help="resnet18, resnet50, efficientnet_b0 or smallcnn."),
    unit: Optional[str] = typer.Option(None, help="frame or clip (default: as the shards were written)."),
    rnn: str = typer.Option("gru", help="Clip models: gru or lstm over time."),
    epochs: int = typer.Option(5),
    batch_size: int = typer.Option(32, help="Samples per step per rank."),
    lr: float = typer.Option(1e-3, help="Peak AdamW learning rate (warmup, then cosine)."),
    weight_decay: float = typer.Option(0.01),
    grad_clip: float = typer.Option(1.0, help="Max gradient norm (0: off)."),
    seed: int = typer.Option(0),
    weights: Optional[Path] = typer.Option(None, help="Local weights file for the backbone (never downloaded)."),
    workers: int = typer.Option(4, help="DataLoader workers per rank (capped by the rank's shards)."),
    input_size: int = typer.Option(224, help="Model input side, px."),
    video_agg: str = typer.Option("mean", help="A video's probability from its samples': mean, median or max."),
    class_weights: str = typer.Option("auto", help="auto (inverse frequency of train samples) or none."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Online augmentation of train samples."),
    gpu_decode: bool = typer.Option(False, help="Decode JPEGs on the GPU (turns online augmentation off)."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1 (default: cuda when available)."),
    resume: bool = typer.Option(False, help="Continue the run in RUN from its last checkpoint."),
    max_steps: Optional[int] = typer.Option(None, help="Stop after this many steps in all (smoke runs)."),
    checkpoint_every: Optional[int] = typer.Option(None, help="Also checkpoint every N steps."),
    deterministic: bool = typer.Option(False, help="torch.use_deterministic_algorithms (slower on GPU)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train a deepfake detector on WebDataset shards; validate every epoch at frame and video level."""
    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    cfg = TrainConfig(model=model, unit=unit, rnn=rnn, epochs=epochs, batch_size=batch_size, lr=lr,
                      weight_decay=weight_decay, grad_clip=grad_clip, seed=seed,
                      weights=str(weights) if weights else None, workers=workers, input_size=input_size,
                      video_agg=video_agg, class_weights=class_weights, augment=augment, gpu_decode=gpu_decode,
                      device=device, resume=resume, max_steps=max_steps, checkpoint_every=checkpoint_every,
                      deterministic=deterministic, progress=progress)
    console = Console()
    try:
        s = train(shards, out, cfg)
    except (TrainUsageError, UnsafeShardError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: rerun with --resume to continue from the last checkpoint")
        raise typer.Exit(130)
    print_summary(console, s, out)


def print_summary(console: Console, s: dict, out: Path) -> None:
    t = Table(title=f"dfprep train ({s['status']}, {s['steps']} steps, best epoch {s['best_epoch']})")
    t.add_column("split / level")
    for k in ("log_loss", "roc_auc", "accuracy", "f1", "fpr"):
        t.add_column(k, justify="right")
    for split in ("val", "test"):
        for level in ("frame", "video"):
            m = (s.get(split) or {}).get(level)
            if m:
                t.add_row(f"{split} {level}", *("-" if m[k] is None else f"{m[k]:.4f}"
                                               for k in ("log_loss", "roc_auc", "accuracy", "f1", "fpr")))
    if t.row_count:
        console.print(t)
    else:
        console.print(f"dfprep train: {s['status']} after {s['steps']} steps, before any epoch ended "
                      f"(rerun with --resume to continue)")
    console.print(f"run: {out}")
