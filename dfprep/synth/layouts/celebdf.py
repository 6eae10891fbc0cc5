"""`dfprep synth --layout celebdf`: a Celeb-DF tree at OUT (Celeb-real/, YouTube-real/, Celeb-synthesis/ and
List_of_testing_videos.txt with the dataset's own convention, 1 = real).

The pool's reals become Celeb-real clips, two clips per celebrity (id{k}_0000, id{k}_0001) so identities are
shared; one real with no fakes (or a re-seeded copy of one) becomes YouTube-real/00000.mp4. Each fake becomes
Celeb-synthesis/id{A}_id{B}_{NNNN}.mp4 of its original id{A}_{NNNN}, with a donor id{B} other than id{A}. About
a third of the videos (a Celeb-real clip, the YouTube-real and some fakes) are listed for testing. The dataset
(celebdf-v1 / -v2) is what the adapter reads from OUT's folder name (`Celeb-DF` is v1, anything else v2).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from dfprep.datasets.celebdf import FAKE_DIR, IDENTITY_PREFIX, METHOD, REAL_DIR, TEST_LIST, YOUTUBE_DIR, \
    version_of
from dfprep.synth.layouts import layout_writer
from dfprep.synth.layouts.base import LayoutCorpus, Placed, Truth, pool, write_layout


@layout_writer("celebdf")
def write(out: Path, cfg) -> LayoutCorpus:
    dataset, _ = version_of(Path(out))
    reals, fakes = pool(cfg)
    with_fakes = {f.original for f in fakes}
    spare = [r for r in reals if r.name not in with_fakes]
    if spare and len(reals) > 1:
        youtube = spare[-1]
        reals = [r for r in reals if r is not youtube]
    else:                                        # every real has fakes: a re-seeded copy of one is the YouTube-real
        youtube = dataclasses.replace(reals[-1], bg_seed=reals[-1].bg_seed + 1)
    placed: list[Placed] = []
    rel_of: dict[str, tuple[str, str, str]] = {}          # real's pool name -> (rel, id, clip)
    for j, r in enumerate(reals):
        ident, clip = f"id{j // 2}", f"{j % 2:04d}"
        rel = f"{REAL_DIR}/{ident}_{clip}.mp4"
        rel_of[r.name] = (rel, ident, clip)
    n_ids = (len(reals) + 1) // 2
    donors_used: dict[str, int] = {}
    fake_rels: list[tuple[str, object, Truth]] = []
    for f in fakes:
        orig_rel, ident, clip = rel_of[f.original]
        k = donors_used.get(orig_rel, 0)
        donors_used[orig_rel] = k + 1
        others = [f"id{i}" for i in range(n_ids) if f"id{i}" != ident]
        donor = others[k] if k < len(others) else f"id{n_ids + k}"
        rel = f"{FAKE_DIR}/{ident}_{donor}_{clip}.mp4"
        fake_rels.append((rel, f, Truth(dataset, "FAKE", orig_rel, METHOD, identity=IDENTITY_PREFIX + ident,
                                        source_identity=IDENTITY_PREFIX + donor)))
    test: set[str] = {f"{YOUTUBE_DIR}/00000.mp4"}
    if reals:
        test.add(rel_of[reals[0].name][0])
    test.update(rel for i, (rel, _, _) in enumerate(fake_rels) if i % 3 == 0)

    def split(rel: str) -> str:
        return "test" if rel in test else "train"

    for r in reals:
        rel, ident, _ = rel_of[r.name]
        placed.append(Placed(rel, dataclasses.replace(r, name=rel.split("/")[-1]),
                             Truth(dataset, "REAL", split=split(rel), identity=IDENTITY_PREFIX + ident)))
    yrel = f"{YOUTUBE_DIR}/00000.mp4"
    placed.append(Placed(yrel, dataclasses.replace(youtube, name="00000.mp4"), Truth(dataset, "REAL", split="test")))
    for rel, f, truth in fake_rels:
        placed.append(Placed(rel, dataclasses.replace(f, name=rel.split("/")[-1]),
                             dataclasses.replace(truth, split=split(rel))))
    lines = [f"{'1' if p.truth.label == 'REAL' else '0'} {p.rel}" for p in placed if p.rel in test]
    return write_layout(out, "celebdf", cfg, placed, {TEST_LIST: ("\n".join(lines) + "\n").encode()})
