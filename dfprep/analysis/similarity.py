"""Perceptual-hash similarity: within a video over time, between a fake and its original, across families.

All distances are Hamming distances between 64-bit imagehash.phash values (0 = same hash, ~32 = unrelated).
Everything is vectorized over the hash columns: sorting and searchsorted stand in for joins.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfprep.dataset import Status, original_resolver
from dfprep.analysis.load import FaceColumns
from dfprep.analysis.summaries import group_mean, hamming, histogram_by, summarize_by

EDGES = np.arange(0, 34, 1.0) - 0.5  # one bin per distance 0..32; larger distances fall out of the plot only


def _dist_hist(values: np.ndarray, labels: np.ndarray) -> dict:
    v = np.minimum(values, 32.0)  # 33+ is "unrelated"; folded into the last bin so the counts stay complete
    return histogram_by(v, labels, bins=EDGES)


def frame_consecutive(videos: pa.Table, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    """Mean distance between consecutive sampled whole frames, per ok video (videos.parquet frame_phash)."""
    col = videos.column("frame_phash").combine_chunks()
    n = videos.num_rows
    if col.null_count == n or len(pc.list_flatten(col)) < 2:
        return {"videos": 0, "by_label": {}, "histogram": {"edges": [], "counts": {}}}, np.full(n, np.nan)
    values = pc.list_flatten(col).to_numpy(zero_copy_only=False).astype(np.uint64)
    parent = pc.list_parent_indices(col).to_numpy(zero_copy_only=False).astype(np.int64)
    same = parent[1:] == parent[:-1]
    d = hamming(values[1:][same], values[:-1][same])
    per_video, _ = group_mean(parent[1:][same], d, n)
    has = np.isfinite(per_video)
    return {"videos": int(has.sum()), "by_label": summarize_by(per_video[has], labels[has]),
            "histogram": _dist_hist(per_video[has], labels[has])}, per_video


def crop_consecutive(faces: FaceColumns, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    """Mean distance between a face track's crops at consecutive sampled frames, per video."""
    n = len(labels)
    known = np.flatnonzero(faces.code >= 0)
    order = known[np.lexsort((faces.frame_idx[known], faces.track_id[known], faces.code[known]))]
    c, t, h = faces.code[order], faces.track_id[order], faces.phash[order]
    same = (c[1:] == c[:-1]) & (t[1:] == t[:-1])
    d = hamming(h[1:][same], h[:-1][same])
    per_video, _ = group_mean(c[1:][same].astype(np.int64), d, n)
    has = np.isfinite(per_video)
    return {"videos": int(has.sum()), "by_label": summarize_by(per_video[has], labels[has]),
            "histogram": _dist_hist(per_video[has], labels[has])}, per_video


def original_codes(videos: pa.Table) -> np.ndarray:
    """Row of each ok FAKE's original (an ok REAL) in the videos table; -1 when there is none. The original is
    looked up by `dataset.original_resolver`, the rule families follow (DeeperForensics fakes name FF++
    originals)."""
    names, parts = videos.column("video").to_pylist(), videos.column("part").to_pylist()
    status, labels = videos.column("status").to_pylist(), videos.column("label").to_pylist()
    where = {(p, v): i for i, (p, v, s, lab) in enumerate(zip(parts, names, status, labels))
             if s == Status.OK and lab == "REAL"}
    resolve = original_resolver(zip(parts, names))

    def find(p, o) -> int:
        return -1 if o is None else where.get(resolve(p, o), -1)

    return np.array([find(p, o) if lab == "FAKE" and s == Status.OK else -1 for p, o, s, lab in
                     zip(parts, videos.column("original").to_pylist(), status, labels)], dtype=np.int64)


def face_key(code: np.ndarray, frame_idx: np.ndarray, track_id: np.ndarray) -> np.ndarray:
    """One int64 per (video row, frame, track): video row < 2^31, frame < 2^24, track < 2^8."""
    return (code.astype(np.int64) << 32) | (frame_idx.astype(np.int64) << 8) | (track_id.astype(np.int64) & 0xFF)


