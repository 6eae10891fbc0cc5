"""Galleries: which crops to show, fetched by filter (only these are decoded), and an augmentation preview.

Returns two things: JSON-ready metadata for stats.json (video, frame, track, distances) and the image bytes,
keyed by an id the page uses; images never go into stats.json.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dfprep.analysis.load import FaceColumns, fetch_crops
from dfprep.analysis.similarity import fake_original_pairs
from dfprep.analysis.summaries import hamming, label_key


@dataclass
class Gallery:
    meta: dict = field(default_factory=dict)              # goes into stats.json["gallery"]
    images: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (mime, bytes)


def build_gallery(videos: pa.Table, faces: FaceColumns, orig_code: np.ndarray, size: int = 8, seed: int = 0,
                  augment: bool = True, augment_seeds: int = 5) -> Gallery:
    rng = np.random.default_rng(seed)
    labels = np.array([label_key(x) for x in videos.column("label").to_pylist()], dtype=object)
    samples = {lab: _one_crop_per_video(faces, _pick_videos(faces, labels == lab, size, rng))
               for lab in ("REAL", "FAKE")}
    pair_rows = _pick_pairs(faces, orig_code, size, rng)
    wanted = np.array(sorted({r for rs in samples.values() for r in rs} | {r for p in pair_rows for r in p}),
                      dtype=np.int64)
    jpegs = fetch_crops(faces, videos, wanted)
    g = Gallery()
    names, parts = videos.column("video").to_pylist(), videos.column("part").to_pylist()

    def item(r: int) -> dict | None:
        if r not in jpegs:
            return None
        key = f"crop-{r}"
        g.images[key] = ("image/jpeg", jpegs[r])
        c = int(faces.code[r])
        return {"image": key, "video": names[c], "part": parts[c], "label": labels[c],
                "frame_idx": int(faces.frame_idx[r]), "track_id": int(faces.track_id[r]),
                "prob": round(float(faces.prob[r]), 4), "phash": f"{int(faces.phash[r]):016x}"}

    g.meta["samples"] = {lab: [x for x in map(item, rows) if x] for lab, rows in samples.items()}
    pairs = []
    for fr, orr in pair_rows:
        a, b = item(fr), item(orr)
        if a and b:
            pairs.append({"fake": a, "original": b, "distance": int(hamming(faces.phash[[fr]], faces.phash[[orr]])[0])})
    g.meta["pairs"] = pairs
    if augment:
        sources = [x for lab in ("REAL", "FAKE") for x in g.meta["samples"][lab][:1]]
        g.meta["augment"] = _augment_preview(g, sources, augment_seeds)
    return g


def _pick_videos(faces: FaceColumns, select: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n video rows (of the selected label) that have at least one crop, chosen at random."""
    have = np.zeros(len(select), bool)
    have[np.unique(faces.code[faces.code >= 0])] = True
    cand = np.flatnonzero(have & select)
    return np.sort(rng.choice(cand, size=min(n, len(cand)), replace=False)) if len(cand) else cand


def _one_crop_per_video(faces: FaceColumns, codes: np.ndarray) -> list[int]:
    """For each video, track 0's crop nearest the middle of its sampled crops."""
    rows = np.flatnonzero(np.isin(faces.code, codes))
    out = []
    for c in codes:
        rs = rows[faces.code[rows] == c]
        t0 = rs[faces.track_id[rs] == faces.track_id[rs].min()]
        t0 = t0[np.argsort(faces.frame_idx[t0], kind="stable")]
        out.append(int(t0[len(t0) // 2]))
    return out


def _pick_pairs(faces: FaceColumns, orig_code: np.ndarray, n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Up to n (fake row, original row) pairs at the same frame and track, from n different fakes."""
    fr, orr = fake_original_pairs(faces, orig_code)
    if len(fr) == 0:
        return []
    codes = np.unique(faces.code[fr])
    chosen = np.sort(rng.choice(codes, size=min(n, len(codes)), replace=False))
    out = []
    for c in chosen:
        idx = np.flatnonzero(faces.code[fr] == c)
        j = idx[len(idx) // 2]
        out.append((int(fr[j]), int(orr[j])))
    return out


def _augment_preview(g: Gallery, sources: list[dict], n_seeds: int) -> dict:
    """One row per op alone (p=1) on the first source; then each source beside n_seeds default draws."""
    try:
        from dfprep.augment import DEFAULT_AUGMENTS, augment_image
    except ImportError as exc:
        return {"available": False, "reason": f"dfprep.augment is not importable ({exc})", "rows": []}
    from PIL import Image

    def run(img, src: dict, seed: int, names, p: float, tag: str) -> dict:
        aug, params = augment_image(img, seed=seed, names=names, p=p)
        buf = io.BytesIO()
        aug.convert("RGB").save(buf, format="JPEG", quality=90)
        key = f"aug-{src['image']}-{tag}"
        g.images[key] = ("image/jpeg", buf.getvalue())
        return {"image": key, "seed": seed, "p": p, "applied": describe_params(params)}

    rows = []
    for i, src in enumerate(sources):
        img = Image.open(io.BytesIO(g.images[src["image"]][1])).convert("RGB")
        if i == 0:
            rows.append({"kind": "each op alone", "source": src,
                         "outputs": [run(img, src, 0, (name,), 1.0, name) for name in DEFAULT_AUGMENTS]})
        rows.append({"kind": "default draws", "source": src,
                     "outputs": [run(img, src, s, DEFAULT_AUGMENTS, 0.5, f"s{s}") for s in range(n_seeds)]})
    return {"available": True, "augments": list(DEFAULT_AUGMENTS), "p": 0.5, "rows": rows}


def describe_params(params: object) -> list[str]:
    """Short text per op that fired, from augment_image's record ({'ops': [{'op': name, **params}]})."""
    if not isinstance(params, dict):
        return [str(params)] if params else []
    ops = params.get("ops")
    if isinstance(ops, list):
        out = []
        for o in ops:
            if not isinstance(o, dict):
                out.append(str(o))
                continue
            args = " ".join(f"{k}={v}" for k, v in o.items() if k not in ("op", "noise_seed"))
            out.append(f"{o.get('op', '?')} {args}".strip())
        return out
    return [str(k) for k, v in params.items() if k not in ("seed", "p") and v not in (None, False, 0, [], {})]
