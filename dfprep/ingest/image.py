"""An image as a one-frame video: seed-style image datasets (class folders of frames) go through the same
probe, decode and face stages as videos, with the same named errors."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dfprep.dataset import IMAGE_EXTS
from dfprep.ingest.probe import Probe, VideoError, pixel_problem


def is_image(path) -> bool:
    """A file an image dataset holds (by its extension: IMAGE_EXTS)."""
    return Path(str(path)).suffix.lower() in IMAGE_EXTS


def probe_image(path: Path, max_pixels: int | None = None) -> Probe:
    """Facts of one image, from its header (the pixel budget is checked before any pixel is decoded): one frame,
    no frame rate or duration, `codec` the image format (jpeg, png...), the EXIF orientation as `rotation`."""
    from PIL import Image, UnidentifiedImageError

    size = os.path.getsize(path)
    if size == 0:
        raise VideoError("empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            width, height, fmt = im.width, im.height, (im.format or "unknown").lower()
            orientation = im.getexif().get(0x0112, 1)
    except Image.DecompressionBombError as exc:     # not an OSError: Pillow's own pixel limit, from the header
        raise VideoError(f"image is over Pillow's pixel limit, never decoded ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise VideoError(f"not a readable image ({type(exc).__name__}: {exc})") from None
    rotation = {3: 180, 6: 270, 8: 90}.get(orientation, 0)
    if rotation in (90, 270):
        width, height = height, width
    if why := pixel_problem(width, height, max_pixels):
        raise VideoError(why)
    return Probe(n_frames=1, fps=0.0, width=width, height=height, duration_s=0.0, codec=fmt, has_audio=False,
                 bytes=size, rotation=rotation)


def decode_image(path: Path) -> np.ndarray:
    """The image as one RGB frame, uint8 [1, H, W, 3], turned upright by its EXIF orientation."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"))[None]
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise VideoError(f"image cannot be decoded ({type(exc).__name__}: {exc})") from None
