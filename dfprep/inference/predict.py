"""`dfprep predict`: videos -> faces (the ingest core) -> the trained model -> a Kaggle DFDC submission.csv.

Every input video gets exactly one row. A video that fails to decode, or in which no face is found, gets the
uninformative 0.5 (the DFDC's best guess without evidence) and a warning, never a missing row. Probabilities
are written unclipped; the DFDC log loss (and `dfprep evaluate`) clips them to [1e-15, 1 - 1e-15].

`predict_videos` is the plain core (no Ray); `predict` runs it in-process (workers=0) or spreads decode and
face detection over the ingest Ray scheduler and scores each video in the driver as it finishes.
"""
from __future__ import annotations

import csv
import io
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from dfprep.atomic import write_bytes, write_json
from dfprep.ingest.config import CROP_SETTINGS, IngestConfig, IngestSettings
from dfprep.dataset import DEFAULT_CLIP_LEN, Status, clip_windows, file_entry
from dfprep.ingest.video import DetectFn, process_video
from dfprep.storage import AnyPath, StorageError, as_path
from dfprep.formats.run import RunConfig
from dfprep.train.metrics import AGGREGATES, POOL
from dfprep.inference.outputs import journal_folder, remove_stale_tmp_siblings, report_path
from dfprep.inference.inputs import PredictError, list_inputs

DEFAULT_PROB = 0.5
HEADER = ("filename", "label")


@dataclass
class VideoScore:
    """One submission row and how it came about."""
    filename: str
    prob: float                 # probability FAKE; DEFAULT_PROB when `reason` is set
    n_faces: int = 0            # face crops found
    n_scored: int = 0           # model inputs scored: crops (frame model) or clips (clip model)
    reason: str | None = None   # why the video got DEFAULT_PROB (decode error, no face)


@dataclass(frozen=True)
class PredictSummary:
    """What `predict` returns and `dfprep predict` prints; `record` is OUT.report.json as written (with the
    per-video scores and the input files' identity)."""
    submission: str
    videos: int                         # rows of the submission: every input video
    scored: int                         # rows the model scored
    defaulted: tuple[VideoScore, ...]   # rows at DEFAULT_PROB, by file name, each with its reason
    warnings: tuple[str, ...]
    seconds: float
    crop: dict                          # the crop settings used (`crop_settings`)
    crop_from: str                      # "run" or "defaults"
    config: dict                        # the scoring settings, as recorded
    record: dict


# --- options ---------------------------------------------------------------------------------------------------

def option_name(setting: str) -> str:
    """The command-line option of an ingest setting: det_size -> --det-size."""
    return "--" + setting.replace("_", "-")


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


def crop_settings(run_cfg: RunConfig, forced: dict | None = None) -> tuple[dict, str | None]:
    """The crop settings (`CROP_SETTINGS`: detector, det_size, min_face_size, threshold, max_faces, margin,
    crop_size, jpeg_quality, track_iou) that predict and explain cut crops with, and a warning or None.

    They are the run's: the settings of the ingest its training crops came from, which `dfprep shards` records
    in index.json and `dfprep train` copies into RUN/config.json (`ingest.settings`), so a video's crops are cut
    exactly as the ingest cut them (byte-identical JPEGs for the same frames). `forced` holds the settings the
    user gave ({name: value}; None means not given): each must equal the run's, or a PredictError names the
    option, the run's value and the given one. A run that records no ingest settings (trained before they were
    recorded, or from a WORK without run.json) gets IngestConfig's defaults with `forced` applied, and a
    one-line warning.
    """
    from dfprep.faces.detectors import DETECTORS

    forced = {k: v for k, v in (forced or {}).items() if v is not None}
    unknown = sorted(set(forced) - set(CROP_SETTINGS))
    if unknown:
        raise PredictError(f"unknown crop settings {unknown}; known: {', '.join(CROP_SETTINGS)}")
    if forced.get("detector", "mtcnn") not in DETECTORS:
        raise PredictError(f"--detector {forced['detector']}: expected one of {', '.join(DETECTORS)}")
    if run_cfg.ingest is None:
        crop = IngestSettings.of(IngestConfig(**forced)).crop()
        return crop, (f"{run_cfg.path} records no ingest settings (a run trained before they were recorded, or "
                      f"from shards of a WORK without run.json): crops are cut with ingest's defaults"
                      f"{' and ' + ', '.join(f'{option_name(k)} {v}' for k, v in forced.items()) if forced else ''}"
                      f", which may differ from the training crops")
    crop = run_cfg.ingest.settings.crop()
    for k, v in forced.items():
        if not _same(v, crop[k]):
            raise PredictError(f"{option_name(k)} {v}: the run's crops were cut with {k} {crop[k]} "
                               f"(recorded in {run_cfg.path}); leave the option out to cut the same crops")
    return crop, None


