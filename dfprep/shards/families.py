"""Leak-free splits of whole families (families themselves are defined once, in `dfprep.dataset.family_ids`).

A family is a root video and every FAKE made from it: they share a face, a scene and a background, so a model
that saw the REAL in train would be tested on its own memory if a FAKE of it were in val. Whole families (or
whole identity groups, `dfprep.shards.groups`) go to one split, never two.
"""
from __future__ import annotations

import numpy as np

from dfprep.dataset import SPLITS


def split_by_parts(family_parts: dict[str, int], val: set[int], test: set[int]) -> dict[str, str]:
    """As the DFDC winners split: whole parts to val and test, the rest to train.

    Keys are families, or identity groups: a group spanning parts comes with the part holding most of its
    crops (`dfprep.shards.layout`), so its videos in other parts follow it.
    """
    return {f: "val" if p in val else "test" if p in test else "train" for f, p in family_parts.items()}


def split_by_fraction(family_sizes: dict[str, int], fractions: dict[str, float],
                      seed: int | list[int]) -> dict[str, str]:
    """Seeded shuffle of the families, then each to the split furthest below its share of crops so far.

    Shares are of crops, not of families: a REAL with 20 fakes weighs 21 videos. Deterministic for a seed.
    Keys may be identity groups instead of families (sizes summed over their families): the same rule.
    """
    names = sorted(family_sizes)
    order = np.random.default_rng(seed).permutation(len(names))
    assigned = {s: 0 for s in SPLITS}
    total = 0
    out: dict[str, str] = {}
    active = [s for s in SPLITS if fractions.get(s, 0) > 0]
    for i in order:
        fam = names[i]
        size = max(family_sizes[fam], 1)
        total += size
        # Deficit of each split after this family: the one that most needs crops gets it (ties: SPLITS order).
        best = max(active, key=lambda s: (fractions[s] * total - assigned[s], -SPLITS.index(s)))
        assigned[best] += size
        out[fam] = best
    return out
