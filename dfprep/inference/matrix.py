"""The cross-dataset matrix: one row per test dataset, per (dataset, method) and `all`, with the metrics
DeepfakeBench reports (frame- and video-level AUC, EER, AP, log loss, accuracy), from per-sample predictions.

Rows: `all` (every sample); each dataset (all its samples); each (dataset, method) of the dataset's FAKE
samples: that dataset's REAL samples plus the FAKEs of that method, as FF++ per-method tables are scored (a
method's AUC asks whether its fakes rank above the dataset's reals). FAKEs without a method count in their
dataset's row only. A row with one class has AUC, EER and AP null and says why in `note`: a dataset of FAKEs
alone (DeeperForensics, whose reals are FF++'s originals) is scored on what its shards hold; no REAL is invented.

Only originals are scored: an oversampled copy (`repeat > 0`, written by `--balance-eval` oversampling) is a
second vote of the same crop, which would tilt frame-level metrics and video pooling (`originals`).

Frame level is one sample (one crop; one clip for clip models); video level pools a video's sample
probabilities with each aggregation of `dfprep.train.metrics.AGGREGATES`. Every metric is scikit-learn's
(`roc_auc_score`, `roc_curve` for the EER, `average_precision_score`, `log_loss` on probabilities clipped as
the DFDC scored them, `accuracy_score` at the threshold).
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field, replace

import numpy as np

from dfprep.train.metrics import AGGREGATES, EPS, POOL

ALL = "all"
LEVEL_METRICS = ("auc", "eer", "ap", "log_loss", "accuracy")
COUNTS = ("videos", "frames", "real_videos", "fake_videos", "real_frames", "fake_frames")


def levels() -> list[str]:
    """'frame', then 'video_<agg>' for each aggregation dfprep offers."""
    return ["frame"] + [f"video_{a}" for a in AGGREGATES]


def columns() -> list[str]:
    """matrix.csv's header: the row's identity, its counts, then <level>_<metric> for every level."""
    return ["dataset", "method"] + list(COUNTS) + [f"{lv}_{m}" for lv in levels() for m in LEVEL_METRICS] + ["note"]


@dataclass
class SamplePredictions:
    """Per-sample model output with each sample's provenance (from its shard json)."""
    keys: list[str]
    datasets: list[str]
    methods: list[str | None]
    parts: list[int]
    videos: list[str]
    labels: list[int]
    probs: list[float]
    repeats: list[int] = field(default_factory=list)      # 0: the sample itself, k: its k-th oversampled copy

    def __len__(self) -> int:
        return len(self.keys)


def originals(p: SamplePredictions) -> tuple[SamplePredictions, int]:
    """(the predictions without oversampled copies, how many copies were left out)."""
    if not any(p.repeats):
        return p, 0
    keep = [i for i, r in enumerate(p.repeats) if not r]

    def pick(xs: list) -> list:
        return [xs[i] for i in keep]

    return replace(p, keys=pick(p.keys), datasets=pick(p.datasets), methods=pick(p.methods), parts=pick(p.parts),
                   videos=pick(p.videos), labels=pick(p.labels), probs=pick(p.probs),
                   repeats=[0] * len(keep)), len(p) - len(keep)


NO_REALS = ("no REAL samples: this dataset's reals are in another dataset's rows; score it with that dataset's "
            "test REALs (AUC, EER and AP need both classes)")


def one_class_note(dataset: str, real_frames: int, fake_frames: int) -> str | None:
    """Why a row's AUC, EER and AP are null; None when it has both classes."""
    if real_frames and fake_frames:
        return None
    if not real_frames and dataset != ALL:
        return NO_REALS
    only = "REAL" if not fake_frames else "FAKE"
    return f"{only} samples only: AUC, EER and AP need both classes"


def eer(labels: np.ndarray, probs: np.ndarray) -> float:
    """Equal error rate: where the ROC curve (linearly interpolated, as DeepfakeBench's brentq over interp1d)
    crosses FPR = FNR = 1 - TPR."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, probs)
    gap = fpr + tpr - 1.0             # < 0 below the line FPR + TPR = 1, > 0 above it; the curve goes up
    i = int(np.argmax(gap >= 0))      # the first ROC point on or above the line (the last point (1, 1) is)
    if i == 0 or gap[i] == 0:
        return float(fpr[i])
    t = -gap[i - 1] / (gap[i] - gap[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def level_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    """{auc, eer, ap, log_loss, accuracy} of one level; auc, eer, ap None with one class; all None when empty."""
    from sklearn.metrics import accuracy_score, average_precision_score, log_loss, roc_auc_score

    out: dict = {m: None for m in LEVEL_METRICS}
    if len(labels) == 0:
        return out
    out["log_loss"] = float(log_loss(labels, np.clip(probs, EPS, 1 - EPS), labels=[0, 1]))
    out["accuracy"] = float(accuracy_score(labels, (probs >= threshold).astype(np.int64)))
    if 0 < labels.sum() < len(labels):
        out.update(auc=float(roc_auc_score(labels, probs)), eer=eer(labels, probs),
                   ap=float(average_precision_score(labels, probs)))
    return out


def pool_videos(idx: np.ndarray, video_ids: np.ndarray, labels: np.ndarray, probs: np.ndarray,
                agg: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, pooled probs) of the videos among the samples `idx`, `video_ids` naming each sample's video."""
    order = np.argsort(video_ids[idx], kind="stable")
    ids, first = np.unique(video_ids[idx][order], return_index=True)
    groups = np.split(idx[order], first[1:])
    pool = POOL[agg]
    return (np.array([labels[g[0]] for g in groups], np.int64),
            np.array([float(pool(probs[g])) for g in groups], np.float64))


