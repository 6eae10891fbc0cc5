"""Identity statistics: who appears in which videos, from the face store's per-track embeddings.

A cluster is a connected component of REAL tracks (as `dfprep shards --group identity` links them: a fake's
face is a blend) whose embeddings are within the distance threshold (dlib's
same-person 0.6 by default) of each other, directly or through other tracks (`dfprep.shards.groups`): one
person, in every video and family they appear in. With a SHARDS folder, identity leakage is a cluster whose
videos sit in more than one split of its families.parquet (a family split still lets the same actor be
trained on and validated on; `dfprep shards --group identity` never does).

Reads only (part, video, embedding) of the rows where the embedding is set (one per track). The neighbour
search compares every track with every other: about 100 s for 100k tracks on 2 cores.
"""
from __future__ import annotations

from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa

from dfprep.analysis.load import AnalysisError
from dfprep.analysis.summaries import summarize
from dfprep.dataset import SPLITS, table_family_roots
from dfprep.storage import as_path
from dfprep.faces.identity import DEFAULT_IDENTITY_THRESHOLD


def identity_stats(work: Path, videos: pa.Table, shards: Path | None = None,
                   threshold: float | None = None, top: int = 20, roots: dict | None = None) -> dict:
    """stats.json's `identity`: clusters of tracks by embedding, and (with `shards`) leakage between splits.

    The threshold is the one SHARDS was cut with (`--group identity --identity-threshold`), else dlib's default;
    `roots`: every row's family root (`dataset.table_family_roots`), computed here when not given."""
    if threshold is None:
        threshold = _shards_threshold(shards) if shards is not None else None
        threshold = DEFAULT_IDENTITY_THRESHOLD if threshold is None else threshold
    from dfprep.shards.groups import linking_tracks, track_clusters
    from dfprep.formats.work.faces import read_embeddings

    keys, vectors = read_embeddings(work)           # ([], [0, 128]) without a face store
    out: dict = {"available": bool(keys), "threshold": threshold, "tracks_with_embedding": len(keys)}
    if not keys:
        out["note"] = ("no identity embedding in the face store (ingested before embeddings existed, or with "
                       "--no-identity): re-ingest to see identity clusters")
        return out
    roots = roots if roots is not None else table_family_roots(videos)
    fam = {k: "p{}/{}".format(*r) for k, r in roots.items()}
    label = dict(zip(zip(videos.column("part").to_pylist(), videos.column("video").to_pylist()),
                     videos.column("label").to_pylist()))
    keys, vectors = linking_tracks(keys, vectors, label)      # REAL tracks, as `dfprep shards --group identity`
    out["tracks_linking"] = len(keys)
    if not keys:
        out["note"] = "no REAL track has an identity embedding"
        return out
    cluster = track_clusters(vectors, threshold)
    ids, inverse = np.unique(cluster, return_inverse=True)
    members: list[list[int]] = [[] for _ in ids]
    for t, c in enumerate(inverse.tolist()):
        members[c].append(t)
    info = []
    for ts in members:
        vids = sorted({keys[t] for t in ts})
        fams = sorted({fam.get(v, f"p{v[0]}/{v[1]}") for v in vids})
        labels = Counter(label.get(v) or "none" for v in vids)
        info.append({"cluster": f"p{vids[0][0]}/{vids[0][1]}", "tracks": len(ts), "videos": len(vids),
                     "families": len(fams), "REAL": labels.get("REAL", 0), "FAKE": labels.get("FAKE", 0),
                     "_videos": vids, "_families": fams})
    sizes = np.array([c["videos"] for c in info])
    fam_sizes = np.array([c["families"] for c in info])
    largest = sorted(info, key=lambda c: (-c["videos"], -c["tracks"], c["cluster"]))[:top]
    out.update({
        "videos_with_embedding": len(set(keys)),
        "clusters": len(info),
        "single_video_clusters": int((sizes == 1).sum()),
        "multi_family_clusters": int((fam_sizes > 1).sum()),
        "videos_per_cluster": summarize(sizes),
        "families_per_cluster": summarize(fam_sizes),
        "videos_per_cluster_counts": {str(k): v for k, v in sorted(Counter(sizes.tolist()).items())},
        "largest": [{**{k: v for k, v in c.items() if not k.startswith("_")},
                     "examples": [f"p{p}/{v}" for p, v in c["_videos"][:8]], "family_ids": c["_families"][:8]}
                    for c in largest],
    })
    if shards is not None:
        out["leakage"] = identity_leakage(info, as_path(shards), top)
    return out


def _shards_threshold(shards) -> float | None:
    """The identity threshold SHARDS/index.json records (`grouping`, with --group identity); None otherwise."""
    from dfprep.formats.shards import read_shards_index
    from dfprep.shards.config import ShardsUsageError

    try:
        return read_shards_index(shards).identity_threshold
    except ShardsUsageError:
        return None                     # the leakage section names the unreadable folder itself


def identity_leakage(clusters: list[dict], shards: Path, top: int = 20) -> dict:
    """Clusters whose videos are in more than one split of SHARDS/families.parquet, counted per split pair."""
    from dfprep.formats.shards import read_families
    from dfprep.shards.config import ShardsUsageError

    try:
        t = read_families(shards, ["part", "video", "split"])
    except ShardsUsageError as exc:
        raise AnalysisError(f"{exc}: no split of each video; is {shards} the --out folder of `dfprep shards`?") \
            from None
    split_of = {(r["part"], r["video"]): r["split"] for r in t}
    pairs: Counter = Counter()
    leaking, checked, videos_leaking = [], 0, 0
    for c in clusters:
        per_split = Counter(split_of[v] for v in c["_videos"] if v in split_of)
        if per_split:
            checked += 1
        if len(per_split) < 2:
            continue
        order = sorted(per_split, key=lambda s: SPLITS.index(s) if s in SPLITS else len(SPLITS))
        for a, b in combinations(order, 2):
            pairs[f"{a}/{b}"] += 1
        videos_leaking += sum(per_split.values())
        leaking.append({"cluster": c["cluster"], "videos": c["videos"], "families": c["families"],
                        "splits": {s: per_split[s] for s in order}})
    leaking.sort(key=lambda c: (-len(c["splits"]), -c["videos"], c["cluster"]))
    return {"shards": str(as_path(shards).resolve()), "clusters_in_shards": checked, "leaking_clusters": len(leaking),
            "videos_in_leaking_clusters": videos_leaking, "by_split_pair": dict(sorted(pairs.items())),
            "examples": leaking[:top]}
