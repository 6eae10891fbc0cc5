"""`dfprep train SHARDS --out RUN`: a thin Typer layer over `dfprep.train.run.train`.

Multi-GPU / multi-process: `torchrun --nproc_per_node=N -m dfprep.train SHARDS --out RUN [options]`.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from dfprep.options import StoragePath, argument, command, option
from dfprep.train.config import TrainConfig
from dfprep.train.metrics import shown
from dfprep.train.summary import TrainSummary

# What `dfprep.cli.reported` prints on Ctrl-C: a RUN resumes with --resume, not by rerunning the same command.
TRAIN_INTERRUPTED = "interrupted: the last checkpoint is kept; rerun with --resume to continue from it"


def _train(cfg, shards: Path, out: Path) -> None:
    """Train a deepfake detector on WebDataset shards; validate every epoch at frame and video level."""
    from dfprep.train.run import train

    print_summary(Console(), train(shards, out, cfg), out)


train_command = command(TrainConfig, _train, leading=[
    argument("shards", StoragePath, "SHARDS folder written by `dfprep shards` (index.json + tars)."),
    option("out", StoragePath, ..., "--out", "-o", help="RUN folder: model.pt, metrics.json, history.csv, tb/.")])


def print_summary(console: Console, s: TrainSummary, out: Path) -> None:
    t = Table(title=f"dfprep train ({s.status}, {s.steps} steps, best epoch {s.best_epoch})")
    t.add_column("split / level")
    for k in ("log_loss", "roc_auc", "accuracy", "f1", "fpr"):
        t.add_column(k, justify="right")
    for split, metrics in (("val", s.val), ("test", s.test)):
        for level in ("frame", "video"):
            m = (metrics or {}).get(level)
            if m:
                t.add_row(f"{split} {level}", *(shown(m[k]) for k in ("log_loss", "roc_auc", "accuracy", "f1", "fpr")))
    if t.row_count:
        console.print(t)
    else:
        console.print(f"dfprep train: {s.status} after {s.steps} steps, before any epoch ended "
                      f"(rerun with --resume to continue)")
    console.print(f"run: {out}")
