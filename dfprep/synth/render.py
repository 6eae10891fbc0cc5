"""Pure frame rendering: per-video parameters in, numpy uint8 frames out (no file I/O).

A FAKE is rendered from its original's parameters plus a face swap, so background and motion match the
original exactly and only the face region differs - the property a deepfake detector has to learn.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from dfprep.synth.identities import Identity, elliptical_alpha, identities


@dataclass(frozen=True)
class Person:
    """One head moving on a sinusoidal path; positions are fractions of the frame, sizes of min(W, H)."""

    identity: int
    cx: float
    cy: float
    ax: float  # horizontal amplitude (fraction of W)
    ay: float  # vertical amplitude (fraction of H)
    face_h: float  # face-box height as a fraction of min(W, H)
    freq: float  # Hz
    phase: float
    scale_amp: float = 0.05


@dataclass(frozen=True)
class Swap:
    """Replace one person's face with a donor identity's face, badly on purpose (seam, tint, jitter)."""

    person: int
    donor: int
    tint: tuple[float, float, float]
    jitter_px: float
    scale_jitter: float
    seed: int


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to render one video deterministically (picklable for worker processes)."""

    name: str
    label: str  # REAL / FAKE
    width: int
    height: int
    fps: int
    n_frames: int
    background: str  # gradient / coffee / rocket
    bg_seed: int
    people: tuple[Person, ...] = ()
    swaps: tuple[Swap, ...] = ()
    original: str | None = None
    audio_hz: float | None = None  # None: no audio stream

    @property
    def kind(self) -> str:
        return "no_face" if not self.people else ("multi_face" if len(self.people) > 1 else "single_face")


@functools.lru_cache(maxsize=8)
def _photo_bg(name: str) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(getattr(data, name)()[..., :3])


