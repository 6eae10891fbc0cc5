"""Binary detection metrics as the DFDC scored them (log loss) plus the usual threshold metrics, and video pooling.

Label 1 is FAKE (the positive class), 0 is REAL. The log loss clips probabilities to [1e-15, 1 - 1e-15] and
averages the natural-log loss over samples, as Kaggle scored the DFDC. Metrics that a one-class set leaves
undefined are None (ROC AUC with one class; specificity and FPR without REAL samples).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

EPS = 1e-15
POOL = {"mean": np.mean, "median": np.median, "max": np.max}    # a video's probability from its samples'
AGGREGATES = tuple(POOL)
KEYS = ("log_loss", "accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "fpr",
        "n", "n_real", "n_fake")


def binary_metrics(labels: Sequence[int], probs: Sequence[float], threshold: float = 0.5) -> dict:
    """{log_loss, accuracy, precision, recall, specificity, f1, roc_auc, fpr, n, n_real, n_fake}.

    A prediction is FAKE when prob >= threshold. Empty input gives n = 0 and every metric None.
    """
    from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss, precision_score,
                                 recall_score, roc_auc_score)

    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"labels must be 0 (REAL) or 1 (FAKE), got {sorted(set(np.unique(y)))}")
    n_fake = int(y.sum())
    out: dict = {k: None for k in KEYS}
    out.update(n=int(len(y)), n_real=int(len(y) - n_fake), n_fake=n_fake)
    if len(y) == 0:
        return out
    pred = (p >= threshold).astype(np.int64)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    out.update(
        log_loss=float(log_loss(y, np.clip(p, EPS, 1 - EPS), labels=[0, 1])),
        accuracy=float(accuracy_score(y, pred)),
        precision=float(precision_score(y, pred, labels=[0, 1], zero_division=0.0)),
        recall=float(recall_score(y, pred, labels=[0, 1], zero_division=0.0)),
        f1=float(f1_score(y, pred, labels=[0, 1], zero_division=0.0)),
        specificity=tn / (tn + fp) if tn + fp else None,
        fpr=fp / (tn + fp) if tn + fp else None,
        roc_auc=float(roc_auc_score(y, p)) if 0 < n_fake < len(y) else None,
    )
    return out


def video_level(videos: Sequence[str], labels: Sequence[int], probs: Sequence[float],
                agg: str = "mean") -> tuple[list[str], np.ndarray, np.ndarray]:
    """Pool sample probabilities per video (mean, median or max); returns (videos sorted, labels, probs).

    A video's label is its samples' label; a video whose samples disagree is an error (a broken shard).
    """
    if agg not in AGGREGATES:
        raise ValueError(f"unknown video aggregation {agg!r}; expected one of {', '.join(AGGREGATES)}")
    if not len(videos) == len(labels) == len(probs):
        raise ValueError(f"lengths differ: {len(videos)} videos, {len(labels)} labels, {len(probs)} probs")
    by_video: dict[str, list[float]] = defaultdict(list)
    label_of: dict[str, int] = {}
    for v, y, p in zip(videos, labels, probs):
        y = int(y)
        if label_of.setdefault(v, y) != y:
            raise ValueError(f"video {v!r} has samples labelled both REAL and FAKE")
        by_video[v].append(float(p))
    pool = POOL[agg]
    names = sorted(by_video)
    return (names, np.array([label_of[v] for v in names], np.int64),
            np.array([float(pool(by_video[v])) for v in names], np.float64))


def frame_and_video(videos: Sequence[str], labels: Sequence[int], probs: Sequence[float], agg: str = "mean",
                    threshold: float = 0.5) -> dict:
    """{'frame': metrics over samples, 'video': metrics over videos pooled with `agg`}."""
    v_names, v_labels, v_probs = video_level(videos, labels, probs, agg)
    return {"frame": binary_metrics(labels, probs, threshold), "video": binary_metrics(v_labels, v_probs, threshold)}


def shown(x: object) -> str:
    """A metric as the console prints it: 4 significant digits ('0.6931', '34.54'); '-' when undefined.

    Only for display: metrics.json, metrics.csv and history.csv keep every digit.
    """
    if x is None:
        return "-"
    if isinstance(x, (bool, int, np.integer)):
        return str(int(x))
    return f"{float(x):#.4g}"
