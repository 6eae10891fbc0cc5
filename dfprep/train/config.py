"""Training settings (`TrainConfig`) and their checks; RUN/config.json is this dataclass plus what the shards fix.

Fields that fix the trajectory of a run (model, data order, optimisation; RESUME_FIXED) must match when
resuming (`epochs` too: the cosine schedule spans them); `max_steps`, `checkpoint_every`, evaluation and logging
options may change between sessions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from dfprep.dataset import UNITS
from dfprep.options import check_declared, opt
from dfprep.train.errors import TrainUsageError

CLASS_WEIGHTS = ("auto", "none")
# Changing any of these mid-run would make the resumed run another run.
RESUME_FIXED = ("model", "epochs", "unit", "clip_len", "rnn", "batch_size", "lr", "weight_decay", "warmup", "grad_clip",
                "seed", "input_size", "augment", "augment_p", "augment_ops", "class_weights", "shuffle_buffer",
                "workers_used", "world_size", "weights", "gpu_decode")


def _models() -> tuple[str, ...]:
    from dfprep.train.models import MODELS      # torch: imported when a name is checked, not at --help

    return tuple(MODELS)


def _rnns() -> tuple[str, ...]:
    from dfprep.train.models import RNNS

    return tuple(RNNS)


def _augmentations() -> tuple[str, ...]:
    from dfprep.augment import AUGMENTATIONS

    return tuple(sorted(AUGMENTATIONS))


def _aggregates() -> tuple[str, ...]:
    from dfprep.train.metrics import AGGREGATES

    return tuple(AGGREGATES)


@dataclass
class TrainConfig:
    """Every training setting, with its CLI help (the `dfprep train` options are derived from these fields)."""
    model: str = opt("resnet18", "resnet18, resnet50, efficientnet_b0 or smallcnn.", choices=_models)
    unit: str | None = opt(None, "frame or clip (default: as the shards were written, index.json).", choices=UNITS)
    clip_len: int | None = opt(None, "Crops per clip sample (default: as the shards were written).")
    rnn: str = opt("gru", "Clip models: gru or lstm over time.", choices=_rnns)
    epochs: int = opt(5, "Epochs over the train split.", min=1)
    batch_size: int = opt(32, "Samples per step per rank.", min=1)
    lr: float = opt(1e-3, "Peak AdamW learning rate (warmup, then cosine).", min=0, min_open=True)
    weight_decay: float = opt(0.01, "AdamW weight decay.")
    warmup: float = opt(0.05, "Fraction of all steps spent warming the learning rate up linearly.", min=0, max=1,
                        max_open=True)
    grad_clip: float = opt(1.0, "Max gradient norm (0: off).")
    seed: int = opt(0, "Seed of the data order, augmentation and initialisation.")
    weights: str | None = opt(None, "Local weights file for the backbone (never downloaded).")
    workers: int = opt(4, "DataLoader workers per rank (capped by the rank's shards).", min=0)
    input_size: int = opt(224, "Model input side, px.", min=1)
    video_agg: str = opt("mean", "A video's probability from its samples': mean, median or max.", choices=_aggregates)
    threshold: float = opt(0.5, "Decision threshold of the accuracy-type metrics.")
    augment: bool = opt(True, "Online augmentation of train samples.")
    augment_p: float = opt(0.5, "Probability of each augmentation op.")
    augment_ops: tuple[str, ...] | None = opt(None, "Augmentation ops, comma-separated (default: the shard stage's).",
                                              choices=_augmentations)
    class_weights: str = opt("auto", "auto (inverse frequency of train samples) or none.", choices=CLASS_WEIGHTS)
    shuffle_buffer: int = opt(1000, "Samples in each loader worker's shuffle buffer.")
    prefetch: int = opt(4, "Batches each loader worker prepares ahead.")
    gpu_decode: bool = opt(False, "Decode JPEGs on the GPU (turns online augmentation off).")
    max_image_pixels: int = opt(4096 * 4096, "Pixel budget of one image (width x height, read from its header "
                                             "before decoding); a shard image over it stops the run as bad data.",
                                 min=1)
    device: str | None = opt(None, "cpu, cuda, cuda:1 (default: cuda when available).")
    max_steps: int | None = opt(None, "Stop after this many optimizer steps in all (smoke runs).", min=1)
    checkpoint_every: int | None = opt(None, "Also checkpoint every N steps (besides each epoch's end).", min=1)
    keep_checkpoints: int = opt(2, "Epoch checkpoints kept besides last.pt.")
    deterministic: bool = opt(False, "torch.use_deterministic_algorithms (slower on GPU).")
    resume: bool = opt(False, "Continue the run in RUN from its last checkpoint.")
    progress: bool = opt(True, "A progress bar per epoch (stderr; its last state only when not a terminal) and a "
                                     "line of metrics per epoch.")

    def __post_init__(self) -> None:
        if self.augment_ops is not None:
            self.augment_ops = tuple(self.augment_ops)

    def validate(self) -> None:
        """The choices and bounds declared beside each field (which the CLI checks itself), then the weights file."""
        check_declared(self, TrainUsageError)
        if self.weights is not None and not Path(self.weights).is_file():
            raise TrainUsageError(f"--weights {self.weights}: no such file (weights are never downloaded)")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["augment_ops"] = list(self.augment_ops) if self.augment_ops is not None else None
        return d


def resume_mismatch(old: dict, new: dict) -> list[str]:
    """Settings that differ between a checkpointed run and the resuming one (each 'name: old -> new')."""
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in RESUME_FIXED if old.get(k) != new.get(k)]
