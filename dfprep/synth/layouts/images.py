"""`dfprep synth --layout images`: a seed-style image dataset. Frame 0 of each pool video as an image
(REALs .png, FAKEs .jpg) in class folders of mixed case (`Real/`, `FAKE/`) under `train/`, `valid/` and
`test/`; a family (a REAL and its fakes) stays in one split. The dataset is OUT's folder name."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dfprep.synth.config import SynthConfig
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout

FOLDERS = (("train", "train"), ("valid", "val"), ("test", "test"))


@layout_writer("images")
def write(out: Path, cfg: SynthConfig) -> LayoutCorpus:
    from dfprep.datasets.images import dataset_name

    dataset = dataset_name(Path(out).resolve().name)
    reals, fakes = pool(cfg)
    where = {r.name: FOLDERS[i % 3] for i, r in enumerate(reals)}
    placed = []
    for spec in reals + fakes:
        folder, split = where[spec.original or spec.name]
        stem = spec.name.rsplit(".", 1)[0]
        cls, ext = ("Real", "png") if spec.label == "REAL" else ("FAKE", "jpg")
        rel = f"{folder}/{cls}/{stem}.{ext}"
        placed.append(Placed(rel, dataclasses.replace(spec, name=f"{stem}.{ext}"),
                             Truth(dataset, spec.label, split=split), image=True))
    return write_layout(out, "images", cfg, placed, {})
