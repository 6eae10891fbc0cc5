"""`dfprep synth --layout manifest`: videos under `videos/` and a `manifest.csv` listing them (path, label in
mixed forms: REAL, fake, 1; original; split by family; method; identity; dataset `synth-manifest`)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from dfprep.synth.config import SynthConfig
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout

DATASET = "synth-manifest"
SPLITS = (("train", "train"), ("valid", "val"), ("test", "test"))


@layout_writer("manifest")
def write(out: Path, cfg: SynthConfig) -> LayoutCorpus:
    reals, fakes = pool(cfg)
    split = {r.name: SPLITS[i % 3] for i, r in enumerate(reals)}
    ident = {r.name: f"person{i}" for i, r in enumerate(reals)}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "label", "original", "split", "method", "identity", "dataset"])
    placed = []
    for j, spec in enumerate(reals + fakes):
        fam = spec.original or spec.name
        rel = f"videos/{spec.label.lower()}/{spec.name}"
        original = f"videos/real/{spec.original}" if spec.original else None
        method = "swap" if spec.label == "FAKE" else None
        label = spec.label if spec.label == "REAL" else ("fake", "1")[j % 2]
        w.writerow([rel, label, original or "", split[fam][0], method or "", ident[fam], DATASET])
        placed.append(Placed(rel, spec, Truth(DATASET, spec.label, original=original, method=method,
                                              split=split[fam][1], identity=ident[fam])))
    return write_layout(out, "manifest", cfg, placed, {"manifest.csv": buf.getvalue().encode()})
