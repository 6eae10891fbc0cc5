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


# Decoders for which skip_frame=NONREF drops only pictures that no other picture uses: H.264 (nal_ref_idc == 0).
# HEVC qualifies only with a single temporal sub-layer (its "sub-layer non-reference" pictures may be referenced
# by a higher sub-layer). Not VP8/VP9 (a skipped frame can still carry entropy/segmentation state that later
# frames inherit) nor libdav1d (reads skip_frame once, when opened).
_NONREF_SAFE_CODECS = {"h264", "hevc"}
# Demuxers whose packets each hold exactly one frame (or field pair), so a packet's pts is a frame's pts.
_NONREF_SAFE_FORMATS = {"mov", "mp4", "matroska", "webm"}


def nonref_plan(pts: list, indices: np.ndarray, keyframes: list | None = None) -> tuple[list[int], list[bool]] | None:
    """Per packet with data, in decode order: its display index (rank of its pts) and whether it may be decoded
    with skip_frame=NONREF (it is not sampled). None when the pts cannot be trusted (one missing, or duplicated).

    Packets up to the first keyframe, and any displayed before it (leading pictures, which a decoder may drop),
    are never skipped, so that a frame the decoder drops there shows as a missing output, not as a skip.
    """
    if any(p is None for p in pts) or len(set(pts)) != len(pts):
        return None
    rank = {p: i for i, p in enumerate(sorted(pts))}
    display = [rank[p] for p in pts]
    wanted = {int(i) for i in indices}
    keys = [bool(k) for k in keyframes] if keyframes is not None else [True] * len(pts)
    first = next((k for k, key in enumerate(keys) if key), None)
    if first is None:
        return display, [False] * len(pts)
    return display, [k > first and d > display[first] and d not in wanted for k, d in enumerate(display)]


class _Untrusted(Exception):
    """Display indices cannot be told from pts here (or the decode failed): decode_pyav must run instead."""


def _nonref_ok(container, stream) -> bool:
    ctx = stream.codec_context
    if ctx.name not in _NONREF_SAFE_CODECS or not _NONREF_SAFE_FORMATS & set(container.format.name.split(",")):
        return False
    if ctx.name == "hevc":  # hvcC: byte 21 holds numTemporalLayers in bits 5..3 (1 = one sub-layer)
        extra = ctx.extradata or b""
        return len(extra) > 22 and extra[0] == 1 and (extra[21] >> 3) & 7 == 1
    return True


def decode_pyav_nonref(path: Path, indices: np.ndarray, threads: int = 1, stats: dict | None = None) -> np.ndarray:
    """decode_pyav's frames, bit-identical, without decoding the unsampled non-reference pictures.

    Identical because a non-reference picture (H.264 nal_ref_idc 0) is never used to predict another one, so
    skipping it (skip_frame=NONREF, set per packet) changes no other picture. Skipped pictures give no output,
    so frames are placed by pts (display index = rank of the pts among all the packets, demuxed first), and each
    output is checked to be the next in display order with nothing missing but skipped pictures. Where that
    cannot be trusted (no or duplicate pts, other output, other codec or container, a packet the demuxer flags
    corrupt, any error) decode_pyav runs instead. A skipped picture is never decoded, so an error in one (a packet
    that holds no picture, in an otherwise whole file) is not seen: there the two can differ (docs/formats.md). Slice threads only: frame threads decode ahead, so a per-packet skip_frame would miss its packet.
    `stats`, if given, gets what was done: fallback (reason, or None), packets, sent, sent_nonref, skipped.
    """
    st = stats if stats is not None else {}
    st.update(fallback=None, packets=0, sent=0, sent_nonref=0, skipped=0)
    try:
        if len(indices) == 0:
            raise _Untrusted("no indices")
        out = _decode_nonref(path, indices, threads, st)
    except _Untrusted as exc:
        st["fallback"] = str(exc)
        return decode_pyav(path, indices, threads)
    return _stack(out, indices)


