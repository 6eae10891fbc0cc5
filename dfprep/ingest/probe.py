"""Probe a video's container and stream with PyAV: cheap facts for the manifest, and early, named failures."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import av

from dfprep.errors import DataError


class VideoError(DataError):
    """A video that cannot be used; the message is the reason recorded in the manifest."""


@dataclass
class Probe:
    n_frames: int
    fps: float
    width: int          # as displayed (after any rotation in the display matrix)
    height: int
    duration_s: float
    codec: str
    has_audio: bool
    bytes: int
    rotation: int       # degrees the stored frames are turned to display them (0, 90, 180, 270)

    def as_row(self) -> dict:
        return asdict(self)


def _open(path: Path):
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(f"not a readable video container ({type(exc).__name__}: {exc.strerror or exc})") from None


def _count_packets(container, stream) -> int:
    """Frame count when the container does not state it: demux only, no decoding."""
    return sum(1 for pkt in container.demux(stream) if pkt.size)


def pixel_problem(width: int, height: int, max_pixels: int | None) -> str | None:
    """Why a frame of width x height is not decoded (over the pixel budget), or None."""
    if max_pixels is not None and width * height > max_pixels:
        return f"frame {width}x{height} is over the pixel budget (--max-pixels {max_pixels})"
    return None


def probe(path: Path, max_pixels: int | None = None) -> Probe:
    """Read stream facts; decodes one frame so that a container with an undecodable stream fails here.

    A stream whose frames are larger than `max_pixels` (width x height) fails before any frame is decoded
    when the container states its size (else right after the first frame): a few hundred KB of H.264 can
    hold 8192x8192 frames, gigabytes once decoded."""
    path = Path(path)
    size = os.path.getsize(path)
    if size == 0:
        raise VideoError("empty file (0 bytes)")
    with _open(path) as container:
        if not container.streams.video:
            raise VideoError("no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        has_audio = bool(container.streams.audio)
        codec = ctx.name
        too_big = pixel_problem(ctx.width or 0, ctx.height or 0, max_pixels)
        if too_big:
            raise VideoError(too_big)
        try:
            first = next(container.decode(stream), None)
        except av.FFmpegError as exc:
            raise VideoError(f"video stream does not decode ({exc.strerror or exc})") from None
        if first is None:
            raise VideoError("video stream has no decodable frame")
        rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        width, height = first.width, first.height
        too_big = pixel_problem(width, height, max_pixels)
        if too_big:
            raise VideoError(too_big)
        n_frames = int(stream.frames or 0)
    if n_frames <= 0:
        with _open(path) as container:
            n_frames = _count_packets(container, container.streams.video[0])
    if rotation in (90, 270):
        width, height = height, width
    if not fps and duration:
        fps = n_frames / duration
    if not duration and fps:
        duration = n_frames / fps
    return Probe(n_frames=n_frames, fps=round(fps, 4), width=width, height=height,
                 duration_s=round(duration, 4), codec=codec, has_audio=has_audio, bytes=size,
                 rotation=rotation)
