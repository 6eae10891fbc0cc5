"""`dfprep synth --layout deeperforensics`: OUT/deeperforensics (the DeeperForensics-1.0 tree) and OUT/ffpp (the
FF++ c23 originals its fakes were made from, named exactly as FF++'s layout names them), since
DeeperForensics ships no reals. Ingest them together: `dfprep ingest OUT/ffpp OUT/deeperforensics --out WORK`.

Each pool real becomes FF++ sequence NNN (000, 001, ...: `original_sequences/youtube/c23/videos/NNN.mp4`);
fake k becomes `manipulated_videos/<variant>/NNN_<actor>.mp4` in one of three variants (the first fake in two,
as the dataset has every name in every variant), actor M000, W001, ... Splits: fake k's name in
lists/splits/{train,val,test}.txt (k mod 3), as bare file names except one `variant/name` line.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dfprep.dataset import SPLITS
from dfprep.datasets.deeperforensics import ACTOR_PREFIX, DATASET, FAKES, SPLIT_DIR, ffpp_original
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout

DF_DIR, FFPP_DIR = "deeperforensics", "ffpp"
VARIANTS = ("end_to_end", "end_to_end_level_1", "reenact_postprocess")


@layout_writer("deeperforensics")
def write(out: Path, cfg) -> LayoutCorpus:
    from dfprep.datasets.ffpp_data import load_tables

    tables = load_tables()
    reals, fakes = pool(cfg)
    placed: list[Placed] = []
    seq_of: dict[str, str] = {}
    for i, r in enumerate(reals):
        seq = f"{i:03d}"
        seq_of[r.name] = seq
        placed.append(Placed(f"{FFPP_DIR}/{ffpp_original(seq)}", dataclasses.replace(r, name=f"{seq}.mp4"),
                             Truth("ffpp", "REAL", compression="c23", split=tables.split_of.get(seq),
                                   identity=tables.identity(seq))))
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    for k, f in enumerate(fakes):
        seq, actor = seq_of[f.original], f"{'MW'[k % 2]}{k:03d}"
        name, split = f"{seq}_{actor}.mp4", SPLITS[k % 3]
        where = [VARIANTS[k % len(VARIANTS)]] + ([VARIANTS[1]] if k == 0 else [])
        for variant in where:
            placed.append(Placed(f"{DF_DIR}/{FAKES}/{variant}/{name}", dataclasses.replace(f, name=name),
                                 Truth(DATASET, "FAKE", ffpp_original(seq), variant, split=split,
                                       identity=tables.identity(seq), source_identity=ACTOR_PREFIX + actor)))
        last = k == len(fakes) - 1 and k > 0
        lists[split].append(f"{where[0]}/{name}" if last else name)
    side = {f"{DF_DIR}/{SPLIT_DIR}/{s}.txt": "".join(n + "\n" for n in names).encode() for s, names in lists.items()}
    return write_layout(out, "deeperforensics", cfg, placed, side)
