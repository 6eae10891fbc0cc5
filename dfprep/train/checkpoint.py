"""What a run leaves to rebuild its model and to resume it: RUN/config.json, RUN/model.pt, RUN/checkpoints/.

Everything is saved with torch.save as plain containers of tensors, numbers and strings and read back with
torch.load(weights_only=True): loading a checkpoint never unpickles arbitrary objects. Files are written to a
temporary name and renamed, so a kill mid-save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import io
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import torch
from torch import nn

from dfprep.dataset import DEFAULT_CLIP_LEN, UNITS
from dfprep.atomic import tmp_name, write_json
from dfprep.ingest.config import RecordedIngest
from dfprep.storage import as_path, is_remote

CONFIG = "config.json"
MODEL = "model.pt"
CHECKPOINTS = "checkpoints"
LAST = "last.pt"
_EPOCH_RE = re.compile(r"epoch-(\d+)\.pt")


def save_config(run: Path, config: dict) -> None:
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
    """RUN/config.json, checked: TrainUsageError with one line naming the file and the key that is missing or
    of the wrong type. A run trained before the ingest settings were recorded has `ingest` None. RUN may be
    remote (dfprep.storage)."""
    from dfprep.records import Fields, load_object
    from dfprep.train.errors import TrainUsageError

    path = as_path(run) / CONFIG
    f = Fields(load_object(path, TrainUsageError, f"is {run} the --out folder of `dfprep train`?"), path,
               TrainUsageError, note=" (written by an older dfprep? retrain into a new --out)")
    unit = f.need("unit", str)
    if unit not in UNITS:
        raise TrainUsageError(f"{path}: key 'unit' must be frame or clip, got {unit!r}")
    clip = unit == "clip"
    ingest = f.opt_sub("ingest")
    return RunConfig(path, f.need("model", str), unit, f.need("clip_len", int) if clip else None,
                     f.need("rnn", str) if clip else None, f.need("input_size", int), f.opt("video_agg", str),
                     RecordedIngest.from_fields(ingest) if ingest else None, MappingProxyType(dict(f.data)))


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel (or the model itself)."""
    return getattr(model, "module", model)


def save_torch(path: Path, obj) -> None:
    """torch.save to `path` through a temporary folder beside it, then a rename (a kill mid-save leaves the old
    file). torch.save names the zip's inner folder after the file it writes, so the file is written under its
    final name inside that folder: the same object always gives the same bytes (two identical runs give
    byte-identical model.pt)."""
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


def save_model(run: Path, model: nn.Module) -> Path:
    """RUN/model.pt: the state_dict alone (tensors only)."""
    path = Path(run) / MODEL
    save_torch(path, {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()})
    return path


def load_model(run: Path, device: str | torch.device = "cpu",
               config: RunConfig | None = None) -> tuple[nn.Module, RunConfig]:
    """Rebuild RUN's model from config.json and load RUN/model.pt; returns (model in eval mode, config).
    `config`: RUN's config.json as the caller already read it (`read_run_config`), so it is read once. RUN may be
    remote: model.pt is then loaded from its bytes (a failing store: StorageError)."""
    from dfprep.train.models import build_model

    cfg = config if config is not None else read_run_config(run)
    model = build_model(cfg.model, unit=cfg.unit, clip_len=cfg.clip_len or DEFAULT_CLIP_LEN, rnn=cfg.rnn or "gru")
    path = as_path(run) / MODEL
    if not path.is_file():
        from dfprep.train.errors import TrainUsageError

        raise TrainUsageError(f"{path}: not found; the run has not finished an epoch yet")
    source = io.BytesIO(path.read_bytes()) if is_remote(path) else path     # torch.load wants a seekable source
    model.load_state_dict(torch.load(source, map_location="cpu", weights_only=True))
    return model.to(device).eval(), cfg


def rng_state() -> dict:
    """The generators training draws from (dropout, any torch/python randomness), as weights_only-safe values."""
    state = {"torch": torch.get_rng_state(), "python": _to_lists(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())


def _to_lists(x):
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x):
    return tuple(_to_tuples(v) for v in x) if isinstance(x, (tuple, list)) else x


def epoch_checkpoint_name(name: str) -> bool:
    """Whether `name` is an epoch checkpoint's file name (epoch-NNN.pt)."""
    return _EPOCH_RE.fullmatch(name) is not None


def checkpoint_dir(run: Path) -> Path:
    return Path(run) / CHECKPOINTS


def save_checkpoint(run: Path, state: dict, epoch_end: bool, keep: int = 2) -> Path:
    """Write checkpoints/last.pt; at an epoch's end also checkpoints/epoch-NNN.pt, keeping the newest `keep`.

    `state` holds model, optimizer, scheduler (state_dicts), epoch, batches_done (loader position within the
    epoch), step, rng (per rank) and the run's history so far.
    """
    folder = checkpoint_dir(run)
    save_torch(folder / LAST, state)
    if epoch_end:
        save_torch(folder / f"epoch-{state['epoch']:03d}.pt", state)
        epochs = sorted(p for p in folder.glob("epoch-*.pt") if epoch_checkpoint_name(p.name))
        for old in epochs[:-keep] if keep > 0 else epochs:
            old.unlink(missing_ok=True)
    return folder / LAST


def load_checkpoint(run: Path, device: str | torch.device = "cpu") -> dict | None:
    """The latest training state (checkpoints/last.pt), or None when the run has none."""
    path = checkpoint_dir(run) / LAST
    if not path.is_file():
        return None
    return torch.load(path, map_location=device, weights_only=True)