def row_metrics(dataset: str, method: str | None, idx: np.ndarray, video_ids: np.ndarray, labels: np.ndarray,
                probs: np.ndarray, threshold: float) -> dict:
    """One matrix row over the samples `idx`."""
    y = labels[idx]
    v_labels, _ = pool_videos(idx, video_ids, labels, probs, AGGREGATES[0])
    row: dict = {"dataset": dataset, "method": method, "videos": int(len(v_labels)), "frames": int(len(idx)),
                 "real_videos": int((v_labels == 0).sum()), "fake_videos": int((v_labels == 1).sum()),
                 "real_frames": int((y == 0).sum()), "fake_frames": int((y == 1).sum())}
    for name, value in level_metrics(y, probs[idx], threshold).items():
        row[f"frame_{name}"] = value
    for agg in AGGREGATES:
        vy, vp = pool_videos(idx, video_ids, labels, probs, agg)
        for name, value in level_metrics(vy, vp, threshold).items():
            row[f"video_{agg}_{name}"] = value
    row["note"] = one_class_note(dataset, row["real_frames"], row["fake_frames"])
    return row


def video_ids(p: SamplePredictions) -> np.ndarray:
    """A code per (dataset, part, video): two datasets may both hold `000.mp4`."""
    codes: dict[tuple, int] = {}
    return np.array([codes.setdefault(k, len(codes)) for k in zip(p.datasets, p.parts, p.videos)], np.int64)


def check_videos(p: SamplePredictions) -> None:
    """A video whose samples carry both labels is a broken shard: say which, before any row is scored."""
    seen: dict[tuple, int] = {}
    for d, part, v, y in zip(p.datasets, p.parts, p.videos, p.labels):
        if seen.setdefault((d, part, v), y) != y:
            raise ValueError(f"video {v!r} of dataset {d!r} (part {part}) has samples labelled both REAL and FAKE")


def matrix(p: SamplePredictions, threshold: float = 0.5) -> list[dict]:
    """The rows: `all`, then each dataset (sorted) followed by its methods (sorted)."""
    if not len(p):
        return []
    check_videos(p)
    labels = np.asarray(p.labels, np.int64)
    probs = np.asarray(p.probs, np.float64)
    datasets = np.array(p.datasets, dtype=object)
    methods = np.array([m if m is not None else "" for m in p.methods], dtype=object)
    vids = video_ids(p)
    rows = [row_metrics(ALL, None, np.arange(len(p)), vids, labels, probs, threshold)]
    for d in sorted(set(p.datasets)):
        in_d = datasets == d
        rows.append(row_metrics(d, None, np.flatnonzero(in_d), vids, labels, probs, threshold))
        fake_methods = sorted({m for m in methods[in_d & (labels == 1)] if m})
        for m in fake_methods:
            idx = np.flatnonzero(in_d & ((labels == 0) | (methods == m)))
            rows.append(row_metrics(d, m, idx, vids, labels, probs, threshold))
    return rows


# --- outputs ----------------------------------------------------------------------------------------------------

def csv_bytes(rows: list[dict]) -> bytes:
    """matrix.csv: one row per matrix row, every digit kept; an undefined metric is an empty field."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns(), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in columns()})
    return buf.getvalue().encode()


def predictions_bytes(p: SamplePredictions) -> bytes:
    """matrix_predictions.csv: the per-sample predictions every row was computed from (label 1 = FAKE)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["key", "dataset", "method", "part", "video", "label", "prob"])
    for row in zip(p.keys, p.datasets, p.methods, p.parts, p.videos, p.labels, p.probs):
        k, d, m, part, v, y, prob = row
        w.writerow([k, d, m or "", part, v, y, repr(float(prob))])
    return buf.getvalue().encode()


def row_name(row: dict) -> str:
    """`all`, `<dataset>`, or `<dataset> / <method>`."""
    return row["dataset"] if row["method"] is None else f"{row['dataset']} / {row['method']}"


def plain_text(text: str) -> str:
    """`text` as matplotlib draws it literally: names come from user files (a manifest), and a `$...$` in them
    would be parsed as mathtext, which raises when the figure is saved if it is not valid TeX."""
    return text.replace("$", "\\$")


def figure_png(rows: list[dict], title: str) -> bytes:
    """matrix.png: a heatmap of AUC, one line per matrix row (`all`, each dataset, each dataset / method) and a
    column per level (frame, then video pooled by each aggregation); grey with '-' where AUC is undefined."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = ["frame_auc"] + [f"video_{a}_auc" for a in AGGREGATES]
    heads = ["frame"] + [f"video ({a})" for a in AGGREGATES]
    grid = np.array([[np.nan if r[k] is None else r[k] for k in keys] for r in rows], np.float64).reshape(-1, len(keys))
    fig = Figure(figsize=(3.0 + 1.3 * len(keys), 1.4 + 0.38 * max(1, len(rows))), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_facecolor("#d0d0d0")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0.5, vmax=1.0, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, "-" if math.isnan(grid[i, j]) else f"{grid[i, j]:.3f}", ha="center", va="center",
                    fontsize=8)
    ax.set_xticks(range(len(heads)), heads)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(rows)), [plain_text(row_name(r)) for r in rows])
    fig.colorbar(im, ax=ax, label="ROC AUC")
    fig.suptitle(plain_text(title), fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
