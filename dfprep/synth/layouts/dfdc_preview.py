"""`dfprep synth --layout dfdc-preview`: the DFDC preview's shape. REALs under
`original_videos/<target>/<target>_A/<target>_A_NNN.mp4`, FAKEs under `method_A|method_B/<target>/<target>_A/
<swapped>_<target>_A_NNN.mp4`, and `dataset.json` keyed by those paths (label real/fake, set train/test,
target_id, swapped_id). A family (a REAL and its fakes) shares its `set`; the preview names no original."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from dfprep.synth.config import SynthConfig
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout

DATASET = "dfdc-preview"


@layout_writer("dfdc-preview")
def write(out: Path, cfg: SynthConfig) -> LayoutCorpus:
    reals, fakes = pool(cfg)
    target = {r.name: str(1_000_000 + 37 * i) for i, r in enumerate(reals)}
    sets = {r.name: ("train", "test")[i % 2] for i, r in enumerate(reals)}
    placed, meta = [], {}
    for i, r in enumerate(reals):
        t = target[r.name]
        rel = f"original_videos/{t}/{t}_A/{t}_A_{i:03d}.mp4"
        placed.append(Placed(rel, dataclasses.replace(r, name=rel.rsplit("/", 1)[-1]),
                             Truth(DATASET, "REAL", split=sets[r.name], identity=f"{DATASET}:{t}")))
        meta[rel] = {"label": "real", "set": sets[r.name], "target_id": t, "swapped_id": t}
    for j, f in enumerate(fakes):
        t, method = target[f.original], ("method_A", "method_B")[j % 2]
        s = str(2_000_000 + 41 * (f.swaps[0].donor if f.swaps else j))
        rel = f"{method}/{t}/{t}_A/{s}_{t}_A_{j:03d}.mp4"
        placed.append(Placed(rel, dataclasses.replace(f, name=rel.rsplit("/", 1)[-1]),
                             Truth(DATASET, "FAKE", method=method, split=sets[f.original],
                                   identity=f"{DATASET}:{t}", source_identity=f"{DATASET}:{s}")))
        meta[rel] = {"label": "fake", "set": sets[f.original], "target_id": t, "swapped_id": s}
    side = {"dataset.json": json.dumps(meta, indent=1).encode()}
    return write_layout(out, "dfdc-preview", cfg, placed, side)
