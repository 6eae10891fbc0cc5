"""`dfprep synth --layout ffpp`: a small FaceForensics++ download tree (c23), with a DeepFakeDetection part.

The pool's REALs become FF++ youtube sequences taken from official pairs of the shipped split, one pair per
split first (so train, val and test all appear), two reals to a pair when the pool has enough; each FAKE of a
REAL `a` is `a_b` with (a, b) its official pair, under a method (every method used, FaceShifter included, and
one fake of a REAL per method). Masks (a copy of the fake: any mp4 is one) are written for some methods, never
FaceShifter. DFD gets two actors of a second pool and their fakes. synth.json's truth is what FF++'s rules say.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dfprep.atomic import write_bytes, write_json
from dfprep.dataset import SPLITS
from dfprep.datasets.ffpp import DFD_METHOD, DFD_PREFIX, MANIPULATED, mask_path, original_path
from dfprep.datasets.ffpp_data import load_tables
from dfprep.synth.config import SynthConfig
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout

LEVEL = "c23"
METHOD_ORDER = ("Deepfakes", "FaceShifter", "Face2Face", "NeuralTextures", "FaceSwap")  # FaceShifter early
MASKED = ("Deepfakes", "Face2Face", "NeuralTextures")      # FaceSwap left without, to test "when it exists"
DFD_SCENES = ("exit_phone_room", "kitchen_pan", "walking_down_street_outside_angry", "podium_speech_happy")


def _sequences(n: int, seed: int) -> list[tuple[str, str]]:
    """(sequence, its pair partner) for n reals: pairs taken from the shipped split, one per split in turn
    first, then a pair's second sequence for the reals left."""
    tab = load_tables(None)
    n_pairs = max((n + 1) // 2, min(n, len(SPLITS)))
    pairs = []
    for k in range(n_pairs):
        of_split = tab.pairs[SPLITS[k % len(SPLITS)]]
        pairs.append(of_split[(seed + k // len(SPLITS)) % len(of_split)])
    slots = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]
    return slots[:n]


def _ffpp(reals, fakes, seed: int) -> tuple[list[Placed], list[tuple[str, str]]]:
    """The FF++ files, and (fake, mask) paths: each mask is written as a copy of its fake."""
    tab = load_tables(None)
    seqs = dict(zip((r.name for r in reals), _sequences(len(reals), seed)))
    placed, masks = [], []
    for r in reals:
        seq, _ = seqs[r.name]
        placed.append(Placed(original_path("ffpp", LEVEL, seq), replace(r, name=f"{seq}.mp4"),
                             Truth("ffpp", "REAL", compression=LEVEL, split=tab.split_of[seq],
                                   identity=tab.identity(seq))))
    used: dict[str, set[str]] = {}
    for i, f in enumerate(fakes):
        target, source = seqs[f.original]
        taken = used.setdefault(target, set())
        method = next((m for k in range(len(METHOD_ORDER))
                       if (m := METHOD_ORDER[(i + k) % len(METHOD_ORDER)]) not in taken), None)
        if method is None:          # a REAL with more fakes than FF++ has methods: the rest are not written
            continue
        taken.add(method)
        name = f"{target}_{source}.mp4"
        placed.append(Placed(f"{MANIPULATED}/{method}/{LEVEL}/videos/{name}", replace(f, name=name),
                             Truth("ffpp", "FAKE", original=original_path("ffpp", LEVEL, target), method=method,
                                   compression=LEVEL, split=tab.pair_split(target, source),
                                   identity=tab.identity(target), source_identity=tab.identity(source))))
        if method in MASKED:
            masks.append((placed[-1].rel, mask_path(method, name)))
    return placed, masks


def _dfd(cfg: SynthConfig) -> tuple[list[Placed], list[tuple[str, str]]]:
    """Two actors (a second pool's REALs, those with fakes first) and up to two of their fakes."""
    reals, fakes = pool(cfg, part=1)
    with_fakes = {f.original for f in fakes}
    reals = sorted(reals, key=lambda r: r.name not in with_fakes)[:2]
    if not reals:
        return [], []
    actor = {r.name: (f"{i + 1:02d}", DFD_SCENES[i % len(DFD_SCENES)]) for i, r in enumerate(reals)}
    placed, masks = [], []
    for r in reals:
        a, scene = actor[r.name]
        placed.append(Placed(original_path("dfd", LEVEL, f"{a}__{scene}"), replace(r, name=f"{a}__{scene}.mp4"),
                             Truth("dfd", "REAL", compression=LEVEL, identity=DFD_PREFIX + a)))
    for i, f in enumerate([f for f in fakes if f.original in actor][:2]):
        t, scene = actor[f.original]
        s = next((a for a, _ in actor.values() if a != t), "99")
        name = f"{t}_{s}__{scene}__{'ABCD1234' if i == 0 else 'WXYZ5678'}.mp4"
        placed.append(Placed(f"{MANIPULATED}/{DFD_METHOD}/{LEVEL}/videos/{name}", replace(f, name=name),
                             Truth("dfd", "FAKE", original=original_path("dfd", LEVEL, f"{t}__{scene}"),
                                   method=DFD_METHOD, compression=LEVEL, identity=DFD_PREFIX + t,
                                   source_identity=DFD_PREFIX + s)))
        if i == 0:
            masks.append((placed[-1].rel, mask_path(DFD_METHOD, name)))
    return placed, masks


@layout_writer("ffpp")
def write(out, cfg: SynthConfig) -> LayoutCorpus:
    """OUT/original_sequences/{youtube,actors}/c23/videos/, OUT/manipulated_sequences/<method>/{c23,masks}/
    videos/, and synth.json (`files` lists the masks)."""
    out = Path(out)
    reals, fakes = pool(cfg)
    placed, masks = _ffpp(reals, fakes, cfg.seed)
    dfd_placed, dfd_masks = _dfd(cfg)
    corpus = write_layout(out, "ffpp", cfg, placed + dfd_placed, {})
    for fake, mask in masks + dfd_masks:
        (out / mask).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(out / mask, (out / fake).read_bytes())
    corpus.files = sorted(corpus.files + [m for _, m in masks + dfd_masks])
    write_json(out / "synth.json", corpus.as_json())
    return corpus