def render_background(kind: str, width: int, height: int, seed: int) -> np.ndarray:
    """A face-free background: a procedural gradient with shapes, or a shipped photo cropped to cover."""
    rng = np.random.default_rng(seed)
    if kind == "gradient":
        c0, c1 = rng.integers(30, 225, size=(2, 3)).astype(np.float32)
        ang = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
        t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
        img = Image.fromarray((c0 + (c1 - c0) * t[..., None]).round().astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 7))):
            x0, y0 = rng.integers(0, width), rng.integers(0, height)
            w, h = rng.integers(width // 10, width // 3), rng.integers(height // 10, height // 3)
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
            (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=fill)
        return np.asarray(img)
    photo = _photo_bg(kind)
    ph, pw = photo.shape[:2]
    k = max(width / pw, height / ph) * float(rng.uniform(1.0, 1.3))
    rw, rh = max(width, int(math.ceil(pw * k))), max(height, int(math.ceil(ph * k)))
    big = np.asarray(Image.fromarray(photo).resize((rw, rh), Image.BILINEAR))
    x0, y0 = int(rng.integers(0, rw - width + 1)), int(rng.integers(0, rh - height + 1))
    return np.ascontiguousarray(big[y0:y0 + height, x0:x0 + width])


def _paste(canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    """Alpha-blend `rgb` onto float canvas at (x0, y0), clipped to the canvas."""
    H, W = canvas.shape[:2]
    h, w = alpha.shape
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    a = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0, None]
    src = rgb[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    dst = canvas[cy0:cy1, cx0:cx1]
    canvas[cy0:cy1, cx0:cx1] = dst * (1.0 - a) + src * a


def person_pose(p: Person, ident: Identity, spec: VideoSpec, i: int) -> tuple[float, float, float]:
    """(face centre x, y, patch scale factor) of person `p` at frame i: smooth sinusoid, slight zoom."""
    t = i / spec.fps
    w = 2 * math.pi * p.freq
    cx = spec.width * (p.cx + p.ax * math.sin(w * t + p.phase))
    cy = spec.height * (p.cy + p.ay * math.sin(2 * w * t + 0.5 * p.phase))
    face_px = p.face_h * min(spec.width, spec.height) * ident.scale
    face_px *= 1.0 + p.scale_amp * math.sin(0.5 * w * t + p.phase)
    return cx, cy, face_px / ident.face_h


def _head(ident: Identity, k: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = ident.rgba.shape[:2]
    size = (max(1, int(round(w * k))), max(1, int(round(h * k))))
    im = np.asarray(Image.fromarray(ident.rgba, "RGBA").resize(size, Image.BILINEAR)).astype(np.float32)
    return im[..., :3], im[..., 3] / 255.0


def face_boxes(spec: VideoSpec, i: int) -> list[tuple[float, float, float, float]]:
    """Face boxes (x1, y1, x2, y2, frame pixels) of each person at frame i, as rendered in the original."""
    cast = identities()
    out = []
    for p in spec.people:
        ident = cast[p.identity]
        cx, cy, k = person_pose(p, ident, spec, i)
        fx1, fy1, fx2, fy2 = ident.face
        fcx, fcy = (fx1 + fx2) / 2, (fy1 + fy2) / 2
        x0, y0 = int(round(cx - fcx * k)), int(round(cy - fcy * k))
        out.append((x0 + fx1 * k, y0 + fy1 * k, x0 + fx2 * k, y0 + fy2 * k))
    return out


def _swap_face(canvas: np.ndarray, box, sw: Swap, i: int) -> None:
    """Paste the donor's face into `box` with per-frame misalignment, a colour mismatch and a hard seam."""
    donor = identities()[sw.donor]
    rng = np.random.default_rng([sw.seed, i])
    dx, dy = rng.uniform(-sw.jitter_px, sw.jitter_px, 2)
    s = 1.0 + rng.uniform(-sw.scale_jitter, sw.scale_jitter)
    x1, y1, x2, y2 = box
    bw, bh = (x2 - x1) * s, (y2 - y1) * s
    pad = 0.1  # the mask ellipse reaches a little past the face box, so cut the donor with the same margin
    ex1, ey1, ex2, ey2 = donor.face
    dw, dh = ex2 - ex1, ey2 - ey1
    crop = Image.fromarray(donor.rgba[..., :3]).crop(
        (int(round(ex1 - pad * dw)), int(round(ey1 - pad * dh)), int(round(ex2 + pad * dw)), int(round(ey2 + pad * dh))))
    tw, th = max(2, int(round(bw * (1 + 2 * pad)))), max(2, int(round(bh * (1 + 2 * pad))))
    rgb = np.asarray(crop.resize((tw, th), Image.BILINEAR)).astype(np.float32) * np.asarray(sw.tint, np.float32)
    alpha = elliptical_alpha(th, tw, inner=0.86, outer=0.9)  # hard-ish edge: a visible seam
    cx, cy = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy
    _paste(canvas, np.clip(rgb, 0, 255), alpha, int(round(cx - tw / 2)), int(round(cy - th / 2)))


def render_frame(spec: VideoSpec, i: int, background: np.ndarray | None = None) -> np.ndarray:
    """Frame i of the video as uint8 [H, W, 3]: background, heads, then (FAKE) the swapped faces."""
    if background is None:
        background = render_background(spec.background, spec.width, spec.height, spec.bg_seed)
    canvas = background.astype(np.float32)
    cast = identities()
    boxes = face_boxes(spec, i)
    for p in spec.people:
        ident = cast[p.identity]
        cx, cy, k = person_pose(p, ident, spec, i)
        rgb, alpha = _head(ident, k)
        fx1, fy1, fx2, fy2 = ident.face
        x0, y0 = int(round(cx - (fx1 + fx2) / 2 * k)), int(round(cy - (fy1 + fy2) / 2 * k))
        _paste(canvas, rgb, alpha, x0, y0)
    for sw in spec.swaps:
        _swap_face(canvas, boxes[sw.person], sw, i)
    return np.clip(canvas, 0, 255).round().astype(np.uint8)


def iter_frames(spec: VideoSpec):
    """All frames of the video, rendering the background once."""
    bg = render_background(spec.background, spec.width, spec.height, spec.bg_seed)
    for i in range(spec.n_frames):
        yield render_frame(spec, i, bg)