def fake_original_pairs(faces: FaceColumns, orig_code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face rows of fakes and the original's face row at the same frame and track (row indices into faces)."""
    known = faces.code >= 0
    key = np.where(known, face_key(faces.code, faces.frame_idx, faces.track_id), -1)
    fake_rows = np.flatnonzero(known & (orig_code[np.maximum(faces.code, 0)] >= 0))
    if len(fake_rows) == 0:
        return fake_rows, fake_rows
    want = face_key(orig_code[faces.code[fake_rows]], faces.frame_idx[fake_rows], faces.track_id[fake_rows])
    order = np.argsort(key, kind="stable")
    pos = np.clip(np.searchsorted(key[order], want), 0, len(order) - 1)
    hit = key[order][pos] == want
    return fake_rows[hit], order[pos[hit]]


def fake_vs_original(videos: pa.Table, faces: FaceColumns | None, orig_code: np.ndarray, top: int = 10,
                     distances: tuple | None = None) -> dict:
    """Per fake: mean crop distance to its original at the same frame/track, and the same for whole frames.
    `distances`: `fake_original_distances`' result when already computed."""
    fakes = np.flatnonzero(orig_code >= 0)
    crop_d, n_pairs, frame_d = distances or fake_original_distances(videos, faces, orig_code)
    names, parts = videos.column("video").to_pylist(), videos.column("part").to_pylist()
    originals = videos.column("original").to_pylist()

    def row(i: int) -> dict:
        return {"video": names[i], "part": parts[i], "original": originals[i], "pairs": int(n_pairs[i]),
                "crop_distance": None if np.isnan(crop_d[i]) else round(float(crop_d[i]), 3),
                "frame_distance": None if np.isnan(frame_d[i]) else round(float(frame_d[i]), 3)}

    with_crops = fakes[np.isfinite(crop_d[fakes])]
    ranked = with_crops[np.argsort(crop_d[with_crops], kind="stable")]
    kinds = np.array(["crops"] * len(fakes) + ["frames"] * len(fakes), dtype=object)
    both = np.concatenate([crop_d[fakes], frame_d[fakes]])
    return {
        "fakes_with_original": int(len(fakes)),
        "fakes_with_crop_pairs": int(len(with_crops)),
        "crop_pairs": int(n_pairs.sum()),
        "by_kind": {k: v for k, v in summarize_by(both, kinds).items() if k != "all"},
        "histogram": _dist_hist(both, kinds),
        "most_changed": [row(i) for i in ranked[::-1][:top]],
        "least_changed": [row(i) for i in ranked[:top]],
    }


def fake_original_distances(videos: pa.Table, faces: FaceColumns | None,
                            orig_code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per video row: mean crop distance to its original (NaN when none), crop pairs compared, and mean
    whole-frame distance (NaN when none); the per-video values the report's breakdowns summarize."""
    n = videos.num_rows
    frame_d = _frame_pair_distance(videos, orig_code)
    crop_d, n_pairs = np.full(n, np.nan), np.zeros(n, np.int64)
    if faces is not None and len(faces):
        fr, orr = fake_original_pairs(faces, orig_code)
        d = hamming(faces.phash[fr], faces.phash[orr])
        crop_d, n_pairs = group_mean(faces.code[fr].astype(np.int64), d, n)
    return crop_d, n_pairs, frame_d


def _frame_pair_distance(videos: pa.Table, orig_code: np.ndarray) -> np.ndarray:
    """Mean whole-frame distance of each fake to its original over the sampled frames they share."""
    n = videos.num_rows
    out = np.full(n, np.nan)
    frames, hashes = videos.column("sampled_frames").combine_chunks(), videos.column("frame_phash").combine_chunks()
    if len(pc.list_flatten(hashes)) == 0:
        return out
    fi = pc.list_flatten(frames).to_numpy(zero_copy_only=False).astype(np.int64)
    h = pc.list_flatten(hashes).to_numpy(zero_copy_only=False).astype(np.uint64)
    parent = pc.list_parent_indices(hashes).to_numpy(zero_copy_only=False).astype(np.int64)
    if len(fi) != len(h):  # frame_phash is aligned with sampled_frames by format; guard against odd rows
        return out
    key = (parent << 32) | fi
    order = np.argsort(key, kind="stable")
    is_fake = orig_code[parent] >= 0
    want = (orig_code[parent[is_fake]] << 32) | fi[is_fake]
    pos = np.clip(np.searchsorted(key[order], want), 0, len(order) - 1)
    hit = key[order][pos] == want
    d = hamming(h[is_fake][hit], h[order[pos[hit]]])
    out, _ = group_mean(parent[is_fake][hit], d, n)
    return out


def cross_family_duplicates(videos: pa.Table, faces: FaceColumns, roots: dict, top: int = 30,
                            per_group: int = 8) -> dict:
    """Crops with the same phash in different families (a REAL and its fakes): a train/test leakage risk.
    `roots`: every row's family root (`dataset.table_family_roots`)."""
    names, parts = videos.column("video").to_pylist(), videos.column("part").to_pylist()
    fam_names = ["p{}/{}".format(*roots[(p, v)]) for p, v in zip(parts, names)]
    fam_of_row = pc.dictionary_encode(pa.array(fam_names)).indices.to_numpy(zero_copy_only=False).astype(np.int64) \
        if fam_names else np.zeros(0, np.int64)
    rows = np.flatnonzero(faces.code >= 0)
    fam = fam_of_row[faces.code[rows]]
    order = rows[np.lexsort((fam, faces.phash[rows]))]
    h, f = faces.phash[order], fam_of_row[faces.code[order]]
    if len(h) == 0:
        return {"hashes": 0, "crops": 0, "families": 0, "groups": []}
    start = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    end = np.r_[start[1:], len(h)]
    fam_change = np.r_[False, (f[1:] != f[:-1]) & (h[1:] == h[:-1])]
    n_fams = np.add.reduceat(fam_change.astype(np.int64), start) + 1
    dup = np.flatnonzero(n_fams > 1)
    dup = dup[np.argsort(-n_fams[dup] * 1_000_000 - (end - start)[dup], kind="stable")]
    groups = []
    for g in dup[:top]:
        members = order[start[g]:end[g]]
        seen_fams, shown = set(), []
        for r in members:  # one crop per family first, so the listing shows the families involved
            fm = fam_of_row[faces.code[r]]
            if fm not in seen_fams:
                seen_fams.add(fm)
                shown.append(r)
        shown = shown[:per_group]
        groups.append({"phash": f"{int(h[start[g]]):016x}", "families": int(n_fams[g]),
                       "crops": int(end[g] - start[g]),
                       "examples": [{"video": names[faces.code[r]], "part": parts[faces.code[r]],
                                     "family": fam_names[faces.code[r]], "frame_idx": int(faces.frame_idx[r]),
                                     "track_id": int(faces.track_id[r])} for r in shown]})
    in_dup = np.repeat(n_fams > 1, end - start)
    return {"hashes": int(len(dup)), "crops": int(in_dup.sum()), "families": int(len(np.unique(f[in_dup]))),
            "groups": groups}
