"""The breakdown by dataset and by manipulation method, for a WORK that holds several datasets or any method.

A detector trained on one dataset is judged on others, so what differs between them (balance, official splits,
lengths, resolutions, faces found, how far a fake is from its original) is what a user must see before
comparing numbers across datasets. Each group gets the same summary: `by_dataset` over every row of a dataset,
`by_method` over the FAKEs of one (dataset, method). Plain counts and `summarize` dicts, from the videos table
and the per-video fake-vs-original distances the similarity section already computed.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from dfprep.analysis.labels import _counts
from dfprep.analysis.summaries import summarize
from dfprep.dataset import DFDC, LABELS, SPLITS, Status

NO_METHOD = "none"       # a FAKE of a dataset with methods whose own method is not known
NO_SPLIT = "none"        # a row without an official split
TOP_RESOLUTIONS = 8


def _col(videos: pa.Table, name: str) -> list:
    return videos.column(name).to_pylist() if name in videos.column_names else [None] * videos.num_rows


def has_breakdown(videos: pa.Table) -> bool:
    """True when WORK holds more than one dataset or any row names a method: only then the report gains its
    Datasets section (a WORK of DFDC's parts alone keeps today's page)."""
    datasets = {d or DFDC for d in _col(videos, "dataset")}
    return len(datasets) > 1 or any(m is not None for m in _col(videos, "method"))


def dataset_stats(videos: pa.Table, orig_code: np.ndarray, crop_d: np.ndarray, frame_d: np.ndarray,
                  faces_detected: bool) -> dict:
    """stats.json's `by_dataset` and `by_method`.

    orig_code: per video row, the row of a FAKE's decoded original, else -1 (`similarity.original_codes`);
    crop_d, frame_d: per video row, the mean phash distance of a FAKE to its original (crops at the same frame
    and track; whole frames), NaN where there is none (`similarity.fake_original_distances`).
    faces_detected: False for a WORK ingested with --no-faces (face numbers are then left out)."""
    datasets = np.array([d or DFDC for d in _col(videos, "dataset")], dtype=object)
    methods = np.array([m if m is not None else NO_METHOD for m in _col(videos, "method")], dtype=object)
    labels = np.array(_col(videos, "label"), dtype=object)
    cols = _Columns(videos, orig_code, crop_d, frame_d, faces_detected)
    by_dataset, by_method = {}, {}
    for ds in sorted(set(datasets.tolist())):
        sel = datasets == ds
        by_dataset[ds] = cols.summary(sel)
        by_dataset[ds]["methods"] = {m: int(n) for m, n in sorted(Counter(methods[sel & (labels == "FAKE")]
                                                                            .tolist()).items())}
        if any(m != NO_METHOD for m in methods[sel]):
            fakes = sel & (labels == "FAKE")
            by_method[ds] = {m: cols.summary(fakes & (methods == m)) for m in sorted(set(methods[fakes].tolist()))}
    return {"by_dataset": by_dataset, "by_method": by_method}


class _Columns:
    """The videos table's columns as numpy arrays once; `summary(mask)` for any group of rows."""

    def __init__(self, videos: pa.Table, orig_code: np.ndarray, crop_d: np.ndarray, frame_d: np.ndarray,
                 faces_detected: bool):
        self.labels = np.array(_col(videos, "label"), dtype=object)
        self.status = np.array(_col(videos, "status"), dtype=object)
        self.split = np.array([s or NO_SPLIT for s in _col(videos, "split")], dtype=object)
        self.compression = np.array([c or "none" for c in _col(videos, "compression")], dtype=object)
        self.num = {c: _float(videos, c) for c in ("duration_s", "n_frames", "fps", "width", "height", "n_faces")}
        self.orig, self.crop_d, self.frame_d, self.faces = orig_code, crop_d, frame_d, faces_detected

    def summary(self, sel: np.ndarray) -> dict:
        labelled = sel & np.isin(self.labels, LABELS)
        ok = sel & (self.status == Status.OK.value)
        w, h = self.num["width"][sel], self.num["height"][sel]
        probed = np.isfinite(w) & np.isfinite(h)
        res = Counter(f"{int(a)}x{int(b)}" for a, b in zip(w[probed], h[probed]))
        splits = {}
        for s in sorted(set(self.split[labelled].tolist()), key=_split_order):
            splits[s] = _counts(Counter(self.labels[labelled & (self.split == s)].tolist()))
        out = {
            "videos": int(sel.sum()),
            "labels": _counts(Counter(self.labels[labelled].tolist())),
            "status": dict(sorted(Counter(self.status[sel].tolist()).items())),
            "splits": splits,
            "compression": dict(sorted(Counter(self.compression[sel].tolist()).items())),
            "lengths": {c: summarize(self.num[c][sel]) for c in ("duration_s", "n_frames", "fps")},
            "resolutions": dict(res.most_common(TOP_RESOLUTIONS)),
            "resolution_count": len(res),
            "fake_vs_original": {"fakes_with_original": int((self.orig[sel] >= 0).sum()),
                                 "crop_distance": summarize(self.crop_d[sel]),
                                 "frame_distance": summarize(self.frame_d[sel])},
        }
        if self.faces:
            n_faces = self.num["n_faces"]
            detected = ok & np.isfinite(n_faces)
            no_face = int((detected & (n_faces == 0)).sum())
            out["faces"] = {"videos_detected": int(detected.sum()),
                            "faces_per_video": summarize(n_faces[detected]),
                            "videos_without_face": no_face,
                            "no_face_rate": round(no_face / int(detected.sum()), 4) if detected.any() else None}
        return out


