"""`dfprep evaluate RUN [SHARDS]`: score a trained run on a split of SHARDS and write the cross-dataset matrix.

The model is RUN/model.pt, the one training kept for the lowest validation video log loss (the last epoch when
the run had no val split; matrix.json's `model_selection` says which, from metrics.json): a test set never
chooses it. Scoring the run's own val split is allowed but warned about: that split chose the model.

SHARDS defaults to the shards the run was trained on (config.json's `shards`); any other SHARDS with the same
unit (and clip length) can be given instead, e.g. another WORK's shards cut with `--test-datasets`, which is how
a run trained on one dataset is scored on others. Each sample's dataset and method come from its json member
(`dataset`, `method`; "" or null: no method); shards written before those keys read as dataset "dfdc", method
null.

Only original samples are scored: oversampled copies (`repeat > 0`) are left out and counted; a split that
`--balance-eval` undersampled lacks frames the data has, which matrix.json records and a warning says.

Outputs (in RUN, or `out`), each written atomically: matrix.csv, matrix.json, matrix.png (`matrix.py`) and
matrix_predictions.csv, the per-sample predictions the rows were computed from. A rerun into the same folder
deletes matrix.json first and writes it last, so its presence always means the other three are from its run.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, replace
from functools import partial

import torch
import webdataset as wds

from dfprep.atomic import write_bytes, write_json
from dfprep.dataset import DFDC, SPLITS
from dfprep.formats.shards import JSON
from dfprep.inference.evaluate import EvaluateError
from dfprep.inference.matrix import (ALL, SamplePredictions, columns, csv_bytes, figure_png, matrix, originals,
                                     predictions_bytes)
from dfprep.storage import AnyPath, as_path
from dfprep.train.errors import BadShardError

MATRIX_CSV = "matrix.csv"
MATRIX_JSON = "matrix.json"
MATRIX_PNG = "matrix.png"
MATRIX_PREDICTIONS = "matrix_predictions.csv"
DEFAULT_DATASET = DFDC              # a sample json without `dataset`: written before datasets were recorded
REPEAT_KEY = re.compile(r"_r([0-9]+)$")     # `sample_key`'s suffix of an oversampled copy
LAST_EPOCH = "the last epoch (no validation split)"
LOWEST_VAL = "the epoch with the lowest validation video log loss"


@dataclass(frozen=True)
class MatrixSummary:
    """What `dfprep evaluate RUN` prints and matrix.json holds (`as_json()`)."""
    run: str
    shards: str
    split: str
    own_shards: bool            # SHARDS is the one the run trained on
    threshold: float
    video_agg: str              # the aggregation the console table and the figure show (the run's)
    best_epoch: int | None      # the epoch model.pt is from, from metrics.json
    model_selection: str        # how that epoch was chosen (`selection`)
    selection_split_scored: bool    # the scored split is the one that chose model.pt (own shards, --split val)
    samples: int                # samples scored (originals)
    repeats_dropped: int        # oversampled copies read and left out
    undersampled: dict | None   # {"natural": n, "kept": n, "dropped": n} when --balance-eval undersampled the split
    warnings: list
    seconds: float
    columns: list
    rows: list

    def as_json(self) -> dict:
        return asdict(self)

    def outputs(self, out) -> dict[str, str]:
        out = as_path(out)
        return {k: str(out / k) for k in (MATRIX_CSV, MATRIX_JSON, MATRIX_PNG, MATRIX_PREDICTIONS)}


def sample_meta(sample: dict) -> tuple[str, str | None, int]:
    """(dataset, method, part) from a raw sample's json; BadShardError naming shard and member when mistyped."""
    where = f"shard {sample.get('__url__')}: member {sample.get('__key__')}.json"
    try:
        meta = json.loads(sample[JSON])
    except (UnicodeDecodeError, ValueError, KeyError) as exc:
        raise BadShardError(f"{where}: not a sample's json ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise BadShardError(f"{where}: not a sample's json (not an object)")
    dataset, method, part = meta.get("dataset"), meta.get("method"), meta.get("part", 0)
    dataset = DEFAULT_DATASET if dataset is None else dataset       # absent or null: written before datasets
    method = None if method == "" else method           # the writer's "" (its json is never null): no method
    if not isinstance(dataset, str) or not dataset:
        raise BadShardError(f"{where}: 'dataset' is {dataset!r}, expected a dataset name")
    if method is not None and not isinstance(method, str):
        raise BadShardError(f"{where}: 'method' is {method!r}, expected a method name or null")
    if not isinstance(part, int) or isinstance(part, bool):
        raise BadShardError(f"{where}: 'part' is {part!r}, expected an integer")
    return dataset, method, part


def sample_repeat(sample: dict) -> int:
    """0 for a sample itself, k for its k-th oversampled copy: the json's `repeat`, else the key's `_r{k}`."""
    try:
        repeat = json.loads(sample[JSON]).get("repeat")
    except (UnicodeDecodeError, ValueError, KeyError, AttributeError):
        repeat = None                           # sample_meta names a bad json; here: fall back on the key
    if repeat is None:
        m = REPEAT_KEY.search(str(sample.get("__key__", "")))
        return int(m.group(1)) if m else 0
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 0:
        raise BadShardError(f"shard {sample.get('__url__')}: member {sample.get('__key__')}.json: 'repeat' is "
                            f"{repeat!r}, expected an integer >= 0")
    return repeat


def _decode(sample: dict, cfg) -> dict:
    from dfprep.train.data import decode_sample

    out = decode_sample(sample, cfg, 0)
    out["dataset"], out["method"], out["part"] = sample_meta(sample)
    out["repeat"] = sample_repeat(sample)
    return out


def _collate(samples: list[dict]) -> dict:
    from dfprep.train.data import collate

    batch = collate(samples)
    for k in ("dataset", "method", "part", "repeat"):
        batch[k] = [s[k] for s in samples]
    return batch


def split_loader(split, cfg):
    """Every sample of the split once, in shard order, unaugmented, checked as training reads it (allow-list,
    sizes and sha256 against index.json), each with its dataset, method and part."""
    from dfprep.train.data import checked_tar_samples
    from dfprep.train.workers import WebLoader

    cfg = replace(cfg, augment=False)
    workers = max(0, min(cfg.workers, len(split.urls)))
    dataset = wds.DataPipeline(
        wds.SimpleShardList(split.urls), wds.split_by_worker,
        partial(checked_tar_samples, checks=split.checks),
        wds.map(partial(_decode, cfg=cfg)),
        wds.batched(cfg.batch_size, collation_fn=_collate, partial=True))
    return WebLoader(dataset, batch_size=None, shuffle=False, num_workers=workers, persistent_workers=False)


@torch.no_grad()
def predict_split(model, loader, device: torch.device, size: int, unit: str) -> SamplePredictions:
    """FAKE probabilities of every sample, as training's evaluation computes them (bf16 autocast on CUDA)."""
    from dfprep.train.data import batch_to_device

    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    out = SamplePredictions([], [], [], [], [], [], [], [])
    for batch in loader:
        x = batch_to_device(batch, device, size, unit, channels_last=cuda)
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False):
            logits = model(x)
        out.keys += batch["key"]
        out.datasets += batch["dataset"]
        out.methods += batch["method"]
        out.parts += batch["part"]
        # training names a non-DFDC video <dataset>/<path> (`train.data.video_id`); the matrix has a dataset column
        out.videos += [v[len(d) + 1:] if v.startswith(f"{d}/") and d != DFDC else v
                       for v, d in zip(batch["video"], batch["dataset"])]
        out.repeats += batch["repeat"]
        out.labels += batch["label"].long().tolist()
        out.probs += torch.sigmoid(logits.float()).cpu().tolist()
    return out


