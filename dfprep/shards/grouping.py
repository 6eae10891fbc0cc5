"""Which families are kept whole together: each by itself (--group family), or identity groups (--group
identity) of the face store's track embeddings and of the named identities of videos.parquet."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dfprep.shards.config import ShardsConfig, ShardsUsageError
from dfprep.shards.datasets import merge_named, named_identities


def codes(values: list) -> tuple[np.ndarray, list]:
    """(each value's code, the distinct values sorted): code i is the i-th of them."""
    uniq = sorted(set(values))
    index = {v: i for i, v in enumerate(uniq)}
    return np.array([index[v] for v in values], np.int64), uniq


def unit_groups(work: Path, cfg: ShardsConfig, eligible: list[tuple[int, str]], fam_of: dict,
                label_of: dict, rows: dict) -> tuple[dict[str, str], dict]:
    """{family id: the group kept whole} over every usable video (a growth's new videos may join an old family
    or identity), and index.json's `grouping`: each family by itself, or (--group identity) identity groups:
    of track embeddings, and of the named identities of videos.parquet (`datasets.union_named`)."""
    all_code, all_names = codes([fam_of[pv] for pv in eligible])
    if cfg.group != "identity":
        return {f: f for f in all_names}, {"group": cfg.group}
    named = named_identities(eligible, fam_of, rows)
    groups, grouping = _identity_groups(work, eligible, all_code, all_names, cfg.identity_threshold, label_of,
                                        bool(named))
    return merge_named(groups, grouping, named), grouping


def _identity_groups(work: Path, eligible: list[tuple[int, str]], fam_code: np.ndarray, fam_names: list[str],
                     threshold: float, label_of: dict, named: bool = False) -> tuple[dict[str, str], dict]:
    """{family id: identity group id} from the face store's embeddings, and index.json's `grouping` entry."""
    from dfprep.shards.groups import identity_groups, linking_tracks
    from dfprep.formats.work.faces import read_embeddings
    from dfprep.formats.work.names import faces_dir

    faces = faces_dir(work)
    keys, vectors = read_embeddings(work)       # FaceStoreError: bad data, exit 1
    if not keys and named:      # named identities alone group the families
        return {f: f for f in fam_names}, {"group": "identity", "threshold": threshold, "tracks_with_embedding": 0,
                                           "families_without_embedding": len(fam_names), "largest_groups": []}
    if not keys:
        raise ShardsUsageError(f"{faces}: no identity embedding (written before they existed, or ingested with "
                               f"--no-identity); re-ingest WORK, or use --group family")
    video_family = {pv: fam_names[fam_code[i]] for i, pv in enumerate(eligible)}
    keys, vectors = linking_tracks(keys, vectors, label_of)
    groups = identity_groups(video_family, (keys, vectors), threshold)
    embedded = {video_family[k] for k in keys if k in video_family}
    sizes: dict[str, int] = {}
    for g in groups.values():
        sizes[g] = sizes.get(g, 0) + 1
    return groups, {"group": "identity", "threshold": threshold,
                    "tracks_with_embedding": sum(k in video_family for k in keys),
                    "families_without_embedding": len(set(fam_names) - embedded),
                    "largest_groups": [{"group": g, "families": n} for g, n in
                                       sorted(sizes.items(), key=lambda x: (-x[1], x[0]))[:10] if n > 1]}
