"""The files a run writes besides checkpoints: history.csv, steps.csv, predictions, metrics.json, tb/.

Only rank 0 writes them. Whole-file outputs are written to a temporary name and renamed; steps.csv is a log
appended to as training goes, cut back to the checkpoint's step when a run resumes.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from dfprep.atomic import write_bytes, write_json
from dfprep.train.metrics import KEYS, video_level

HISTORY = "history.csv"
STEPS = "steps.csv"
METRICS = "metrics.json"
METRICS_CSV = "metrics.csv"
METRIC_FIELDS = ["split", "level", "n", "n_real", "n_fake", "log_loss", "roc_auc", "accuracy", "precision", "recall",
                 "specificity", "f1", "fpr"]
VAL_PREDICTIONS = "val_predictions.csv"
TEST_PREDICTIONS = "test_predictions.csv"
TB = "tb"
STEP_FIELDS = ["step", "epoch", "batch", "loss", "lr"]
EPOCH_FIELDS = ["epoch", "step", "lr", "train_loss", "train_samples", "train_seconds", "train_samples_per_s",
                "val_seconds"]


def history_row(epoch: int, step: int, lr: float, train: dict, val: dict | None, val_seconds: float) -> dict:
    """One epoch's line of history.csv: training figures, then val_frame_* and val_video_* metrics."""
    row = {"epoch": epoch, "step": step, "lr": lr, "train_loss": train["loss"], "train_samples": train["samples"],
           "train_seconds": round(train["seconds"], 3),
           "train_samples_per_s": round(train["samples"] / train["seconds"], 2) if train["seconds"] else None,
           "val_seconds": round(val_seconds, 3)}
    for level in ("frame", "video"):
        for k in KEYS:
            row[f"val_{level}_{k}"] = (val or {}).get(level, {}).get(k)
    return row


def _csv_bytes(rows: list[dict], fields: list[str]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return buf.getvalue().encode()


def write_history(run: Path, rows: list[dict]) -> None:
    fields = EPOCH_FIELDS + [f"val_{lv}_{k}" for lv in ("frame", "video") for k in KEYS]
    write_bytes(Path(run) / HISTORY, _csv_bytes(rows, fields))


def write_predictions(path: Path, videos: list[str], labels: list[int], probs: list[float], agg: str) -> None:
    """Video-level predictions `video,label,prob` (label 1 = FAKE), a video's prob pooled over its samples."""
    names, y, p = video_level(videos, labels, probs, agg)
    rows = [{"video": v, "label": int(a), "prob": f"{float(b):.6f}"} for v, a, b in zip(names, y, p)]
    write_bytes(path, _csv_bytes(rows, ["video", "label", "prob"]))


def write_metrics(run: Path, summary: dict) -> None:
    """metrics.json (the nested summary) and metrics.csv beside it: one flat row per (split, level), what
    pandas, polars or a spreadsheet read without flattening anything."""
    write_json(Path(run) / METRICS, summary)
    rows = [{"split": split, "level": level, **{k: m.get(k) for k in METRIC_FIELDS[2:]}}
            for split in ("val", "test") for level in ("frame", "video")
            for m in [((summary.get(split) or {}).get(level))] if m]
    write_bytes(Path(run) / METRICS_CSV, _csv_bytes(rows, METRIC_FIELDS))


class StepLog:
    """RUN/steps.csv: per-step loss and learning rate (the record the resume test compares)."""

    def __init__(self, run: Path, resume_step: int):
        self.path = Path(run) / STEPS
        if resume_step and self.path.is_file():          # drop steps after the checkpoint (they will be redone)
            with open(self.path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= resume_step]
            write_bytes(self.path, _csv_bytes(rows, STEP_FIELDS))
        elif not resume_step or not self.path.is_file():
            write_bytes(self.path, _csv_bytes([], STEP_FIELDS))

    def append(self, rows: list[dict]) -> None:
        with open(self.path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=STEP_FIELDS, lineterminator="\n")
            for r in rows:
                w.writerow(r)


def read_steps(run: Path) -> list[dict]:
    with open(Path(run) / STEPS, newline="") as fh:
        return [{"step": int(r["step"]), "epoch": int(r["epoch"]), "batch": int(r["batch"]),
                 "loss": float(r["loss"]), "lr": float(r["lr"])} for r in csv.DictReader(fh)]


class Board:
    """TensorBoard scalars under RUN/tb (rank 0 only; a no-op elsewhere)."""

    def __init__(self, run: Path | None, purge_step: int | None):
        self.writer = None
        if run is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(run) / TB), purge_step=purge_step or None)

    def steps(self, rows: list[dict]) -> None:
        if self.writer:
            for r in rows:
                self.writer.add_scalar("train/loss", r["loss"], r["step"])
                self.writer.add_scalar("train/lr", r["lr"], r["step"])

    def evaluation(self, split: str, metrics: dict, step: int) -> None:
        if self.writer:
            for level, m in metrics.items():
                for k, v in m.items():
                    if v is not None and k not in ("n", "n_real", "n_fake"):
                        self.writer.add_scalar(f"{split}/{level}/{k}", float(v), step)

    def flush(self) -> None:
        """Write the pending events (before a remote RUN is uploaded)."""
        if self.writer:
            self.writer.flush()

    def close(self) -> None:
        if self.writer:
            self.writer.close()
