"""Score a Kaggle DFDC submission.csv against the labels of the metadata.json files under a ROOT.

The same metrics as training (`dfprep.train.metrics.binary_metrics`: DFDC log loss with probabilities
clipped to [1e-15, 1 - 1e-15], accuracy, precision, recall, ROC AUC, ...), over the videos that have both
a row and a label. Rows without a label and labelled videos without a row are reported, never guessed.
"""
from __future__ import annotations

import csv
import io
import math
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dfprep.dataset import METADATA, MetadataError, entry_fields, label_code, part_folders, read_metadata
from dfprep.errors import DataError, UsageError
from dfprep.storage import AnyPath, StorageError, as_path, entries

HEADER = ["filename", "label"]


class EvaluateError(UsageError, ValueError):
    """Unusable input: the message names the file (and line) and the reason."""


class SubmissionMismatch(DataError, EvaluateError):
    """--strict: the submission's rows are not exactly the labelled videos (as Kaggle would refuse it)."""


def show(name: str) -> str:
    """A file name as messages print it: as is when plain, else quoted and escaped (repr), so a leading space,
    an embedded newline, a comma or an invisible character is visible and a message stays on one line."""
    plain = name.isprintable() and name == name.strip() and not any(c in name for c in ",'\"")
    return name if plain and name else repr(name)


def show_names(names: list[str], first: int = 5) -> str:
    more = f" ... {len(names) - first} more" if len(names) > first else ""
    return ", ".join(show(n) for n in names[:first]) + more


def read_submission(path: Path) -> dict[str, float]:
    """`filename,label` rows -> {filename: probability FAKE}. Strict: any bad line is an error naming it.

    Read with the csv module (RFC 4180 quoting: a quoted name may hold a comma, a quote or a newline), and the
    names are kept exactly as written: a leading or trailing space is part of the name, as in the metadata.
    `path` may be remote (dfprep.storage; a failing store is a StorageError).
    """
    path = as_path(path)
    if not path.is_file():
        raise EvaluateError(f"{path}: submission file not found")
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")     # bytes as they are: a quoted \r\n stays in the name
    except UnicodeDecodeError as exc:
        raise EvaluateError(f"{path}: not UTF-8 text ({exc})") from None
    except StorageError:
        raise
    except OSError as exc:
        raise EvaluateError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: dict[str, float] = {}
    first: dict[str, int] = {}
    line = 1  # the physical line a record starts on (a quoted newline makes a record span lines)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise EvaluateError(f"{path}:{line}: not valid CSV ({exc})") from None
        start, line = line, rows.line_num + 1
        if start == 1:
            if [h.strip() for h in row] != HEADER:
                raise EvaluateError(f"{path}:1: header is {','.join(row)!r}; expected 'filename,label'")
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line (a trailing newline)
        if len(row) != 2:
            raise EvaluateError(f"{path}:{start}: expected 2 fields (filename,label), got {len(row)}: {row!r}")
        name, value = row[0], row[1].strip()
        if not name:
            raise EvaluateError(f"{path}:{start}: empty filename")
        try:
            p = float(value)
        except ValueError:
            raise EvaluateError(f"{path}:{start}: label {value!r} of {show(name)} is not a number") from None
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise EvaluateError(f"{path}:{start}: label {value!r} of {show(name)} is not a probability in [0, 1]")
        if name in out:
            raise EvaluateError(f"{path}:{start}: {show(name)} appears more than once (first on line {first[name]})")
        out[name], first[name] = p, start
    if line == 1:
        raise EvaluateError(f"{path}: empty file; expected the header 'filename,label'")
    return out


def metadata_files(root: AnyPath) -> list[AnyPath]:
    """ROOT/metadata.json (a single part) and ROOT/dfdc_train_part_*/metadata.json (a ROOT of parts); ROOT local
    or remote."""
    root = as_path(root)
    if root.suffix == ".json" and root.is_file():
        return [root]
    if not root.is_dir():
        raise EvaluateError(f"{root}: not a folder (expected a DFDC part or a ROOT of parts)")
    files = [root / METADATA] if (root / METADATA).is_file() else []
    files += [c / METADATA for c in part_folders(entries(root)).values() if (c / METADATA).is_file()]
    if not files:
        raise EvaluateError(f"{root}: no metadata.json, and no dfdc_train_part_*/metadata.json below it")
    return files


