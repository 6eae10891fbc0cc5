"""Adversarial additions to a synth part, for ingest tests: broken files, bad metadata keys, odd names.

`add_hostile_files` returns {metadata key or file name: expected ingest status} so a test can check
every case without re-deriving it: ok / error / missing / unlisted / rejected.
"""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dfprep.atomic import tmp_name, write_bytes
from dfprep.synth.corpus import metadata_bytes, render_video
from dfprep.synth.encode import AUDIO_RATE, sine
from dfprep.synth.render import Person, VideoSpec

EMPTY = "hostile_empty.mp4"
TRUNCATED = "hostile_truncated.mp4"
TEXT = "hostile_text.mp4"
AUDIO_ONLY = "hostile_audio_only.mp4"
MISSING = "hostile_missing.mp4"
UNLISTED = "hostile_unlisted.mp4"
ESCAPE, ABSOLUTE, SUBDIR = "../escape.mp4", "/etc/passwd.mp4", "sub/dir.mp4"
MAYBE = "hostile_maybe.mp4"
ORPHAN_FAKE = "hostile_orphan_fake.mp4"
ORPHAN_ORIGINAL = "notlisted0.mp4"  # named by the orphan FAKE, but no entry of the dataset
UNICODE = "vidéo à 1.mp4"
PORTRAIT_NO_AUDIO = "hostile_portrait_noaudio.mp4"


def _valid_video(path: Path, seed: int, portrait: bool = False, audio: bool = True) -> None:
    """A small, genuinely valid single-face video (distinct content per seed)."""
    rng = np.random.default_rng(seed)
    w, h = (240, 320) if portrait else (320, 240)
    spec = VideoSpec(
        name=path.name, label="REAL", width=w, height=h, fps=15, n_frames=15, background="gradient",
        bg_seed=int(rng.integers(2**31)),
        people=(Person(int(rng.integers(6)), 0.5, 0.5, 0.08, 0.03, 0.38, 0.5, float(rng.uniform(0, 6.28))),),
        audio_hz=float(rng.uniform(220, 880)) if audio else None)
    render_video(spec, path)


def _audio_only(path: Path, seconds: float = 1.0) -> None:
    """An mp4 with an AAC stream and no video stream at all."""
    tmp = tmp_name(path)
    with av.open(str(tmp), mode="w", format="mp4") as out:
        st = out.add_stream("aac", rate=AUDIO_RATE)
        st.layout = "mono"
        frame = av.AudioFrame.from_ndarray(sine(330.0, seconds), format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, 0, Fraction(1, AUDIO_RATE)
        for pkt in list(st.encode(frame)) + list(st.encode(None)):
            out.mux(pkt)
    os.replace(tmp, path)


def add_hostile_files(part_dir: Path, seed: int = 0) -> dict[str, str]:
    """Add hostile entries/files to an existing part and rewrite its metadata.json atomically."""
    part_dir = Path(part_dir)
    meta_path = part_dir / "metadata.json"
    meta = json.loads(meta_path.read_text())
    reals = sorted(k for k, v in meta.items() if v.get("label") == "REAL" and (part_dir / k).is_file())
    if not reals:
        raise ValueError(f"{part_dir} has no REAL video to truncate")
    expected: dict[str, str] = {}

    def listed(key: str, status: str, label: str = "REAL", **extra) -> None:
        meta[key] = {"label": label, "split": "train", **extra}
        expected[key] = status

    write_bytes(part_dir / EMPTY, b"")
    listed(EMPTY, "error")
    data = (part_dir / reals[0]).read_bytes()
    write_bytes(part_dir / TRUNCATED, data[: int(len(data) * 0.3)])
    listed(TRUNCATED, "error")
    write_bytes(part_dir / TEXT, b"This is a text file, not a video.\n" * 20)
    listed(TEXT, "error")
    _audio_only(part_dir / AUDIO_ONLY)
    listed(AUDIO_ONLY, "error")
    (part_dir / MISSING).unlink(missing_ok=True)
    listed(MISSING, "missing")

    _valid_video(part_dir / UNLISTED, seed * 100 + 1)
    meta.pop(UNLISTED, None)
    expected[UNLISTED] = "unlisted"

    # Keys that must never become paths. Only the in-folder one gets a real file (no writes outside the part).
    _valid_video(part_dir / SUBDIR, seed * 100 + 2)
    for key in (ESCAPE, ABSOLUTE, SUBDIR):
        listed(key, "rejected")

    _valid_video(part_dir / MAYBE, seed * 100 + 3)
    listed(MAYBE, "rejected", label="MAYBE")
    _valid_video(part_dir / ORPHAN_FAKE, seed * 100 + 4)
    listed(ORPHAN_FAKE, "ok", label="FAKE", original=ORPHAN_ORIGINAL)  # reported, not rejected
    _valid_video(part_dir / UNICODE, seed * 100 + 5)
    listed(UNICODE, "ok")
    _valid_video(part_dir / PORTRAIT_NO_AUDIO, seed * 100 + 6, portrait=True, audio=False)
    listed(PORTRAIT_NO_AUDIO, "ok")

    write_bytes(meta_path, metadata_bytes(meta))
    return expected
