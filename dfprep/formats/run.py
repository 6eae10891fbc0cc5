"""RUN, the folder `dfprep train` writes, as one format: its names, the CSV and JSON files' fields, their writers,
and the typed readers predict, evaluate, explain and a resumed run use.

| name | what |
| --- | --- |
| config.json | the run's settings (`read_run_config`: what other stages read of it) |
| model.pt | the best model's state_dict (tensors only) |
| checkpoints/last.pt, checkpoints/epoch-NNN.pt | training state to resume from |
| metrics.json, metrics.csv | the summary, and one flat row per (split, level) |
| history.csv, steps.csv | one row per epoch; per-step loss and learning rate (cut back on resume) |
| val_predictions.csv, test_predictions.csv | video-level `video,label,prob` |
| tb/ | TensorBoard events |
| rank<R>_shards.json | the train shards rank R read |

Only rank 0 writes (but its own rank file per rank). Whole files are written to a temporary name and renamed;
steps.csv is a log appended to as training goes. Tensors are saved with torch.save as plain containers and read
back with torch.load(weights_only=True): reading a RUN never unpickles arbitrary objects.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from dfprep.atomic import tmp_name, write_bytes, write_json
from dfprep.dataset import UNITS
from dfprep.errors import UsageError
from dfprep.ingest.config import RecordedIngest
from dfprep.storage import as_path, is_remote
from dfprep.train.metrics import KEYS, video_level

CONFIG = "config.json"
MODEL = "model.pt"
CHECKPOINTS = "checkpoints"
LAST = "last.pt"
HISTORY = "history.csv"
STEPS = "steps.csv"
METRICS = "metrics.json"
METRICS_CSV = "metrics.csv"
VAL_PREDICTIONS = "val_predictions.csv"
TEST_PREDICTIONS = "test_predictions.csv"
TB = "tb"
_EPOCH_RE = re.compile(r"epoch-(\d+)\.pt")

METRIC_FIELDS = ["split", "level", "n", "n_real", "n_fake", "log_loss", "roc_auc", "accuracy", "precision", "recall",
                 "specificity", "f1", "fpr"]
STEP_FIELDS = ["step", "epoch", "batch", "loss", "lr"]
EPOCH_FIELDS = ["epoch", "step", "lr", "train_loss", "train_samples", "train_seconds", "train_samples_per_s",
                "val_seconds"]
PREDICTION_FIELDS = ["video", "label", "prob"]


class RunError(UsageError):
    """A RUN file that its reader cannot use (absent, unreadable, a key missing or mistyped): one line naming the
    file and the key (exit 2: the folder given is not the RUN it should be)."""


def epoch_checkpoint(epoch: int) -> str:
    """The file name of epoch `epoch`'s checkpoint in checkpoints/."""
    return f"epoch-{epoch:03d}.pt"


def epoch_checkpoint_name(name: str) -> bool:
    """Whether `name` is an epoch checkpoint's file name (epoch-NNN.pt)."""
    return _EPOCH_RE.fullmatch(name) is not None


def rank_shards(rank: int) -> str:
    """The file listing the train shards rank `rank` read."""
    return f"rank{rank}_shards.json"


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / CHECKPOINTS


def last_checkpoint(run) -> Path:
    """checkpoints/last.pt of a local or remote RUN: the checkpoint `--resume` continues from."""
    return as_path(run) / CHECKPOINTS / LAST


# --- config.json ---------------------------------------------------------------------------------------------------

def write_config(run: Path, config: dict) -> None:
    write_json(Path(run) / CONFIG, config)


@dataclass(frozen=True)
class RunConfig:
    """What other stages (predict, explain) read of RUN/config.json (`read_run_config`).

    `config["key"]` reads any key of the file as written (the documented `model, config = load_model(RUN)`).
    """
    path: Path
    model: str
    unit: str                           # frame | clip
    clip_len: int | None                # clip models only
    rnn: str | None                     # clip models only
    input_size: int
    video_agg: str | None               # None in a config.json written by hand without it
    ingest: RecordedIngest | None       # the ingest settings the training crops were cut with; None: not recorded
    raw: Mapping = field(repr=False, compare=False)

    def __getitem__(self, key: str):
        return self.raw[key]