def ingest_config(frames: int = 32, crop: dict | None = None, **scheduling) -> IngestConfig:
    """Ingest settings for predict and explain: the crop settings `crop` (from `crop_settings`, the run's; None:
    IngestConfig's defaults), `frames` sampled frames and the scheduling fields as the caller chooses, no
    progress bar of its own.

    `frames` is a sampling choice, not a crop setting: each sampled frame's crops are the same whichever other
    frames are sampled (only the track ids depend on the set), so predict may sample more or fewer frames per
    video than the ingest did. No identity embeddings: nothing here reads them, and on Ray a worker would
    otherwise load dlib's models and embed every track.
    """
    return IngestConfig(frames=frames, progress=False, identity=False, **(crop or {}), **scheduling)


def crop_detector(icfg: IngestConfig, device: str | torch.device = "cpu"):
    """The face detector of `icfg` in this process (predict with --workers 0, explain); dlib ignores the
    MTCNN-only arguments."""
    from dfprep.faces.detectors import make_detector

    return make_detector(icfg.detector, min_face_size=icfg.min_face_size, device=str(device))


# --- scoring ---------------------------------------------------------------------------------------------------

def model_units(faces: pa.Table, unit: str, clip_len: int) -> list[list[int]]:
    """Row indices of the model inputs: one crop each (frame model), or clips of one track (clip model).

    Clips are non-overlapping windows of clip_len consecutive crops of each track, in frame order, the tail left
    out, as `dfprep shards --unit clip` cuts them. A video with no full window still gets a prediction: each
    of its tracks becomes one shorter clip (the temporal model takes any length).
    """
    if faces.num_rows == 0:
        return []
    if unit == "frame":
        return [[i] for i in range(faces.num_rows)]
    tracks = faces.column("track_id").to_numpy()
    frames = faces.column("frame_idx").to_numpy()
    clips = clip_windows(tracks, frames, clip_len).tolist()
    if clips:
        return clips
    return [sorted(np.flatnonzero(tracks == t).tolist(), key=lambda i: frames[i]) for t in np.unique(tracks)]


def decode_crops(jpegs: list[bytes], max_pixels: int | None = None) -> torch.Tensor:
    """Face-store JPEG bytes -> uint8 [N,3,H,W]; a crop whose header promises more than `max_pixels` pixels
    (default `dfprep.imagesize.MAX_IMAGE_PIXELS`) raises ImageTooLarge before anything is decoded."""
    from dfprep.imagesize import MAX_IMAGE_PIXELS, check_pixels
    from dfprep.train.data import decode_jpeg_bytes

    for b in jpegs:
        check_pixels(b, max_pixels or MAX_IMAGE_PIXELS)
    return torch.stack([decode_jpeg_bytes(b) for b in jpegs])


