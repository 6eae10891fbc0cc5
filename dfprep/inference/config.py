"""The settings of `dfprep predict`, `evaluate` and `explain` (their options are derived from these fields).

Predict and explain cut faces as the run's ingest did: each takes the crop settings a user may force
(`CropOverrides`, refused when they differ from the run's) besides its own.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from dfprep.ingest.config import CropOverrides
from dfprep.options import opt

_CROP = {f.name for f in fields(CropOverrides)}
_DEVICE = "cpu, cuda, cuda:1 (default: cuda when available)."


def _aggregates() -> tuple[str, ...]:
    from dfprep.train.metrics import AGGREGATES      # torch: imported when a name is checked, not at --help

    return tuple(AGGREGATES)


@dataclass
class PredictConfig(CropOverrides):
    """`dfprep predict` settings; field names are `predict()`'s keyword arguments (`video_agg`: its `agg`)."""
    frames: int = opt(32, "Frames sampled per video, evenly spaced.", min=1)
    video_agg: str | None = opt(None, "mean, median or max of a video's crop/clip probabilities (default: the "
                                      "run's, else mean).", choices=_aggregates)
    batch_size: int = opt(64, "Face crops per model forward pass.", min=1)
    device: str | None = opt(None, _DEVICE)
    workers: int | None = opt(None, "Ray decode workers (default: one per free CPU); 0: everything in this "
                                    "process, no Ray.", min=0)
    num_cpus: int | None = opt(None, "CPUs for the embedded local Ray.", min=1)
    progress: bool = opt(True, "Progress bar.")
    follow_symlinks: bool = opt(False, "Read *.mp4 symlinks leading out of INPUT (default: never opened, 0.5 with "
                                       "the target named).")

    def predict_kwargs(self) -> dict:
        """The keyword arguments of `dfprep.inference.predict.predict` these settings make."""
        det_size, detector, given = self.forced()
        own = {k: v for k, v in asdict(self).items() if k not in _CROP}
        own["agg"] = own.pop("video_agg")
        return {**own, "det_size": det_size, "detector": detector, "crop": given}


@dataclass
class EvaluateConfig:
    """`dfprep evaluate` settings. With a submission: `evaluate_submission()`'s keyword arguments
    (`submission_kwargs`); with a RUN: `evaluate_run()`'s (`run_kwargs`)."""
    threshold: float = opt(0.5, "A video (a sample, at frame level) is called FAKE when its probability >= this.",
                           min=0, max=1)
    strict: bool = opt(False, "Submission: fail (exit 1) unless the rows are exactly the labelled videos, as Kaggle "
                              "would; nothing is scored then.")
    split: str = opt("test", "RUN: the split of SHARDS to score (val of the run's own shards chose the model: "
                             "warned).", choices=("train", "val", "test"))
    video_agg: str | None = opt(None, "RUN: video aggregation the table and figure show (matrix.csv has every "
                                      "one; default: the run's, else mean).", choices=_aggregates)
    batch_size: int = opt(64, "RUN: samples per model forward pass.", min=1)
    device: str | None = opt(None, _DEVICE)
    workers: int = opt(0, "RUN: DataLoader workers reading the shards (0: in this process).", min=0)

    SUBMISSION = ("threshold", "strict")

    def submission_kwargs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k in self.SUBMISSION}

    def run_kwargs(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "strict"}


@dataclass
class ExplainConfig(CropOverrides):
    """`dfprep explain` settings; field names are `explain()`'s keyword arguments."""
    frames: int = opt(4, "Video: frames sampled (clip models: at least clip_len).", min=1)
    device: str | None = opt(None, _DEVICE)
    colormap: str = opt("jet", "matplotlib colormap of the heatmap.")     # checked by explain(): a long list
    max_image_pixels: int = opt(4096 * 4096, "Pixel budget of an image input (width x height, read from its "
                                             "header before decoding).", min=1)

    def explain_kwargs(self) -> dict:
        """The keyword arguments of `dfprep.inference.explain.explain` these settings make."""
        det_size, detector, given = self.forced()
        own = {k: v for k, v in asdict(self).items() if k not in _CROP}
        return {**own, "det_size": det_size, "detector": detector, "crop": given}
