"""Plan and write a DFDC-layout synthetic corpus: OUT/dfdc_train_part_N/{metadata.json, *.mp4} + OUT/synth.json.

Planning (names, labels, per-video parameters) is a pure function of (config, part), so rendering can be
spread over worker processes without losing determinism.
"""
from __future__ import annotations

import json
import os
import string
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from dfprep.atomic import write_bytes, write_json
from dfprep.synth.config import SynthConfig
from dfprep.synth.encode import AUDIO_RATE, sine, write_mp4
from dfprep.synth.identities import identities
from dfprep.synth.render import Person, Swap, VideoSpec, iter_frames

BACKGROUNDS = ("gradient", "coffee", "rocket")


def part_dir_name(part: int) -> str:
    return f"dfdc_train_part_{part}"


def _names(rng: np.random.Generator, n: int) -> list[str]:
    """DFDC-like names: 10 random lowercase letters + .mp4, unique."""
    letters = np.array(list(string.ascii_lowercase))
    out: list[str] = []
    while len(out) < n:
        name = "".join(rng.choice(letters, 10)) + ".mp4"
        if name not in out:
            out.append(name)
    return out


def _n_real(cfg: SynthConfig) -> int:
    """Reals from the ratio; at least one, and one ordinary single-face real beside the special ones."""
    a, b = (float(v) for v in cfg.ratio.split(":"))
    n = int(round(cfg.videos * a / (a + b))) if a + b > 0 else 1
    specials = cfg.n_multi() + cfg.n_no_face()
    return min(cfg.videos, max(n, 1, specials + 1 if cfg.videos > specials else specials))


def _person(rng: np.random.Generator, ident: int, cx: float, multi: bool) -> Person:
    return Person(
        identity=ident,
        cx=cx + (rng.uniform(-0.02, 0.02) if multi else rng.uniform(-0.08, 0.08)),
        cy=float(rng.uniform(0.47, 0.55)),
        ax=float(rng.uniform(0.02, 0.04) if multi else rng.uniform(0.05, 0.12)),
        ay=float(rng.uniform(0.01, 0.04)),
        face_h=float(rng.uniform(0.3, 0.33) if multi else rng.uniform(0.34, 0.42)),
        freq=float(rng.uniform(0.25, 0.6)),
        phase=float(rng.uniform(0, 2 * np.pi)),
    )


def _swap(rng: np.random.Generator, person: int, ident: int) -> Swap:
    """A donor from the other photograph, so the swapped face clearly differs."""
    cast = identities()
    donors = [j for j, c in enumerate(cast) if c.source != cast[ident].source]
    tint = tuple(float(v) for v in rng.uniform(0.82, 1.2, 3))
    return Swap(person=person, donor=int(rng.choice(donors)), tint=tint,  # type: ignore[arg-type]
                jitter_px=float(rng.uniform(2.0, 4.0)), scale_jitter=float(rng.uniform(0.02, 0.05)),
                seed=int(rng.integers(2**31)))


