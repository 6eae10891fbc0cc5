"""Class balance of one split to a REAL:FAKE target, family-aware.

Undersampling drops majority-class samples family by family: each family keeps a share proportional to its
size (largest-remainder rounding) and at least one sample, so the ratio holds within one sample per family
and no family disappears. Within a family the kept samples are spread over its videos round-robin.
Oversampling repeats minority-class samples (each repeat augmented differently downstream) to reach the
target exactly. The natural counts give class weights, written to the index whatever the mode.
`balance_by_dataset` (--balance-scope dataset) applies the same rule within each dataset of a split.
"""
from __future__ import annotations

import numpy as np

REAL, FAKE = 0, 1


def class_weights(n_real: int, n_fake: int) -> dict[str, float] | None:
    """Inverse-frequency weights N / (2 n_c) (scikit-learn's 'balanced'), for the natural distribution."""
    n = n_real + n_fake
    if not n_real or not n_fake:
        return None
    return {"REAL": round(n / (2 * n_real), 6), "FAKE": round(n / (2 * n_fake), 6)}


def _quotas(sizes: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Largest-remainder apportionment of `target` over groups proportional to sizes, each at least 1."""
    exact = sizes * (target / sizes.sum())
    q = np.floor(exact).astype(np.int64)
    left = int(target - q.sum())
    if left > 0:
        tiebreak = rng.random(len(sizes))
        order = np.lexsort((tiebreak, -(exact - q)))
        q[order[:left]] += 1
    return np.clip(q, 1, sizes)


def _spread_order(videos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices ordered round-robin over videos (random order within a video and among videos)."""
    perm = rng.permutation(len(videos))
    _, inv = np.unique(videos[perm], return_inverse=True)
    counts = np.bincount(inv)
    video_rank = rng.permutation(len(counts))[inv]
    by_video = np.argsort(inv, kind="stable")
    rank = np.empty(len(inv), np.int64)
    rank[by_video] = np.arange(len(inv)) - np.r_[0, np.cumsum(counts)[:-1]][inv[by_video]]
    return perm[np.lexsort((video_rank, rank))]


def undersample(idx: np.ndarray, families: np.ndarray, videos: np.ndarray, target: int,
                rng: np.random.Generator) -> np.ndarray:
    """Keep about `target` of the samples `idx` (sorted result), every family keeping at least one."""
    if not len(idx):
        return idx
    fams, inverse = np.unique(families[idx], return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(fams))
    keep_n = _quotas(sizes, target, rng)
    by_family = idx[np.argsort(inverse, kind="stable")]
    bounds = np.r_[0, np.cumsum(sizes)]
    kept = []
    for f in range(len(fams)):
        members = by_family[bounds[f]:bounds[f + 1]]
        kept.append(members[_spread_order(videos[members], rng)[:keep_n[f]]])
    return np.sort(np.concatenate(kept))


def balance_split(labels: np.ndarray, families: np.ndarray, videos: np.ndarray, mode: str,
                  ratio: tuple[float, float], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Choose the samples of one split: (unit index, repeat number) arrays and a summary.

    labels: 0/1 per unit; families, videos: integer codes per unit. Repeat 0 is the unit itself.
    """
    all_idx = np.arange(len(labels), dtype=np.int64)
    n_real, n_fake = int((labels == REAL).sum()), int((labels == FAKE).sum())
    info = {"mode": mode, "natural": {"real": n_real, "fake": n_fake}, "target": None, "note": None}
    r, f = ratio
    if mode == "none" or not len(labels):
        return all_idx, np.zeros(len(labels), np.int64), info
    if not n_real or not n_fake:
        info["note"] = f"not balanced: the split has no {'REAL' if not n_real else 'FAKE'} sample"
        return all_idx, np.zeros(len(labels), np.int64), info
    fake_per_real = f / r
    if mode == "undersample":
        if n_fake > n_real * fake_per_real:
            cls, target = FAKE, int(round(n_real * fake_per_real))
        else:
            cls, target = REAL, int(round(n_fake / fake_per_real))
        info["target"] = {"class": ("REAL", "FAKE")[cls], "samples": target}
        pool = all_idx[labels == cls]
        if target >= len(pool):
            return all_idx, np.zeros(len(labels), np.int64), info
        kept = undersample(pool, families, videos, max(target, 1), rng)
        idx = np.sort(np.concatenate([all_idx[labels != cls], kept]))
        return idx, np.zeros(len(idx), np.int64), info
    if mode == "oversample":
        if n_real < n_fake / fake_per_real:
            cls, target = REAL, int(round(n_fake / fake_per_real))
        else:
            cls, target = FAKE, int(round(n_real * fake_per_real))
        info["target"] = {"class": ("REAL", "FAKE")[cls], "samples": target}
        pool = all_idx[labels == cls]
        extra = target - len(pool)
        if extra <= 0:
            return all_idx, np.zeros(len(labels), np.int64), info
        reps = np.full(len(pool), extra // len(pool), np.int64)
        reps[rng.permutation(len(pool))[:extra % len(pool)]] += 1
        rep_idx = np.repeat(pool, reps)
        rep_k = np.concatenate([np.arange(1, k + 1) for k in reps]) if reps.any() else np.zeros(0, np.int64)
        idx = np.concatenate([all_idx, rep_idx])
        k = np.concatenate([np.zeros(len(all_idx), np.int64), rep_k.astype(np.int64)])
        return idx, k, info
    raise ValueError(f"unknown balance mode {mode!r}")


def balance_by_dataset(vlabel: np.ndarray, fam_code: np.ndarray, uvideo: np.ndarray, own: np.ndarray, mode: str,
                       ratio: tuple[float, float], rng: np.random.Generator,
                       vdataset: list[str]) -> tuple[np.ndarray, np.ndarray, dict]:
    """`balance_split` within each dataset of the split (--balance-scope dataset): every dataset reaches the
    REAL:FAKE target on its own. Returns positions into `own`, repeats, and the split's info with `datasets`."""
    names = sorted(set(vdataset))
    ds_code = np.array([names.index(d) for d in vdataset], np.int64)
    of_unit = ds_code[uvideo[own]] if len(own) else np.zeros(0, np.int64)
    idx_all, rep_all, per = [], [], {}
    for k, d in enumerate(names):
        pos = np.flatnonzero(of_unit == k)
        if not len(pos):
            continue
        v = uvideo[own[pos]]
        idx, rep, info = balance_split(vlabel[v], fam_code[v], v, mode, ratio, rng)
        idx_all.append(pos[idx])
        rep_all.append(rep)
        per[d] = info
    idx = np.concatenate(idx_all) if idx_all else np.zeros(0, np.int64)
    rep = np.concatenate(rep_all) if rep_all else np.zeros(0, np.int64)
    labels = vlabel[uvideo[own]] if len(own) else np.zeros(0, np.int64)
    info = {"mode": mode, "scope": "dataset", "natural": {"real": int((labels == 0).sum()),
                                                          "fake": int((labels == 1).sum())},
            "target": None, "note": None, "datasets": per}
    return idx, rep, info
