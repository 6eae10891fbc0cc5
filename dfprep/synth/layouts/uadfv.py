"""`dfprep synth --layout uadfv`: a UADFV tree at OUT: real/NNNN.mp4 and fake/NNNN_fake.mp4.

UADFV has one fake per real, so each real keeps at most one of the pool's fakes (its first); the rest are
not written. A real without a fake stays (so some reals stand alone, as a partial copy's would)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dfprep.datasets.uadfv import DATASET, METHOD
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout


@layout_writer("uadfv")
def write(out: Path, cfg) -> LayoutCorpus:
    reals, fakes = pool(cfg)
    placed: list[Placed] = []
    number: dict[str, str] = {}
    for i, r in enumerate(reals):
        number[r.name] = f"{i:04d}"
        placed.append(Placed(f"real/{i:04d}.mp4", dataclasses.replace(r, name=f"{i:04d}.mp4"),
                             Truth(DATASET, "REAL")))
    done: set[str] = set()
    for f in fakes:
        if f.original in done:
            continue
        done.add(f.original)
        n = number[f.original]
        placed.append(Placed(f"fake/{n}_fake.mp4", dataclasses.replace(f, name=f"{n}_fake.mp4"),
                             Truth(DATASET, "FAKE", f"real/{n}.mp4", METHOD)))
    return write_layout(out, "uadfv", cfg, placed, {})