def plan_part(cfg: SynthConfig, part: int) -> list[VideoSpec]:
    """All videos of one part, REALs first; pure function of (cfg, part)."""
    rng = np.random.default_rng([cfg.seed, part])
    n_real = _n_real(cfg)
    n_fake = cfg.videos - n_real
    names = _names(rng, cfg.videos)
    n_multi, n_none = cfg.n_multi(), cfg.n_no_face()
    n_multi = min(n_multi, n_real)
    n_none = min(n_none, n_real - n_multi)
    kinds = ["single_face"] * (n_real - n_multi - n_none) + ["multi_face"] * n_multi + ["no_face"] * n_none
    w, h = cfg.wh()
    n_frames = max(1, int(round(cfg.duration * cfg.fps)))
    n_cast = len(identities())

    # Portrait is per family (a fake keeps its original's geometry), so a portrait original gets few fakes,
    # enough to bring the portrait count near the asked fraction; at least one family when portrait > 0
    # and another face-bearing family stays landscape.
    faced = [i for i, k in enumerate(kinds) if k != "no_face"] or list(range(n_real))
    faceless = [i for i, k in enumerate(kinds) if k == "no_face"]
    target = cfg.portrait * cfg.videos
    cap: dict[int, int] = {}
    count = 0
    if len(faced) == 1:  # one family: the whole part is portrait or none of it is
        cap = {faced[0]: n_fake} if cfg.portrait >= 0.5 else {}
    elif cfg.portrait > 0:
        n_single = kinds.count("single_face")
        # Keep the only single-face original landscape and fake-rich when there is just one.
        order = sorted(rng.permutation(faced).tolist(), key=lambda i: kinds[i] == "single_face" and n_single == 1)
        for i in order:
            if cap and count + 1 > target:
                break
            cap[i] = max(0, int(round(target - count)) - 1)
            count += 1 + cap[i]
    portrait = set(cap)
    # Fakes per original: a faceless original gets one fake at most; the rest go round the face-bearing reals.
    originals: list[int] = []
    if faceless and n_fake > len(faced):
        originals.append(faceless[0])
    k = 0
    while len(originals) < n_fake:
        open_ = [i for i in faced if originals.count(i) < cap.get(i, n_fake)] or faced
        originals.append(open_[k % len(open_)])
        k += 1
    no_audio = set(rng.permutation(cfg.videos)[: int(round(cfg.no_audio * cfg.videos))].tolist())

    reals: list[VideoSpec] = []
    for i, kind in enumerate(kinds):
        ids = rng.permutation(n_cast)
        if kind == "single_face":
            people: tuple[Person, ...] = (_person(rng, int(ids[0]), 0.5, False),)
        elif kind == "multi_face":
            a = int(ids[0])
            b = next(int(j) for j in ids if identities()[j].source != identities()[a].source)
            people = (_person(rng, a, 0.27, True), _person(rng, b, 0.73, True))
        else:
            people = ()
        vw, vh = (min(w, h), max(w, h)) if i in portrait else (w, h)
        reals.append(VideoSpec(
            name=names[i], label="REAL", width=vw, height=vh, fps=cfg.fps, n_frames=n_frames,
            background=BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], bg_seed=int(rng.integers(2**31)),
            people=people, audio_hz=None if i in no_audio else float(rng.uniform(220, 880))))
    fakes: list[VideoSpec] = []
    for j, oi in enumerate(originals):
        orig = reals[oi]
        if len(orig.people) > 1:
            which = [0, 1] if rng.random() < 0.5 else [int(rng.integers(2))]
        else:
            which = list(range(len(orig.people)))
        swaps = tuple(_swap(rng, p, orig.people[p].identity) for p in which)
        vi = n_real + j
        fakes.append(replace(orig, name=names[vi], label="FAKE", swaps=swaps, original=orig.name,
                             audio_hz=None if vi in no_audio else float(rng.uniform(220, 880))))
    return reals + fakes


def metadata(specs: list[VideoSpec]) -> dict:
    """DFDC metadata.json content: REALs carry no `original` key at all."""
    out: dict = {}
    for s in specs:
        entry = {"label": s.label, "split": "train"}
        if s.label == "FAKE":
            entry["original"] = s.original
        out[s.name] = entry
    return out


def metadata_bytes(meta: dict) -> bytes:
    """One line like DFDC's file, keys sorted so a seed gives identical bytes."""
    return json.dumps(meta, sort_keys=True).encode()


def render_video(spec: VideoSpec, path: Path, duration: float | None = None) -> Path:
    """Render and encode one video (runs in a worker process)."""
    seconds = duration if duration is not None else spec.n_frames / spec.fps
    audio = sine(spec.audio_hz, seconds, AUDIO_RATE) if spec.audio_hz is not None else None
    return write_mp4(path, iter_frames(spec), spec.width, spec.height, spec.fps, audio, AUDIO_RATE)