def _split_order(s: str) -> tuple[int, str]:
    return (SPLITS.index(s) if s in SPLITS else len(SPLITS), s)


def _float(videos: pa.Table, name: str) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in _col(videos, name)], dtype=np.float64)


def named_identities(videos: pa.Table, examples: int = 20) -> dict:
    """The identities the layouts name (the `identity` column: FF++'s YouTube source from conversion_dict.json,
    Celeb-DF's id, ...), and those whose videos sit in more than one official split, which then leaks that
    person across the split (FF++'s official split does so for 7).

    `by_dataset`: per dataset. `across_datasets` (when several datasets name identities): identities named by
    more than one dataset (DeeperForensics' targets are FF++'s), and those whose videos over all datasets sit
    in more than one split (a person in DeeperForensics' train and FF++'s test). Empty when no row names one."""
    ident = _col(videos, "identity")
    if all(x is None for x in ident):
        return {}
    datasets = [d or DFDC for d in _col(videos, "dataset")]
    per: dict[str, dict[str, set]] = {}
    everywhere: dict[str, tuple[set, set]] = {}
    videos_with: Counter = Counter()
    for ds, who, sp in zip(datasets, ident, _col(videos, "split")):
        if who is None:
            continue
        videos_with[ds] += 1
        s = per.setdefault(ds, {}).setdefault(who, set())
        seen_in, seen_splits = everywhere.setdefault(who, (set(), set()))
        seen_in.add(ds)
        if sp is not None:
            s.add(sp)
            seen_splits.add(sp)
    out: dict = {"by_dataset": {}}
    for ds in sorted(per):
        spanning = _spanning({who: sp for who, sp in per[ds].items()})
        out["by_dataset"][ds] = {"identities": len(per[ds]), "videos_with_identity": videos_with[ds],
                                 **_span_summary(spanning, examples)}
    if len(per) > 1:
        shared = {who: sorted(d) for who, (d, _) in everywhere.items() if len(d) > 1}
        spanning = _spanning({who: sp for who, (d, sp) in everywhere.items() if len(d) > 1})
        summary = _span_summary(spanning, examples)
        summary["examples"] = [{**e, "datasets": shared[e["identity"]]} for e in summary["examples"]]
        out["across_datasets"] = {"shared": len(shared),
                                  "by_datasets": dict(sorted(Counter("+".join(d) for d in shared.values()).items())),
                                  **summary}
    return out


def _spanning(splits_of: dict[str, set]) -> list[tuple[str, list[str]]]:
    """(identity, its splits in SPLITS order) for each identity in more than one split, sorted by identity."""
    return sorted((who, sorted(sp, key=_split_order)) for who, sp in splits_of.items() if len(sp) > 1)


def _span_summary(spanning: list[tuple[str, list[str]]], examples: int) -> dict:
    return {"spanning_splits": len(spanning),
            "by_splits": dict(sorted(Counter("/".join(sp) for _, sp in spanning).items())),
            "examples": [{"identity": who, "splits": sp} for who, sp in spanning[:examples]]}