def read_labels(root: AnyPath) -> tuple[dict[str, int], list[str]]:
    """{filename: 1 FAKE / 0 REAL} from every metadata.json, and warnings about entries that were skipped.

    A name labelled differently by two files is an error: the submission has one row per file name.
    """
    labels: dict[str, int] = {}
    where: dict[str, Path] = {}
    warnings: list[str] = []
    for f in metadata_files(root):
        try:
            data, dupes = read_metadata(f)     # local or remote (read in memory)
        except MetadataError as exc:
            raise EvaluateError(f"{f}: {exc}") from None
        warnings += [f"{f}: key {show(k)} appears more than once; the last one is used" for k in sorted(set(dupes))]
        for name, meta in data.items():
            label, _, _, problem = entry_fields(meta)
            if problem:
                warnings.append(f"{f}: {show(name)}: {problem}; not scored")
                continue
            y = label_code(label)
            if name in labels and labels[name] != y:
                raise EvaluateError(f"{show(name)} is {label} in {f} but not in {where[name]}")
            labels[name], where[name] = y, f
    return labels, warnings


def near_misses(missing: list[str], extra: list[str]) -> list[str]:
    """Warnings for rows whose name equals a labelled name only after trimming spaces, folding case or Unicode
    normalisation (NFC): likely the same video, but names are compared exactly and such rows are not scored."""
    def key(n: str) -> str:
        return unicodedata.normalize("NFC", n.strip()).casefold()

    labelled: dict[str, list[str]] = {}
    for n in missing:
        labelled.setdefault(key(n), []).append(n)
    return [f"row {show(n)} is not the labelled {show(labelled[key(n)][0])} (names are compared exactly); "
            f"not scored" for n in extra if key(n) in labelled]


def mismatch_message(submission: Path, missing: list[str], extra: list[str]) -> str:
    """One line: how many labelled videos have no row and how many rows have no label, with the first names."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} labelled video{'s' * (len(missing) != 1)} without a row "
                     f"({show_names(missing)})")
    if extra:
        parts.append(f"{len(extra)} row{'s' * (len(extra) != 1)} without a label ({show_names(extra)})")
    return f"{submission}: --strict: " + "; ".join(parts)


@dataclass(frozen=True)
class EvaluateSummary:
    """A submission scored: what `dfprep evaluate` prints and `--out` writes (`as_json()`, the same document as
    before it was typed). `metrics`: `binary_metrics` by name (None where undefined, e.g. AUC of one class)."""
    submission: str
    root: str
    threshold: float
    strict: bool
    metrics: dict
    matched: int            # rows with a label: the videos scored
    missing: list           # labelled, no row
    extra: list             # row, no label
    warnings: list

    def as_json(self) -> dict:
        return asdict(self)


def evaluate_submission(submission: AnyPath, root: AnyPath, threshold: float = 0.5,
                        strict: bool = False) -> EvaluateSummary:
    """Metrics of the submission over the videos that have a row and a label, plus what did not match. Either
    may be remote (dfprep.storage).

    strict: a labelled video without a row or a row without a label raises SubmissionMismatch (nothing scored).
    """
    from dfprep.inference.config import EvaluateConfig
    from dfprep.options import check_declared
    from dfprep.train.metrics import binary_metrics

    check_declared(EvaluateConfig(threshold=threshold, strict=strict), EvaluateError)    # --threshold in [0, 1]
    preds = read_submission(submission)
    labels, warnings = read_labels(root)
    missing = sorted(labels.keys() - preds.keys())  # labelled, no row
    extra = sorted(preds.keys() - labels.keys())    # row, no label
    if strict and (missing or extra):
        raise SubmissionMismatch(mismatch_message(submission, missing, extra))
    matched = sorted(preds.keys() & labels.keys())
    if not matched:
        raise EvaluateError(f"{submission}: none of its {len(preds)} filenames has a label under {root}")
    y = np.array([labels[n] for n in matched], dtype=np.int64)
    p = np.array([preds[n] for n in matched], dtype=np.float64)
    return EvaluateSummary(submission=str(submission), root=str(root), threshold=threshold, strict=strict,
                           metrics=binary_metrics(y, p, threshold=threshold), matched=len(matched), missing=missing,
                           extra=extra, warnings=warnings + near_misses(missing, extra))
