"""Training settings (`TrainConfig`) and their checks; RUN/config.json is this dataclass plus what the shards fix.

Fields that fix the trajectory of a run (model, data order, optimisation; RESUME_FIXED) must match when
resuming (`epochs` too: the cosine schedule spans them); `max_steps`, `checkpoint_every`, evaluation and logging
options may change between sessions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from dfprep.options import opt
from dfprep.train.errors import TrainUsageError

CLASS_WEIGHTS = ("auto", "none")
# Changing any of these mid-run would make the resumed run another run.
RESUME_FIXED = ("model", "epochs", "unit", "clip_len", "rnn", "batch_size", "lr", "weight_decay", "warmup", "grad_clip",
                "seed", "input_size", "augment", "augment_p", "augment_ops", "class_weights", "shuffle_buffer",
                "workers_used", "world_size", "weights", "gpu_decode")


@dataclass
class TrainConfig:
    """Every training setting, with its CLI help (the `dfprep train` options are derived from these fields)."""
    model: str = opt("resnet18", "resnet18, resnet50, efficientnet_b0 or smallcnn.")
    unit: str | None = opt(None, "frame or clip (default: as the shards were written, index.json).")
    clip_len: int | None = opt(None, "Crops per clip sample (default: as the shards were written).")
    rnn: str = opt("gru", "Clip models: gru or lstm over time.")
    epochs: int = opt(5, "Epochs over the train split.")
    batch_size: int = opt(32, "Samples per step per rank.")
    lr: float = opt(1e-3, "Peak AdamW learning rate (warmup, then cosine).")
    weight_decay: float = opt(0.01, "AdamW weight decay.")
    warmup: float = opt(0.05, "Fraction of all steps spent warming the learning rate up linearly.")
    grad_clip: float = opt(1.0, "Max gradient norm (0: off).")
    seed: int = opt(0, "Seed of the data order, augmentation and initialisation.")
    weights: str | None = opt(None, "Local weights file for the backbone (never downloaded).")
    workers: int = opt(4, "DataLoader workers per rank (capped by the rank's shards).")
    input_size: int = opt(224, "Model input side, px.")
    video_agg: str = opt("mean", "A video's probability from its samples': mean, median or max.")
    threshold: float = opt(0.5, "Decision threshold of the accuracy-type metrics.")
    augment: bool = opt(True, "Online augmentation of train samples.")
    augment_p: float = opt(0.5, "Probability of each augmentation op.")
    augment_ops: tuple[str, ...] | None = opt(None, "Augmentation ops, comma-separated (default: the shard stage's).")
    class_weights: str = opt("auto", "auto (inverse frequency of train samples) or none.")
    shuffle_buffer: int = opt(1000, "Samples in each loader worker's shuffle buffer.")
    prefetch: int = opt(4, "Batches each loader worker prepares ahead.")
    gpu_decode: bool = opt(False, "Decode JPEGs on the GPU (turns online augmentation off).")
    max_image_pixels: int = opt(4096 * 4096, "Pixel budget of one image (width x height, read from its header "
                                             "before decoding); a shard image over it stops the run as bad data.")
    device: str | None = opt(None, "cpu, cuda, cuda:1 (default: cuda when available).")
    max_steps: int | None = opt(None, "Stop after this many optimizer steps in all (smoke runs).")
    checkpoint_every: int | None = opt(None, "Also checkpoint every N steps (besides each epoch's end).")
    keep_checkpoints: int = opt(2, "Epoch checkpoints kept besides last.pt.")
    deterministic: bool = opt(False, "torch.use_deterministic_algorithms (slower on GPU).")
    resume: bool = opt(False, "Continue the run in RUN from its last checkpoint.")
    progress: bool = opt(True, "A progress bar per epoch (stderr; its last state only when not a terminal) and a "
                                     "line of metrics per epoch.")

    def __post_init__(self) -> None:
        if self.augment_ops is not None:
            self.augment_ops = tuple(self.augment_ops)

    def validate(self) -> None:
        from dfprep.train.metrics import AGGREGATES
        from dfprep.dataset import UNITS
        from dfprep.train.models import MODELS, RNNS

        if self.model not in MODELS:
            raise TrainUsageError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.unit is not None and self.unit not in UNITS:
            raise TrainUsageError(f"--unit must be frame or clip, got {self.unit!r}")
        if self.rnn not in RNNS:
            raise TrainUsageError(f"--rnn must be gru or lstm, got {self.rnn!r}")
        if self.video_agg not in AGGREGATES:
            raise TrainUsageError(f"--video-agg must be one of {', '.join(AGGREGATES)}, got {self.video_agg!r}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise TrainUsageError(f"--class-weights must be auto or none, got {self.class_weights!r}")
        for name in ("epochs", "batch_size", "input_size"):
            if getattr(self, name) < 1:
                raise TrainUsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_image_pixels < 1:
            raise TrainUsageError(f"--max-image-pixels must be >= 1, got {self.max_image_pixels}")
        if self.lr <= 0:
            raise TrainUsageError(f"--lr must be > 0, got {self.lr}")
        if self.workers < 0:
            raise TrainUsageError(f"--workers must be >= 0, got {self.workers}")
        if not 0.0 <= self.warmup < 1.0:
            raise TrainUsageError(f"warmup is a fraction of all steps in [0, 1), got {self.warmup}")
        for name in ("max_steps", "checkpoint_every"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise TrainUsageError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
        if self.weights is not None and not Path(self.weights).is_file():
            raise TrainUsageError(f"--weights {self.weights}: no such file (weights are never downloaded)")
        if self.augment_ops is not None:
            from dfprep.augment import AUGMENTATIONS

            unknown = [n for n in self.augment_ops if n not in AUGMENTATIONS]
            if unknown:
                raise TrainUsageError(f"unknown augmentations {unknown}; known: {sorted(AUGMENTATIONS)}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["augment_ops"] = list(self.augment_ops) if self.augment_ops is not None else None
        return d


def resume_mismatch(old: dict, new: dict) -> list[str]:
    """Settings that differ between a checkpointed run and the resuming one (each 'name: old -> new')."""
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in RESUME_FIXED if old.get(k) != new.get(k)]
