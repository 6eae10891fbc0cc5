"""Sampled frame decoding. Backends live in `DECODERS` (name -> function), all with one signature:

    decode(path, indices, threads) -> uint8 array [len(indices), H, W, 3], RGB, as stored (not rotated)

H.264 keyframes are sparse (DFDC: frames 0 and 250), so sampling 32 of 300 frames costs a near-sequential
decode whatever the API; the backends therefore decode forward and convert only the sampled frames to RGB.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import av
import numpy as np

from dfprep.ingest.probe import VideoError


def sample_indices(n_frames: int, k: int) -> np.ndarray:
    """K evenly spaced frame indices over [0, n_frames), centred in their bins, unique and sorted."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, n_frames)
    return np.unique(((np.arange(k) + 0.5) * n_frames / k).astype(np.int64))


def decode_pyav(path: Path, indices: np.ndarray, threads: int = 1) -> np.ndarray:
    """Decode in order up to the last sampled frame; convert only the sampled frames."""
    wanted = {int(i): j for j, i in enumerate(indices)}
    last = int(indices[-1])
    out: list[np.ndarray | None] = [None] * len(indices)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            ctx = stream.codec_context
            ctx.thread_count = threads
            ctx.thread_type = "AUTO" if threads != 1 else "SLICE"
            for i, frame in enumerate(container.decode(stream)):
                j = wanted.get(i)
                if j is not None:
                    out[j] = frame.to_ndarray(format="rgb24")
                if i >= last:
                    break
    except av.FFmpegError as exc:
        if not any(f is not None for f in out):
            raise VideoError(f"decode failed ({exc.strerror or exc})") from None
    return _stack(out, indices)


def decode_decord(path: Path, indices: np.ndarray, threads: int = 1) -> np.ndarray:
    """decord, read forward: `skip_frames` between samples avoids get_batch's per-frame seeks."""
    import decord

    try:
        vr = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=threads)
    except Exception as exc:  # decord raises a bare DECORDError (a RuntimeError) with a C++ trace
        raise VideoError(f"decord cannot open ({str(exc).splitlines()[0][:200]})") from None
    out: list[np.ndarray | None] = [None] * len(indices)
    pos = 0
    try:
        for j, idx in enumerate(indices):
            idx = int(idx)
            if idx >= len(vr):
                break
            if idx > pos:
                vr.skip_frames(idx - pos)
            frame = vr.next().asnumpy()
            if frame.ndim != 3 or frame.shape[2] != 3:
                raise VideoError(f"decord returned frames of shape {frame.shape}, not RGB")
            out[j] = frame
            pos = idx + 1
    except VideoError:
        raise
    except Exception as exc:
        if not any(f is not None for f in out):
            raise VideoError(f"decord decode failed ({str(exc).splitlines()[0][:200]})") from None
    finally:
        del vr
    return _stack(out, indices)


def _stack(frames: list, indices: np.ndarray) -> np.ndarray:
    got = [f for f in frames if f is not None]
    if not got:
        raise VideoError("no frame decoded")
    if len(got) < len(frames):
        missing = [int(i) for i, f in zip(indices, frames) if f is None]
        raise VideoError(f"stream ended early: {len(missing)} sampled frames past the end (first {missing[0]})")
    return np.stack(got)


DECODERS: dict[str, Callable[[Path, np.ndarray, int], np.ndarray]] = {
    "pyav": decode_pyav,
    "decord": decode_decord,
}


def rotate_for_display(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display matrix rotation (degrees, as PyAV reports it) to [N,H,W,3] frames."""
    k = (rotation // 90) % 4
    return frames if k == 0 else np.ascontiguousarray(np.rot90(frames, k=k, axes=(1, 2)))


def decode_sampled(path: Path, indices: np.ndarray, backend: str = "decord", threads: int = 1,
                   rotation: int = 0, fallback: str | None = "pyav") -> tuple[np.ndarray, str]:
    """Decode the sampled frames with `backend`, falling back once to `fallback` if it fails.

    Returns (frames [K,H,W,3] uint8 RGB as displayed, name of the backend that produced them).
    """
    if backend not in DECODERS:
        raise ValueError(f"unknown decoder {backend!r}; choose from {sorted(DECODERS)}")
    if rotation and backend == "decord" and fallback:
        # decord applies display matrices itself and then hands back 4-channel frames; PyAV gives the
        # stored frames, which rotate_for_display turns exactly as FFmpeg would.
        backend = fallback
    try:
        frames, used = DECODERS[backend](path, indices, threads), backend
    except VideoError as first:
        if not fallback or fallback == backend:
            raise
        try:
            frames, used = DECODERS[fallback](path, indices, threads), fallback
        except VideoError as second:
            raise VideoError(f"{first}; {fallback} fallback: {second}") from None
    return rotate_for_display(frames, rotation), used