def _same_place(a: AnyPath, b: AnyPath) -> bool:
    a, b = as_path(a), as_path(b)
    try:
        return a.resolve() == b.resolve()
    except (AttributeError, OSError):
        return str(a) == str(b)


def undersampled(index, split: str) -> dict | None:
    """{"natural", "kept", "dropped"} samples when index.json says `split` was balanced by undersampling and
    some were dropped (--balance-eval); None otherwise (not balanced, oversampled, or an index without it)."""
    from dfprep.records import load_object

    doc = load_object(index.path, EvaluateError, "")
    info = ((doc.get("splits") or {}).get(split) or {})
    balance = info.get("balance") if isinstance(info.get("balance"), dict) else {}
    natural = balance.get("natural") if isinstance(balance.get("natural"), dict) else {}
    n = sum(v for v in (natural.get("real"), natural.get("fake")) if isinstance(v, int))
    kept = info.get("samples")
    if balance.get("mode") != "undersample" or not isinstance(kept, int) or n <= kept:
        return None
    return {"natural": n, "kept": kept, "dropped": n - kept}


def selection(run) -> tuple[str, int | None, bool]:
    """(how model.pt was chosen, its epoch, whether a val split chose it), from RUN/metrics.json: the trainer
    keeps the lowest val video log loss, or, without a val split, each epoch's model over the last."""
    from dfprep.formats.run import RunError, read_metrics
    from dfprep.records import load_object

    metrics = read_metrics(run)
    if metrics is None:
        return "unknown: RUN has no metrics.json", None, False
    chosen_on_val = load_object(metrics.path, RunError, "").get("val") is not None
    how = LOWEST_VAL if chosen_on_val else LAST_EPOCH
    return how, metrics.best_epoch, chosen_on_val


