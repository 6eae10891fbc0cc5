"""Corpus settings (`SynthConfig`): the `dfprep synth` options are derived from these fields. Light to import, so
the command is built without loading the renderer."""
from __future__ import annotations

from dataclasses import dataclass

from dfprep.errors import UsageError
from dfprep.options import check_declared, opt


class SynthUsageError(UsageError):
    """Corpus settings that cannot make a corpus (a bound, --ratio or --size): nothing is written."""


def _layouts() -> tuple[str, ...]:
    from dfprep.synth.layouts import layout_names

    return layout_names()


@dataclass
class SynthConfig:
    """Corpus shape, with its CLI help (the `dfprep synth` options are derived from these fields). Counts are per
    part; fractions are of all videos in a part."""

    layout: str = opt("dfdc", "Dataset layout to write: dfdc (parts + metadata.json) or another dataset's "
                              "(ffpp, celebdf, ...; README, Datasets).", choices=_layouts)
    parts: int = opt(1, "Number of parts.", min=1)
    start_part: int = opt(0, "Index of the first part.", min=0)
    videos: int = opt(12, "Videos per part.", min=1)
    ratio: str = opt("1:5", "REAL:FAKE ratio (DFDC is about 1:5).")
    duration: float = opt(2.0, "Seconds per video.", min=0, min_open=True)
    fps: int = opt(15, "Frames per second.", min=1)
    size: str = opt("320x240", "Landscape WxH; portrait videos swap it.")
    portrait: float = opt(0.15, "Fraction of videos rendered portrait.", min=0, max=1)
    multi_face: int | None = opt(None, "Two-person REALs per part (default 1 if videos>=6).", min=0)
    no_face: int | None = opt(None, "Faceless REALs per part (default 1 if videos>=6).", min=0)
    no_audio: float = opt(0.1, "Fraction of videos without an audio stream.", min=0, max=1)
    seed: int = opt(0, "Same seed, same corpus.")
    workers: int | None = opt(None, "Render processes (default: CPU count).", min=1)

    def validate(self) -> None:
        """The declared bounds (which the CLI checks itself), then the text forms: --ratio A:B, --size WxH."""
        check_declared(self, SynthUsageError)
        try:
            a, b = (float(v) for v in self.ratio.split(":"))
        except ValueError:
            raise SynthUsageError(f"--ratio must be REAL:FAKE such as 1:5, got {self.ratio!r}") from None
        if a < 0 or b < 0 or a + b <= 0:
            raise SynthUsageError(f"--ratio must be two non-negative numbers, not both 0, got {self.ratio!r}")
        try:
            w, h = self.wh()
        except ValueError:
            raise SynthUsageError(f"--size must be WxH such as 320x240, got {self.size!r}") from None
        if w < 16 or h < 16:
            raise SynthUsageError(f"--size must be at least 16x16, got {self.size!r}")

    def wh(self) -> tuple[int, int]:
        w, h = (int(v) for v in self.size.lower().split("x"))
        return w, h

    def n_multi(self) -> int:
        return self.multi_face if self.multi_face is not None else int(self.videos >= 6)

    def n_no_face(self) -> int:
        return self.no_face if self.no_face is not None else int(self.videos >= 6)
