"""Score a Kaggle DFDC submission.csv against the labels of the metadata.json files under a ROOT.

The same metrics as training (`dfprep.train.metrics.binary_metrics`: DFDC log loss with probabilities
clipped to [1e-15, 1 - 1e-15], accuracy, precision, recall, ROC AUC, ...), over the videos that have both
a row and a label. Rows without a label and labelled videos without a row are reported, never guessed.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from dfprep.dataset import PART_RE, MetadataError, entry_fields, label_code, read_metadata

HEADER = ["filename", "label"]


class EvaluateError(ValueError):
    """Unusable input: the message names the file (and line) and the reason."""


def read_submission(path: Path) -> dict[str, float]:
    """`filename,label` rows -> {filename: probability FAKE}. Strict: any bad line is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise EvaluateError(f"{path}: submission file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvaluateError(f"{path}: not UTF-8 text ({exc})") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None:
        raise EvaluateError(f"{path}: empty file; expected the header 'filename,label'")
    if [h.strip() for h in header] != HEADER:
        raise EvaluateError(f"{path}:1: header is {','.join(header)!r}; expected 'filename,label'")
    out: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line (a trailing newline)
        if len(row) != 2:
            raise EvaluateError(f"{path}:{line}: expected 2 fields (filename,label), got {len(row)}: {row!r}")
        name, value = row[0].strip(), row[1].strip()
        if not name:
            raise EvaluateError(f"{path}:{line}: empty filename")
        try:
            p = float(value)
        except ValueError:
            raise EvaluateError(f"{path}:{line}: label {value!r} of {name} is not a number") from None
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise EvaluateError(f"{path}:{line}: label {value!r} of {name} is not a probability in [0, 1]")
        if name in out:
            raise EvaluateError(f"{path}:{line}: {name} appears more than once")
        out[name] = p
    return out


def metadata_files(root: Path) -> list[Path]:
    """ROOT/metadata.json (a single part) and ROOT/dfdc_train_part_*/metadata.json (a ROOT of parts)."""
    root = Path(root)
    if root.is_file() and root.suffix == ".json":
        return [root]
    if not root.is_dir():
        raise EvaluateError(f"{root}: not a folder (expected a DFDC part or a ROOT of parts)")
    files = [root / "metadata.json"] if (root / "metadata.json").is_file() else []
    files += sorted((c / "metadata.json" for c in root.iterdir()
                     if c.is_dir() and PART_RE.match(c.name) and (c / "metadata.json").is_file()),
                    key=lambda p: int(PART_RE.match(p.parent.name).group(1)))
    if not files:
        raise EvaluateError(f"{root}: no metadata.json, and no dfdc_train_part_*/metadata.json below it")
    return files


def read_labels(root: Path) -> tuple[dict[str, int], list[str]]:
    """{filename: 1 FAKE / 0 REAL} from every metadata.json, and warnings about entries that were skipped.

    A name labelled differently by two files is an error: the submission has one row per file name.
    """
    labels: dict[str, int] = {}
    where: dict[str, Path] = {}
    warnings: list[str] = []
    for f in metadata_files(root):
        try:
            data, _ = read_metadata(f)
        except MetadataError as exc:
            raise EvaluateError(f"{f}: {exc}") from None
        for name, meta in data.items():
            label, _, _, problem = entry_fields(meta)
            if problem:
                warnings.append(f"{f}: {name!r}: {problem}; not scored")
                continue
            y = label_code(label)
            if name in labels and labels[name] != y:
                raise EvaluateError(f"{name} is {label} in {f} but not in {where[name]}")
            labels[name], where[name] = y, f
    return labels, warnings


def evaluate_submission(submission: Path, root: Path, threshold: float = 0.5) -> dict:
    """Metrics of the submission over the videos that have a row and a label, plus what did not match."""
    from dfprep.train.metrics import binary_metrics

    preds = read_submission(submission)
    labels, warnings = read_labels(root)
    matched = sorted(preds.keys() & labels.keys())
    if not matched:
        raise EvaluateError(f"{submission}: none of its {len(preds)} filenames has a label under {root}")
    y = np.array([labels[n] for n in matched], dtype=np.int64)
    p = np.array([preds[n] for n in matched], dtype=np.float64)
    return {
        "submission": str(submission), "root": str(root), "threshold": threshold,
        "metrics": binary_metrics(y, p, threshold=threshold),
        "matched": len(matched),
        "missing": sorted(labels.keys() - preds.keys()),  # labelled, no row
        "extra": sorted(preds.keys() - labels.keys()),    # row, no label
        "warnings": warnings,
    }