def evaluate_run(run: AnyPath, shards: AnyPath | None = None, out: AnyPath | None = None, split: str = "test",
                 threshold: float = 0.5, video_agg: str | None = None, batch_size: int = 64,
                 device: str | None = None, workers: int = 0) -> MatrixSummary:
    """Score RUN/model.pt on `split` of SHARDS (default: the run's own) and write the matrix into OUT (default
    RUN). Refusals (no such split, a unit the run cannot read, a run without model.pt) are one-line usage
    errors; a bad shard is BadShardError naming it."""
    from dfprep.device import pick_device
    from dfprep.inference.predict import read_run
    from dfprep.train.checkpoint import load_model
    from dfprep.train.data import LoaderConfig, read_index, split_shards
    from dfprep.train.metrics import AGGREGATES

    t0 = time.perf_counter()
    if split not in SPLITS:
        raise EvaluateError(f"--split {split!r}: expected one of {', '.join(SPLITS)}")
    run_cfg = read_run(run)
    agg = video_agg or run_cfg.video_agg or "mean"
    if agg not in AGGREGATES:
        raise EvaluateError(f"unknown video aggregation {agg!r}; expected one of {', '.join(AGGREGATES)}")
    own = run_cfg.raw.get("shards")
    if shards is None:
        if not own:
            raise EvaluateError(f"{run_cfg.path}: records no 'shards'; name the SHARDS to score on")
        shards = own
    index = read_index(shards)
    if index.unit != run_cfg.unit or (run_cfg.unit == "clip" and index.clip_len != run_cfg.clip_len):
        theirs = index.unit + (f" of {index.clip_len} crops" if index.unit == "clip" else "")
        mine = run_cfg.unit + (f" of {run_cfg.clip_len} crops" if run_cfg.unit == "clip" else "")
        raise EvaluateError(f"{shards}: holds {theirs} samples; the run's model reads {mine} samples")
    part = split_shards(shards, index, split)
    if part is None:
        raise EvaluateError(f"{shards}: the {split} split has no samples")
    dev = pick_device(device)
    model, _ = load_model(run, dev, run_cfg)
    lcfg = LoaderConfig(unit=run_cfg.unit, clip_len=run_cfg.clip_len or 1, size=run_cfg.input_size,
                        batch_size=batch_size, workers=workers, pin_memory=dev.type == "cuda")
    read = predict_split(model, split_loader(part, lcfg), dev, run_cfg.input_size, run_cfg.unit)
    if len(read) != part.samples:
        raise BadShardError(f"{shards}: read {len(read)} {split} samples, index.json lists {part.samples}")
    preds, repeats = originals(read)
    try:
        rows = matrix(preds, threshold)
    except ValueError as exc:
        raise BadShardError(f"{shards}: {exc}") from None
    how, best, chosen_on_val = selection(run)
    own_shards = bool(own) and _same_place(shards, own)
    scored_chooser = own_shards and split == "val" and chosen_on_val
    under = undersampled(index, split)
    warnings = []
    if scored_chooser:
        warnings.append(f"the val split of {shards} chose model.pt (epoch {best}): its scores are optimistic, "
                        "not a held-out measure; score the test split")
    if under:
        warnings.append(f"the {split} split of {shards} was balanced by undersampling (--balance-eval): "
                        f"{under['dropped']} of its {under['natural']} samples were left out when the shards were "
                        "cut, so frame-level metrics and video pooling miss frames; cut the shards without "
                        "--balance-eval to score them all")
    summary = MatrixSummary(
        run=str(run), shards=str(shards), split=split, own_shards=own_shards, threshold=threshold, video_agg=agg,
        best_epoch=best, model_selection=f"RUN/model.pt: {how}; the test split never takes part in choosing it",
        selection_split_scored=scored_chooser, samples=len(preds), repeats_dropped=repeats, undersampled=under,
        warnings=warnings, seconds=round(time.perf_counter() - t0, 3), columns=columns(), rows=rows)
    outputs = {MATRIX_PREDICTIONS: predictions_bytes(preds), MATRIX_CSV: csv_bytes(rows),
               MATRIX_PNG: figure_png(rows, f"AUC of {run} on the {split} split of {shards}")}
    dest = as_path(out if out is not None else run)
    (dest / MATRIX_JSON).unlink(missing_ok=True)    # first: an old one must not vouch for a half-written set
    for name, data in outputs.items():
        write_bytes(dest / name, data)
    write_json(dest / MATRIX_JSON, summary.as_json())      # last: its presence says the others are complete
    return summary


def row_label(row: dict) -> tuple[str, str]:
    """(dataset, method) as the console table shows them: `all` row, a dataset's `(all)` row, a method row."""
    if row["dataset"] == ALL:
        return ALL, ""
    return row["dataset"], row["method"] or "(all methods)"
