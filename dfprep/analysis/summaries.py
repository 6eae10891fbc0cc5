"""Small numeric building blocks shared by the report sections: summaries, histograms, Hamming distances.

Every section turns numpy columns into plain JSON-ready dicts with these, so stats.json and the page agree.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import numpy as np

from dfprep.dataset import LABELS

NO_LABEL = "none"  # key used for rows whose label is null (unlisted or rejected)


def label_key(label: object) -> str:
    return label if label in LABELS else NO_LABEL


def _num(x: float) -> float | int:
    """JSON-friendly number: ints stay ints, floats get 4 significant decimals."""
    if isinstance(x, (int, np.integer)):
        return int(x)
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else round(x, 4)


def summarize(values: np.ndarray) -> dict:
    """count, mean, median, min, max, p5, p95 of the finite values (None when there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"count": 0, "mean": None, "median": None, "min": None, "max": None, "p5": None, "p95": None}
    p5, med, p95 = np.percentile(v, [5, 50, 95])
    return {"count": int(v.size), "mean": _num(v.mean()), "median": _num(med), "min": _num(v.min()),
            "max": _num(v.max()), "p5": _num(p5), "p95": _num(p95)}


def summarize_by(values: np.ndarray, labels: np.ndarray) -> dict:
    """{label: summary} for each label present (plus 'all')."""
    out = {k: summarize(values[labels == k]) for k in present_labels(labels)}
    out["all"] = summarize(values)
    return out


def histogram_by(values: np.ndarray, labels: np.ndarray, bins: int | np.ndarray = 30,
                 integer: bool = False, log: bool = False) -> dict:
    """Shared bin edges over all labels; {'edges': [...], 'counts': {label: [...]}}.

    integer=True puts one bin per integer value when the range is small (frame counts, faces per frame).
    log=True spaces the edges logarithmically (file sizes). A constant column (equal at 4 decimals) gets the
    one bin [v - 0.5, v + 0.5], which the figures draw as a bar at v.
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    v, labels = v[ok], labels[ok]
    if v.size == 0:
        return {"edges": [], "counts": {}}
    lo, hi = float(v.min()), float(v.max())
    if isinstance(bins, np.ndarray):
        edges = bins
    elif _num(hi) == _num(lo):      # constant at the precision kept: one bin centred on the value, never 30
        edges = np.array([lo - 0.5, lo + 0.5])          # bins whose rounded edges all coincide
    elif integer and hi - lo <= 60:
        edges = np.arange(np.floor(lo), np.floor(hi) + 2) - 0.5
    elif log and lo > 0:
        edges = np.geomspace(lo, hi, bins + 1)
    else:
        edges = np.linspace(lo, hi, bins + 1)
    counts = {k: np.histogram(v[labels == k], edges)[0].tolist() for k in present_labels(labels)}
    return {"edges": [_num(e) for e in edges], "counts": counts}


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def count_by(values: Iterable, labels: Iterable, top: int | None = None, other: str = "other",
             numeric_keys: bool = False) -> dict:
    """{value: {label: n, 'all': n}} ordered by total count (by value with numeric_keys); the values past
    `top` folded into `other`."""
    per: dict[str, Counter] = {}
    for v, lab in zip(values, labels):
        per.setdefault(str(v), Counter())[label_key(lab)] += 1
    if numeric_keys and all(_is_number(k) for k in per):
        items = sorted(per.items(), key=lambda kv: float(kv[0]))
    else:
        items = sorted(per.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    if top is not None and len(items) > top:
        rest = Counter()
        for _, c in items[top:]:
            rest.update(c)
        items = items[:top] + [(other, rest)]
    return {k: {**dict(sorted(c.items())), "all": sum(c.values())} for k, c in items}


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance of two uint64 arrays (0..64), vectorized."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.uint8)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.uint8)


def group_mean(groups: np.ndarray, values: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of `values` per integer group id (NaN where a group has none) and the count per group."""
    n = np.bincount(groups, minlength=n_groups)
    s = np.bincount(groups, weights=values.astype(np.float64), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan), n


def present_labels(labels: np.ndarray) -> list[str]:
    """The group keys present, REAL, FAKE, none first, then any others (e.g. crops/frames) sorted."""
    have = set(labels.tolist()) if len(labels) else set()
    first = [k for k in (*LABELS, NO_LABEL) if k in have]
    return first + sorted(have - set(first))