def _decode_nonref(path: Path, indices: np.ndarray, threads: int, st: dict) -> list:
    wanted = {int(i): j for j, i in enumerate(indices)}            # as decode_pyav (a repeated index: last slot)
    last = int(indices[-1])
    target = {i: j for i, j in wanted.items() if 0 <= i <= last}  # what decode_pyav fills before it stops at `last`
    out: list[np.ndarray | None] = [None] * len(indices)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError:
        raise _Untrusted("open failed") from None                 # decode_pyav raises its own VideoError
    with container:
        if not container.streams.video:
            raise VideoError("no video stream")
        stream = container.streams.video[0]
        if not _nonref_ok(container, stream):
            raise _Untrusted(f"no safe NONREF skip for {stream.codec_context.name} in {container.format.name}")
        packets = []
        try:
            for pkt in container.demux(stream):   # a truncated file mostly just ends early: a clean end of stream
                packets.append(pkt)
        except av.FFmpegError as exc:
            # decode_pyav does not flush after a demux error, and its decoder delay (frame threads) decides which
            # frames it still got: only decode_pyav itself reproduces that.
            raise _Untrusted(f"demux error ({exc.strerror or exc})") from None
        if packets and packets[-1].size == 0:
            packets.pop()                                          # demux's end-of-stream flush packet
        if any(p.size == 0 or p.is_discard for p in packets):
            raise _Untrusted("empty or discarded packet")
        if any(p.is_corrupt for p in packets):
            # a short read (the end of a truncated file). Skipped with NONREF, a packet too short to hold a picture
            # is accepted in silence, while decode_pyav stops at the decoder's "no frame" error and loses the
            # frames still held for reordering: only decode_pyav itself gives its frames here.
            raise _Untrusted("corrupt packet (a truncated file?)")
        plan = nonref_plan([p.pts for p in packets], indices, [p.is_keyframe for p in packets])
        if plan is None:
            raise _Untrusted("missing or duplicate pts")
        display, skip = plan
        rank = {p.pts: d for p, d in zip(packets, display)}
        st["packets"] = len(packets)
        ctx = stream.codec_context
        depth = getattr(ctx, "reorder_depth", None)
        if display == sorted(display) and (ctx.has_b_frames if depth is None else depth) > 0:
            # pts in decode order although the decoder reorders (no composition times, as in some remuxes):
            # the pts do not give the display order, and a skipped frame would not show it
            raise _Untrusted("pts show no reordering but the decoder reorders")
        ctx.thread_count = threads
        ctx.thread_type = "SLICE"
        sent = [0] * len(packets)                                  # by display index: 0 not yet, 1 DEFAULT, 2 NONREF
        remaining = len(target)
        last_out = -1

        def take(frames) -> None:
            nonlocal remaining, last_out
            for f in frames:
                d = rank.get(f.pts)
                if d is None or d <= last_out or not sent[d]:
                    raise _Untrusted(f"output pts {f.pts} is not the next in display order")
                # every picture displayed before this one was sent already, and came out or was sent to be skipped
                if any(sent[q] != 2 for q in range(last_out + 1, d)):
                    raise _Untrusted(f"a frame displayed before index {d} did not come out")
                st["skipped"] += d - last_out - 1
                last_out = d
                j = target.get(d)
                if j is not None:
                    out[j] = f.to_ndarray(format="rgb24")
                    remaining -= 1

        try:
            if remaining:
                for pkt, d, sk in zip(packets, display, skip):
                    ctx.skip_frame = "NONREF" if sk else "DEFAULT"
                    sent[d] = 2 if sk else 1
                    st["sent"] += 1
                    st["sent_nonref"] += sk
                    take(ctx.decode(pkt))
                    if not remaining:
                        break
                else:
                    take(ctx.decode(None))                         # flush
                    if 1 in sent[last_out + 1:]:
                        raise _Untrusted("a frame decoded without skip did not come out")
        except av.FFmpegError as exc:
            # decode_pyav keeps the frames it had by then; which ones those are, only decode_pyav reproduces
            raise _Untrusted(f"decode error ({exc.strerror or exc})") from None
    return out


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
    "pyav-nonref": decode_pyav_nonref,
}


def rotate_for_display(frames: np.ndarray, rotation: int) -> np.ndarray:
    """Apply the display matrix rotation (degrees, as PyAV reports it) to [N,H,W,3] frames."""
    k = (rotation // 90) % 4
    return frames if k == 0 else np.ascontiguousarray(np.rot90(frames, k=k, axes=(1, 2)))


def decode_sampled(path: Path, indices: np.ndarray, backend: str = "pyav-nonref", threads: int = 1,
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