@dataclass(frozen=True)
class SynthPart:
    """One part as written: counts by label, the names of each special kind, and every video's record (as
    synth.json holds it: label, original, kind, size, fps, frames, audio, faces, who was swapped, identities)."""
    counts: dict            # {"REAL": n, "FAKE": n}
    multi_face: list
    no_face: list
    portrait: list
    no_audio: list
    videos: dict


@dataclass(frozen=True)
class SynthSummary:
    """What `make_corpus` returns and `dfprep synth` prints; `as_json()` is synth.json (the same document as
    before it was typed)."""
    config: dict            # the SynthConfig, as a dict
    root: str
    parts: dict             # {part folder name: SynthPart}

    def as_json(self) -> dict:
        return asdict(self)


def _summary_part(specs: list[VideoSpec]) -> SynthPart:
    return SynthPart(
        counts={"REAL": sum(s.label == "REAL" for s in specs), "FAKE": sum(s.label == "FAKE" for s in specs)},
        multi_face=sorted(s.name for s in specs if s.kind == "multi_face"),
        no_face=sorted(s.name for s in specs if s.kind == "no_face"),
        portrait=sorted(s.name for s in specs if s.height > s.width),
        no_audio=sorted(s.name for s in specs if s.audio_hz is None),
        videos={s.name: {"label": s.label, "original": s.original, "kind": s.kind, "width": s.width,
                         "height": s.height, "fps": s.fps, "frames": s.n_frames, "audio": s.audio_hz is not None,
                         "faces": len(s.people), "swapped": [sw.person for sw in s.swaps],
                         "identities": _shown(s)} for s in specs},
    )


def _shown(spec: VideoSpec) -> list[dict]:
    """Per person: the cast identity whose face the video shows (a swapped person shows the donor's) and the
    photograph it was cut from: variants of one photograph are one person to a face recogniser."""
    cast = identities()
    shown = [p.identity for p in spec.people]
    for sw in spec.swaps:
        shown[sw.person] = sw.donor
    return [{"identity": cast[i].name, "photograph": cast[i].source} for i in shown]


def make_corpus(out, cfg: SynthConfig) -> SynthSummary:
    """Write the corpus under `out` (a folder or an object-store URI); return (and write to out/synth.json) a
    summary plus the config. A remote corpus is rendered in a local staging folder, each part's metadata.json
    uploaded after its videos (the same bytes as a local corpus of the same seed)."""
    from dfprep.storage import as_path, is_remote

    cfg.validate()
    if is_remote(as_path(out)):
        from dfprep.storage.staging import staged_output

        with staged_output(as_path(out), last=("metadata.json", "synth.json")) as st:
            return _make_corpus(st.local, cfg, shown=str(out))
    return _make_corpus(Path(out), cfg)


def _make_corpus(out: Path, cfg: SynthConfig, shown: str | None = None) -> SynthSummary:
    plans = {part_dir_name(p): plan_part(cfg, p) for p in range(cfg.start_part, cfg.start_part + cfg.parts)}
    jobs = [(spec, out / d / spec.name) for d, specs in plans.items() for spec in specs]
    for d in plans:
        (out / d).mkdir(parents=True, exist_ok=True)
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(jobs) or 1))
    if workers == 1:
        for spec, path in jobs:
            render_video(spec, path, cfg.duration)
    else:
        # spawn: the caller may hold torch/OpenMP threads, which a fork would inherit in a broken state.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for f in [pool.submit(render_video, spec, path, cfg.duration) for spec, path in jobs]:
                f.result()
    for d, specs in plans.items():
        write_bytes(out / d / "metadata.json", metadata_bytes(metadata(specs)))
    summary = SynthSummary(config=asdict(cfg), root=shown or str(out.resolve()),
                           parts={d: _summary_part(specs) for d, specs in plans.items()})
    write_json(out / "synth.json", summary.as_json())
    return summary
