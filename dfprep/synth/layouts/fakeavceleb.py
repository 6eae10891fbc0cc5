"""`dfprep synth --layout fakeavceleb`: FakeAVCeleb v1.2's four trees and meta_data.csv in its released shape
(header `...,gender,path,` over rows whose `path` cell is the file name and the unnamed last cell its folder,
prefixed `FakeAVCeleb/`). Each REAL is RealVideo-RealAudio `<id>/NNNNN.mp4`, and again as a RealVideo-FakeAudio
(cloned voice, method rtvc; the same picture, so its original is the RealVideo-RealAudio file); its FAKEs alternate FakeVideo-RealAudio and FakeVideo-FakeAudio, named
`NNNNN_<target2>_<target1>_<method>.mp4` after the real they were made from."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dfprep.synth.config import SynthConfig
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout

DATASET = "fakeavceleb"
HEADER = "source,target1,target2,method,category,type,race,gender,path,\n"
CATEGORY = {"RealVideo-RealAudio": "A", "RealVideo-FakeAudio": "B", "FakeVideo-RealAudio": "C",
            "FakeVideo-FakeAudio": "D"}
GROUPS = (("African", "men"), ("Asian (East)", "women"))


@layout_writer("fakeavceleb")
def write(out: Path, cfg: SynthConfig) -> LayoutCorpus:
    reals, fakes = pool(cfg)
    ids = {r.name: f"id{10000 + 7 * i:05d}" for i, r in enumerate(reals)}
    group = {r.name: GROUPS[i % 2] for i, r in enumerate(reals)}
    stem = {r.name: f"{100 + i:05d}" for i, r in enumerate(reals)}
    placed, lines = [], [HEADER]

    def place(tree, spec, src, fname, truth, method, t1="-", t2="-"):
        race, gender = group[src]
        folder = f"{tree}/{race}/{gender}/{ids[src]}"
        placed.append(Placed(f"{folder}/{fname}", dataclasses.replace(spec, name=fname), truth))
        lines.append(f"{ids[src]},{t1},{t2},{method},{CATEGORY[tree]},{tree},{race},{gender},{fname},"
                     f"FakeAVCeleb/{folder}\n")

    for r in reals:
        i = ids[r.name]
        place("RealVideo-RealAudio", r, r.name, f"{stem[r.name]}.mp4",
              Truth(DATASET, "REAL", identity=f"{DATASET}:{i}", audio_label="REAL"), "real")
        race, gender = group[r.name]
        same_picture = f"RealVideo-RealAudio/{race}/{gender}/{i}/{stem[r.name]}.mp4"
        place("RealVideo-FakeAudio", r, r.name, f"{stem[r.name]}_{i}_rtvc.mp4",
              Truth(DATASET, "REAL", original=same_picture, identity=f"{DATASET}:{i}", audio_label="FAKE",
                    method="rtvc"), "rtvc", i)
    for j, f in enumerate(fakes):
        src = f.original
        t1 = f"id{20000 + 3 * (f.swaps[0].donor if f.swaps else j):05d}"
        tree, method = (("FakeVideo-RealAudio", ("faceswap", "fsgan")[j // 2 % 2]) if j % 2 == 0 else
                        ("FakeVideo-FakeAudio", ("faceswap-wav2lip", "fsgan-wav2lip")[j // 2 % 2]))
        race, gender = group[src]
        original = f"RealVideo-RealAudio/{race}/{gender}/{ids[src]}/{stem[src]}.mp4"
        place(tree, f, src, f"{stem[src]}_{j}_{t1}_{method}.mp4",
              Truth(DATASET, "FAKE", original=original, method=method, identity=f"{DATASET}:{ids[src]}",
                    source_identity=f"{DATASET}:{t1}", audio_label="FAKE" if "FakeAudio" in tree else "REAL"),
              method, t1, str(j))
    return write_layout(out, "fakeavceleb", cfg, placed, {"meta_data.csv": "".join(lines).encode()})