def read_run_config(run: Path) -> RunConfig:
    """RUN/config.json, checked: RunError with one line naming the file and the key that is missing or of the
    wrong type. A run trained before the ingest settings were recorded has `ingest` None. RUN may be remote
    (dfprep.storage)."""
    from dfprep.records import Fields, load_object

    path = as_path(run) / CONFIG
    f = Fields(load_object(path, RunError, f"is {run} the --out folder of `dfprep train`?"), path,
               RunError, note=" (written by an older dfprep? retrain into a new --out)")
    unit = f.need("unit", str)
    if unit not in UNITS:
        raise RunError(f"{path}: key 'unit' must be frame or clip, got {unit!r}")
    clip = unit == "clip"
    ingest = f.opt_sub("ingest")
    return RunConfig(path, f.need("model", str), unit, f.need("clip_len", int) if clip else None,
                     f.need("rnn", str) if clip else None, f.need("input_size", int), f.opt("video_agg", str),
                     RecordedIngest.from_fields(ingest) if ingest else None, MappingProxyType(dict(f.data)))


# --- model.pt and checkpoints/ ---------------------------------------------------------------------------------------

def save_torch(path: Path, obj) -> None:
    """torch.save to `path` through a temporary folder beside it, then a rename (a kill mid-save leaves the old
    file). torch.save names the zip's inner folder after the file it writes, so the file is written under its
    final name inside that folder: the same object always gives the same bytes (two identical runs give
    byte-identical model.pt)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = tmp_name(path)
    try:
        folder.mkdir()
        torch.save(obj, folder / path.name)
        with open(folder / path.name, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(folder / path.name, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_model_state(run: Path, state: dict) -> Path:
    """RUN/model.pt: a state_dict (tensors only)."""
    path = Path(run) / MODEL
    save_torch(path, state)
    return path


def read_model_state(run) -> dict:
    """RUN/model.pt's state_dict, on the CPU; RunError naming the file when the run has none yet. RUN
    may be remote: the file is then read from its bytes (a failing store: StorageError)."""
    import torch

    path = as_path(run) / MODEL
    if not path.is_file():
        raise RunError(f"{path}: not found; the run has not finished an epoch yet")
    source = io.BytesIO(path.read_bytes()) if is_remote(path) else path     # torch.load wants a seekable source
    return torch.load(source, map_location="cpu", weights_only=True)


def save_checkpoint(run: Path, state: dict, epoch_end: bool, keep: int = 2) -> Path:
    """Write checkpoints/last.pt; at an epoch's end also checkpoints/epoch-NNN.pt, keeping the newest `keep`.

    `state` holds model, optimizer, scheduler (state_dicts), epoch, batches_done (loader position within the
    epoch), step, rng (per rank), config and the run's history so far.
    """
    folder = checkpoint_dir(run)
    save_torch(folder / LAST, state)
    if epoch_end:
        save_torch(folder / epoch_checkpoint(state["epoch"]), state)
        epochs = sorted(p for p in folder.glob("epoch-*.pt") if epoch_checkpoint_name(p.name))
        for old in epochs[:-keep] if keep > 0 else epochs:
            old.unlink(missing_ok=True)
    return folder / LAST


def load_checkpoint(run: Path, device="cpu") -> dict | None:
    """The latest training state (checkpoints/last.pt), or None when the run has none."""
    import torch

    path = checkpoint_dir(run) / LAST
    if not path.is_file():
        return None
    return torch.load(path, map_location=device, weights_only=True)


# --- CSV and JSON outputs ----------------------------------------------------------------------------------------------

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
    write_bytes(path, _csv_bytes(rows, PREDICTION_FIELDS))


def write_metrics(run: Path, summary: dict) -> None:
    """metrics.json (the nested summary) and metrics.csv beside it: one flat row per (split, level), what
    pandas, polars or a spreadsheet read without flattening anything."""
    write_json(Path(run) / METRICS, summary)
    rows = [{"split": split, "level": level, **{k: m.get(k) for k in METRIC_FIELDS[2:]}}
            for split in ("val", "test") for level in ("frame", "video")
            for m in [((summary.get(split) or {}).get(level))] if m]
    write_bytes(Path(run) / METRICS_CSV, _csv_bytes(rows, METRIC_FIELDS))


@dataclass(frozen=True)
class RunMetrics:
    """What is read back of RUN/metrics.json (`read_metrics`): how far the run got."""
    path: Path
    status: str                 # complete | running | stopped
    epochs_done: int
    steps: int
    best_epoch: int | None


def read_metrics(run) -> RunMetrics | None:
    """RUN/metrics.json, checked (RunError naming the file and the key); None when the run has written none."""
    from dfprep.records import Fields, load_object

    path = as_path(run) / METRICS
    if not path.is_file():
        return None
    f = Fields(load_object(path, RunError, ""), path, RunError)
    return RunMetrics(path, f.need("status", str), f.need("epochs_done", int), f.need("steps", int),
                      f.opt("best_epoch", int))


def write_rank_shards(run: Path, rank: int, shards: list[str]) -> None:
    write_json(Path(run) / rank_shards(rank), sorted(shards))


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