@torch.inference_mode()
def unit_probs(model: nn.Module, cfg: RunConfig, faces: pa.Table, batch_size: int = 64,
               device: str | torch.device = "cpu") -> np.ndarray:
    """P(FAKE) of every model input of one video (see `model_units`), in batches of ~batch_size images."""
    from dfprep.train.data import to_input

    unit, clip_len, size = cfg.unit, cfg.clip_len or DEFAULT_CLIP_LEN, cfg.input_size
    units = model_units(faces, unit, clip_len)
    if not units:
        return np.zeros(0, np.float64)
    jpegs = faces.column("jpeg").to_pylist()
    per_batch = max(1, batch_size // max(len(u) for u in units))
    out = []
    for s in range(0, len(units), per_batch):
        group = units[s:s + per_batch]
        lengths = {len(u) for u in group}
        for n in sorted(lengths):   # short clips (only when no full window exists) batch with their own length
            same = [u for u in group if len(u) == n]
            x = torch.stack([decode_crops([jpegs[i] for i in u]) for u in same]).to(device)   # [b,T,3,H,W]
            x = to_input(x[:, 0] if unit == "frame" else x, size)
            out.append(torch.sigmoid(model(x).float()).cpu().numpy().astype(np.float64))
    return np.concatenate(out)


def aggregate(probs: np.ndarray, agg: str = "mean") -> float:
    if agg not in AGGREGATES:
        raise PredictError(f"unknown video aggregation {agg!r}; expected one of {', '.join(AGGREGATES)}")
    return float(POOL[agg](probs))


def score_video(model: nn.Module, cfg: RunConfig, row: dict, faces: pa.Table, agg: str = "mean", batch_size: int = 64,
                device: str | torch.device = "cpu") -> VideoScore:
    """One video's ingest result (videos.parquet row + face rows) -> its submission score."""
    name = row["video"]
    if row["status"] != Status.OK:
        return VideoScore(name, DEFAULT_PROB, reason=f"not decoded: {row.get('error') or row['status']}")
    if faces.num_rows == 0:
        return VideoScore(name, DEFAULT_PROB, reason="no face found in the sampled frames")
    probs = unit_probs(model, cfg, faces, batch_size, device)
    p = aggregate(probs, agg)
    if not math.isfinite(p):
        return VideoScore(name, DEFAULT_PROB, faces.num_rows, len(probs), reason="the model gave a non-finite output")
    return VideoScore(name, p, faces.num_rows, len(probs))


def error_score(name: str, reason: str) -> VideoScore:
    return VideoScore(name, DEFAULT_PROB, reason=reason)


def exception_reason(exc: BaseException) -> str:
    """'Type: first line of the message' (at most 300 characters)."""
    lines = str(exc).splitlines()
    return f"{type(exc).__name__}: {lines[0][:300]}" if lines else type(exc).__name__


def predict_videos(model: nn.Module, cfg: RunConfig, paths: list[AnyPath], icfg: IngestConfig, detect: DetectFn,
                   agg: str = "mean", batch_size: int = 64, device: str | torch.device = "cpu",
                   on_video=None) -> dict[str, VideoScore]:
    """The plain core, one video after another in this process: {file name: VideoScore} for every path.

    Nothing a single video does stops the others: an unexpected exception becomes that video's 0.5 and reason.
    A remote video is spooled to a local file while it is decoded, one at a time (`process_video`); a store
    that fails stops the run (StorageError), since a 0.5 would blame the video for it.
    """
    out: dict[str, VideoScore] = {}
    for path in paths:
        path = as_path(path)
        try:
            row, faces, _ = process_video(file_entry(path), icfg, detect)
            s = score_video(model, cfg, row, faces, agg, batch_size, device)
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad video must not cost the others their rows
            s = error_score(path.name, exception_reason(exc))
        out[path.name] = s
        if on_video:
            on_video(s)
    return out


# --- outputs ---------------------------------------------------------------------------------------------------

def submission_bytes(scores: dict[str, VideoScore]) -> bytes:
    """`filename,label` with one row per video, sorted by file name, probabilities to 6 decimals."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for name in sorted(scores):
        w.writerow([name, f"{scores[name].prob:.6f}"])
    return buf.getvalue().encode("utf-8")


# --- the library function behind `dfprep predict` --------------------------------------------------------------

def _ray_scores(model, cfg, paths, icfg, agg, batch_size, device, journal: Path, on_video) -> dict[str, VideoScore]:
    """Decode and detect on the ingest Ray scheduler (`dfprep.ingest.scheduler.process_videos`, through
    journal files in `journal`); score each video here as it finishes."""
    from dfprep.ingest.scheduler import process_videos

    out: dict[str, VideoScore] = {}

    def scored(entry, row, faces, reason) -> None:   # a failing store never gets here: StorageError is raised
        name = entry.video
        if reason is not None:
            out[name] = error_score(name, reason)
        else:
            try:
                out[name] = score_video(model, cfg, row, faces, agg, batch_size, device)
            except Exception as exc:  # noqa: BLE001 - one bad video must not cost the others their rows
                out[name] = error_score(name, exception_reason(exc))
        on_video(out[name])

    process_videos(icfg, [file_entry(p) for p in paths], journal, scored)
    return out


def read_run(run: AnyPath) -> RunConfig:
    """RUN/config.json through the RUN format's typed reader (RUN local or remote); its refusals are RunError
    (a usage error, exit 2)."""
    from dfprep.formats.run import read_run_config

    return read_run_config(as_path(run))


def predict(run: Path, input: Path, out: Path, frames: int = 32, agg: str | None = None,
            det_size: int | None = None, batch_size: int = 64, device: str | None = None,
            detector: str | None = None, workers: int | None = None, num_cpus: int | None = None,
            progress: bool = False, crop: dict | None = None, follow_symlinks: bool = False) -> PredictSummary:
    """Write OUT (submission.csv) and OUT.report.json for every video of INPUT; return its summary.

    Crops are cut with the run's crop settings (`crop_settings`: its ingest's det_size, detector, threshold,
    max_faces, margin, crop_size, ...). `det_size`, `detector` and `crop` ({setting: value}) are settings the
    user forces: each must equal the run's (else PredictError); for a run that records none they replace
    ingest's defaults.
    Every `*.mp4` entry INPUT lists gets a row: one that is no regular file, or a symlink leaving INPUT (unless
    `follow_symlinks`), is never opened and gets 0.5 with the reason (`list_inputs`).
    `frames` is the caller's sampling choice (it does not change a frame's crops). agg None: the run's
    --video-agg (config.json), else mean. workers=0 runs everything in this process; otherwise decode and
    detection run on Ray (embedded local Ray, or RAY_ADDRESS) through the ingest scheduler, with `workers`
    decode workers (None: one per free CPU).

    RUN, INPUT and OUT may be remote (dfprep.storage): RUN's files are read through the store, INPUT listed there
    and each video spooled by the process that decodes it, OUT and its report uploaded whole once written. A
    store that fails raises StorageError.
    """
    from dfprep.device import pick_device
    from dfprep.progress import Reporter
    from dfprep.train.checkpoint import load_model

    run_cfg = read_run(run)
    if agg is None:
        agg = run_cfg.video_agg or "mean"
    if agg not in AGGREGATES:
        raise PredictError(f"unknown video aggregation {agg!r}; expected one of {', '.join(AGGREGATES)}")
    if frames < 1 or batch_size < 1:
        raise PredictError(f"--frames ({frames}) and --batch-size ({batch_size}) must be at least 1")
    settings, warning = crop_settings(run_cfg, {**(crop or {}), "det_size": det_size, "detector": detector})
    t0 = time.perf_counter()
    out = as_path(out)
    inputs = list_inputs(input, follow_symlinks)
    paths = inputs.videos
    device = pick_device(device)
    model, cfg = load_model(run, device, run_cfg)
    icfg = ingest_config(frames, settings, workers=workers or None, num_cpus=num_cpus)
    report = Reporter(enabled=progress, total=len(paths) + len(inputs.refused), title=f"predict {input}")

    def on_video(s: VideoScore) -> None:
        report.advance("default 0.5" if s.reason else "ok", s.filename)

    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp_siblings(out)
    try:
        refused = {n: error_score(n, why) for n, why in inputs.refused.items()}
        for score in refused.values():
            on_video(score)
        if not paths:
            scores = {}
        elif workers == 0:
            detect = crop_detector(icfg, device).detect
            scores = predict_videos(model, cfg, paths, icfg, detect, agg, batch_size, device, on_video)
        else:
            journal = journal_folder(out)
            try:
                scores = _ray_scores(model, cfg, paths, icfg, agg, batch_size, device, journal, on_video)
            finally:
                shutil.rmtree(journal, ignore_errors=True)
    finally:
        report.close()
    scores.update(refused)
    for p in paths:  # defensive: a row for every input video, whatever happened above
        scores.setdefault(p.name, error_score(p.name, "no result came back for this video"))
    write_bytes(out, submission_bytes(scores))
    summary = {
        "submission": str(out), "run": str(run), "input": str(input), "videos": len(scores),
        "scored": sum(1 for s in scores.values() if not s.reason),
        "defaulted": [{"filename": s.filename, "reason": s.reason} for s in sorted(scores.values(),
                                                                                  key=lambda s: s.filename)
                      if s.reason],
        "per_video": {n: {**asdict(s), **inputs.identity.get(n, {})} for n, s in sorted(scores.items())},
        "config": {"frames": frames, "video_agg": agg, "det_size": icfg.det_size, "detector": icfg.detector,
                   "batch_size": batch_size, "device": str(device), "workers": workers, "model": cfg.model,
                   "unit": cfg.unit, "clip_len": cfg.clip_len, "input_size": cfg.input_size,
                   "default_prob": DEFAULT_PROB, "follow_symlinks": follow_symlinks},
        "crop": settings, "crop_from": "run" if cfg.ingest is not None else "defaults",
        "warnings": [warning] if warning else [],
        "seconds": round(time.perf_counter() - t0, 3),
    }
    write_json(report_path(out), summary)
    defaulted = tuple(s for _, s in sorted(scores.items()) if s.reason)
    return PredictSummary(str(out), len(scores), summary["scored"], defaulted, tuple(summary["warnings"]),
                          summary["seconds"], settings, summary["crop_from"], summary["config"], summary)
