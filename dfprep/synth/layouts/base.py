"""What every synthetic layout shares: a pool of rendered people (the DFDC planner's REALs and their fakes),
placed under a dataset's own names, rendered in parallel, and a `synth.json` truth file tests check ingest by.

A layout module turns `pool(cfg)` (REAL and FAKE VideoSpecs, each FAKE naming its REAL) into `Placed` files
(a path inside OUT and what the dataset's rules say of it) plus the dataset's own side files (split lists,
labels CSVs, metadata JSON), and returns a `LayoutCorpus`.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from dfprep.atomic import write_bytes, write_json
from dfprep.synth.config import SynthConfig
from dfprep.synth.render import VideoSpec


@dataclass(frozen=True)
class Truth:
    """What the layout's rules say of one file: what an adapter must read back (synth.json `videos`)."""
    dataset: str
    label: str                          # REAL / FAKE (the picture's)
    original: str | None = None         # a FAKE's source video, by its path inside OUT (an FF++ path for DF)
    method: str | None = None
    compression: str | None = None
    split: str | None = None
    identity: str | None = None
    source_identity: str | None = None
    audio_label: str | None = None


@dataclass(frozen=True)
class Placed:
    """One file to write: its path inside OUT, the video to render, and its truth. `image`: write frame 0 as an
    image (by the path's extension) instead of an mp4."""
    rel: str
    spec: VideoSpec
    truth: Truth
    image: bool = False


@dataclass
class LayoutCorpus:
    """What a layout writer returns; `as_json()` is OUT/synth.json."""
    layout: str
    root: str
    config: dict
    videos: dict = field(default_factory=dict)     # rel -> Truth as a dict
    files: list = field(default_factory=list)      # the side files written (rel paths)

    def as_json(self) -> dict:
        return asdict(self)


def pool(cfg: SynthConfig, part: int = 0) -> tuple[list[VideoSpec], list[VideoSpec]]:
    """(REALs, FAKEs) of the DFDC planner for one part: each FAKE's `original` is a REAL's name."""
    from dfprep.synth.corpus import plan_part

    specs = plan_part(cfg, part)
    return [s for s in specs if s.label == "REAL"], [s for s in specs if s.label == "FAKE"]


def _render(job: tuple[VideoSpec, Path, bool, float]) -> None:
    spec, path, image, duration = job
    path.parent.mkdir(parents=True, exist_ok=True)
    if image:
        from PIL import Image

        from dfprep.synth.render import iter_frames

        frame = next(iter(iter_frames(spec)))
        Image.fromarray(frame).save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg") else \
            Image.fromarray(frame).save(path)
        return
    from dfprep.synth.corpus import render_video

    render_video(spec, path, duration)


def write_layout(out: Path, name: str, cfg: SynthConfig, placed: list[Placed],
                 side_files: dict[str, bytes]) -> LayoutCorpus:
    """Render every placed file under OUT (spawned worker processes, as `dfprep.synth.corpus`), write the side
    files (after the videos), then synth.json. The same seed gives the same bytes."""
    out = Path(out)
    jobs = [(p.spec, out / p.rel, p.image, cfg.duration) for p in placed]
    workers = max(1, min(cfg.workers or os.cpu_count() or 1, len(jobs) or 1))
    if workers == 1:
        for j in jobs:
            _render(j)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
            for f in [ex.submit(_render, j) for j in jobs]:
                f.result()
    for rel, data in sorted(side_files.items()):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(out / rel, data)
    corpus = LayoutCorpus(name, str(out.resolve()), asdict(cfg), {p.rel: asdict(p.truth) for p in placed},
                          sorted(side_files))
    write_json(out / "synth.json", corpus.as_json())
    return corpus
