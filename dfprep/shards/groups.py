"""Identity groups: families that show one person, found from the face store's track embeddings.

A family split keeps a REAL and its fakes together, but DFDC filmed ~960 paid actors over ~19k REAL videos:
the same person still appears in train and validation through their other videos. Two families belong to one
identity group when any track of one is within the distance threshold of any track of the other, directly or
through a chain of such tracks (connected components: what a union-find over the linked pairs gives). Only
REAL tracks link (`linking_tracks`): a fake's face is a blend of two actors, and linking through fakes chains
actors that were swapped into each other into a few giant groups (seen on the synthetic corpus, where every
fake joins both photographed people). A fake still goes wherever its family goes.

Plain core: numpy in, dicts out. The neighbour search is scikit-learn's brute-force radius search (its
float32 pairwise-distance reduction, run in chunks of queries) and the components are scipy's, over edges
that are compacted to one per track whenever they exceed a few per track: memory stays linear in the number
of tracks, whatever the size of the clusters. Measured on the 2-core dev machine (shared with other work),
100,000 synthetic 128-d tracks (1,000 identities x 100 tracks, within-identity distances ~0.4, others ~1.4;
5,000 families): 100.5 s for `identity_groups` (10,000 tracks: 3.0 s). The search compares every track with
every other, so time grows with the square of the tracks and falls with the cores (BLAS and OpenMP threads).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np

from dfprep.faces.identity import DEFAULT_IDENTITY_THRESHOLD

LINKING_LABELS = ("REAL",)  # whose tracks link families into identity groups (see the module doc)
QUERY_CHUNK = 2048          # tracks searched per radius query: bounds the neighbour lists held at once


def linking_tracks(keys: list[tuple[int, str]], vectors: np.ndarray,
                   label_of: dict[tuple[int, str], str | None]) -> tuple[list[tuple[int, str]], np.ndarray]:
    """The tracks whose videos' label is in LINKING_LABELS, as (keys, vectors)."""
    keep = [i for i, k in enumerate(keys) if label_of.get(k) in LINKING_LABELS]
    return [keys[i] for i in keep], np.asarray(vectors, np.float32).reshape(-1, 128)[keep]


def neighbour_pairs(vectors: np.ndarray, threshold: float = DEFAULT_IDENTITY_THRESHOLD,
                    chunk: int = QUERY_CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks of (i, j) with i < j: every pair of rows within `threshold` (Euclidean) of each other."""
    x = np.ascontiguousarray(vectors, np.float32)
    if len(x) < 2:
        return
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(radius=float(threshold), algorithm="brute").fit(x)
    for s in range(0, len(x), chunk):
        found = nn.radius_neighbors(x[s:s + chunk], return_distance=False)
        counts = np.fromiter((len(a) for a in found), np.int64, len(found))
        if not counts.sum():
            continue
        i = np.repeat(np.arange(s, s + len(found), dtype=np.int64), counts)
        j = np.concatenate(found).astype(np.int64)
        keep = i < j
        yield i[keep], j[keep]


def components(n: int, edges: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Connected component of each of `n` nodes over the edge chunks; a component is numbered by its first
    node in index order (so labels are deterministic). Edges are compacted to a star per component whenever
    more than 4n are held."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    def label(ii: list, jj: list) -> np.ndarray:
        i = np.concatenate(ii) if ii else np.zeros(0, np.int64)
        j = np.concatenate(jj) if jj else np.zeros(0, np.int64)
        g = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n)).tocsr()
        _, lab = connected_components(g, directed=False)
        first = np.full(lab.max() + 1 if n else 0, n, np.int64)
        np.minimum.at(first, lab, np.arange(n))
        return first[lab]

    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    held = 0
    for i, j in edges:
        ii.append(i)
        jj.append(j)
        held += len(i)
        if held > 4 * n:        # the components so far, as one edge per node to its component's first node
            root = label(ii, jj)
            ii, jj, held = [np.arange(n, dtype=np.int64)], [root], n
    return label(ii, jj) if n else np.zeros(0, np.int64)


def track_clusters(vectors: np.ndarray, threshold: float = DEFAULT_IDENTITY_THRESHOLD) -> np.ndarray:
    """Identity cluster of each track: connected components of the tracks within `threshold` of each other,
    numbered by their first track."""
    return components(len(vectors), neighbour_pairs(vectors, threshold))


def identity_groups(video_family: dict[tuple[int, str], str],
                    embeddings: tuple[list[tuple[int, str]] | np.ndarray, np.ndarray],
                    threshold: float = DEFAULT_IDENTITY_THRESHOLD) -> dict[str, str]:
    """{family id: identity group id} for every family of `video_family` ((part, video) -> family id).

    `embeddings` is (keys, vectors): the (part, video) of each track and its float32 [n, 128] embedding.
    Families linked by any pair of tracks within `threshold` (see the module doc) share a group; the group's
    id is the smallest family id in it (deterministic). A family with no embedding (no face, an ingest with
    --no-identity) is its own group; tracks of videos not in `video_family` are ignored.
    """
    families = sorted(set(video_family.values()))
    fam_index = {f: i for i, f in enumerate(families)}
    keys, vectors = embeddings
    keys = [(int(p), str(v)) for p, v in keys]
    own = np.array([fam_index.get(video_family.get(k), -1) if k in video_family else -1 for k in keys], np.int64)
    sel = np.flatnonzero(own >= 0)
    vectors = np.asarray(vectors, np.float32).reshape(-1, 128)[sel]
    fam_of_track = own[sel]
    nf, nt = len(families), len(sel)

    def edges() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # nodes: families 0..nf-1, then tracks nf..nf+nt-1; a track is tied to its family
        yield fam_of_track, nf + np.arange(nt, dtype=np.int64)
        for i, j in neighbour_pairs(vectors, threshold):
            yield nf + i, nf + j

    comp = components(nf + nt, edges())[:nf]      # families come first: their component's first node is one
    return {f: families[int(comp[k])] for f, k in fam_index.items()}
