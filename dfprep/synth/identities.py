"""Head patches of real photographed faces, cut from sample images that installed packages ship.

Synthetic blobs do not trigger MTCNN reliably; real photographs do, and they need no download.
Two photographs give two people; deterministic variants (flip, tint, scale) give a few more "identities".
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

# MTCNN boxes (x1, y1, x2, y2) measured on the shipped images; the patch is cut around them.
_SOURCES = {
    "astronaut": (181.0, 62.0, 268.0, 172.0),
    "grace_hopper": (174.0, 120.0, 356.0, 340.0),
}
# Margins around the face box, as fractions of the face width/height: hair above, neck below.
_MARGIN_X, _MARGIN_TOP, _MARGIN_BOTTOM = 0.45, 0.6, 0.35


@dataclass(frozen=True)
class Identity:
    """An RGBA head patch and the face box inside it (patch pixels)."""

    name: str
    rgba: np.ndarray  # uint8 [h, w, 4], soft elliptical alpha
    face: tuple[float, float, float, float]  # x1, y1, x2, y2 in patch pixels
    scale: float  # relative face size when rendered (slight per-identity variation)
    source: str  # which photograph: fakes swap in a face from a different one

    @property
    def face_h(self) -> float:
        return self.face[3] - self.face[1]


@functools.lru_cache(maxsize=None)
def source_image(name: str) -> np.ndarray:
    """The shipped photograph as uint8 RGB."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut()[..., :3])
    if name == "grace_hopper":
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
            return np.asarray(Image.open(fh).convert("RGB"))
    raise KeyError(name)


def elliptical_alpha(h: int, w: int, inner: float = 0.8, outer: float = 1.0) -> np.ndarray:
    """Alpha 1 inside the ellipse of normalised radius `inner`, fading to 0 at `outer` (float32 [h, w])."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx + 0.5 - w / 2) / (w / 2), (yy + 0.5 - h / 2) / (h / 2))
    return np.clip((outer - r) / max(outer - inner, 1e-6), 0.0, 1.0).astype(np.float32)


def cut_head(img: np.ndarray, face: tuple[float, float, float, float]) -> tuple[np.ndarray, tuple]:
    """Face box plus a generous margin (hair, chin), with a soft elliptical alpha; returns (rgba, face-in-patch)."""
    x1, y1, x2, y2 = face
    fw, fh = x2 - x1, y2 - y1
    px1 = max(0, int(round(x1 - _MARGIN_X * fw)))
    px2 = min(img.shape[1], int(round(x2 + _MARGIN_X * fw)))
    py1 = max(0, int(round(y1 - _MARGIN_TOP * fh)))
    py2 = min(img.shape[0], int(round(y2 + _MARGIN_BOTTOM * fh)))
    rgb = img[py1:py2, px1:px2]
    alpha = elliptical_alpha(*rgb.shape[:2])
    rgba = np.dstack([rgb, (alpha * 255).round().astype(np.uint8)])
    return rgba, (x1 - px1, y1 - py1, x2 - px1, y2 - py1)


def _variant(name: str, src: str, flip: bool, tint: tuple[float, float, float], scale: float) -> Identity:
    rgba, (x1, y1, x2, y2) = cut_head(source_image(src), _SOURCES[src])
    if flip:
        w = rgba.shape[1]
        rgba = rgba[:, ::-1]
        x1, x2 = w - x2, w - x1
    rgb = np.clip(rgba[..., :3].astype(np.float32) * np.asarray(tint, np.float32), 0, 255).round().astype(np.uint8)
    rgba = np.ascontiguousarray(np.dstack([rgb, rgba[..., 3]]))
    return Identity(name, rgba, (x1, y1, x2, y2), scale, src)


@functools.lru_cache(maxsize=1)
def identities() -> tuple[Identity, ...]:
    """The fixed cast, in a fixed order (video parameters refer to identities by index)."""
    return (
        _variant("astronaut", "astronaut", False, (1.0, 1.0, 1.0), 1.0),
        _variant("grace", "grace_hopper", False, (1.0, 1.0, 1.0), 1.0),
        _variant("astronaut_flip_warm", "astronaut", True, (1.08, 1.0, 0.9), 0.95),
        _variant("grace_flip_cool", "grace_hopper", True, (0.92, 1.0, 1.1), 1.05),
        _variant("astronaut_pale", "astronaut", False, (1.1, 1.08, 1.06), 1.05),
        _variant("grace_warm", "grace_hopper", False, (1.06, 0.98, 0.88), 0.95),
    )
