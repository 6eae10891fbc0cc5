"""Training settings (`TrainConfig`) and their checks; RUN/config.json is this dataclass plus what the shards fix.

Fields that fix the trajectory of a run (model, data order, optimisation; RESUME_FIXED) must match when
resuming (`epochs` too: the cosine schedule spans them); `max_steps`, `checkpoint_every`, evaluation and logging
options may change between sessions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from dfprep.train.data import TrainUsageError
from dfprep.train.metrics import AGGREGATES
from dfprep.train.models import MODELS, RNNS, UNITS

CLASS_WEIGHTS = ("auto", "none")
# Changing any of these mid-run would make the resumed run another run.
RESUME_FIXED = ("model", "epochs", "unit", "clip_len", "rnn", "batch_size", "lr", "weight_decay", "warmup", "grad_clip",
                "seed", "input_size", "augment", "augment_p", "augment_ops", "class_weights", "shuffle_buffer",
                "workers_used", "world_size", "weights", "gpu_decode")


@dataclass
class TrainConfig:
    model: str = "resnet18"             # resnet18 | resnet50 | efficientnet_b0 | smallcnn
    unit: str | None = None             # frame | clip; None: as the shards were written (index.json)
    clip_len: int | None = None         # None: from index.json
    rnn: str = "gru"                    # clip models: gru | lstm
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05                # fraction of all steps spent warming the learning rate up linearly
    grad_clip: float = 1.0              # max gradient norm (0: off)
    seed: int = 0
    weights: str | None = None          # local weights file for the encoder (nothing is downloaded)
    workers: int = 4                    # DataLoader workers per rank (capped by the rank's shards)
    input_size: int = 224
    video_agg: str = "mean"             # mean | median | max of a video's sample probabilities
    threshold: float = 0.5
    augment: bool = True                # online augmentation of train samples
    augment_p: float = 0.5
    augment_ops: tuple[str, ...] | None = None   # None: the shard stage's defaults
    class_weights: str = "auto"         # auto: inverse frequency of the train samples | none
    shuffle_buffer: int = 1000
    prefetch: int = 4                   # batches each worker prepares ahead
    gpu_decode: bool = False            # decode JPEGs on the GPU (online augmentation then off)
    device: str | None = None           # None: cuda when available, else cpu
    max_steps: int | None = None        # stop after this many optimizer steps in all (for tests, smoke runs)
    checkpoint_every: int | None = None  # also checkpoint every N steps (besides each epoch's end)
    keep_checkpoints: int = 2           # epoch checkpoints kept besides last.pt
    deterministic: bool = False         # torch.use_deterministic_algorithms (slower on GPU)
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        if self.augment_ops is not None:
            self.augment_ops = tuple(self.augment_ops)

    def validate(self) -> None:
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
            from dfprep.shards.augment import AUGMENTATIONS

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
