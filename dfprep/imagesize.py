"""An image's width and height from its header, before any pixel is decoded: the pixel budget.

A 30000x30000 JPEG is a few KB on disk and 2.5 GiB of RGB once decoded. Every stage that decodes images it did
not make itself (the trainer's shard decoder, predict's crops, explain's image input, `dfprep shards verify`)
checks width x height against a budget first; a crop over it is refused by name, never decoded.
"""
from __future__ import annotations

import io

from dfprep.errors import DataError

MAX_IMAGE_PIXELS = 4096 * 4096       # the default budget: a face crop is 224x224 by default; 16.7 Mpx is ample

# Start-of-frame markers (baseline, progressive, lossless, arithmetic), whose segment holds height and width.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, *range(0xD0, 0xD8)}


class ImageTooLarge(DataError, ValueError):
    """An image whose header promises more pixels than the budget."""


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's first start-of-frame segment; None when `data` is not a JPEG or has none."""
    n = len(data)
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:                  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):          # end of image, or scan data before any frame header
            return None
        length = (data[i + 2] << 8) | data[i + 3]
        if marker in _SOF:
            if i + 9 > n:
                return None
            h = (data[i + 5] << 8) | data[i + 6]
            w = (data[i + 7] << 8) | data[i + 8]
            return w, h
        i += 2 + length
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of encoded image bytes from the header alone (JPEG parsed here, other formats through
    PIL's `Image.open`, which reads only the header); None when it cannot be told (the decoder will say why).
    Raises ImageTooLarge for an image that PIL itself refuses to open as a decompression bomb."""
    size = jpeg_size(data)
    if size is not None:
        return size
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"over PIL's own pixel limit ({exc}); not decoded") from None
    except Exception:  # noqa: BLE001 - not an image PIL knows: the decoder will say so
        return None


def check_pixels(data: bytes, limit: int = MAX_IMAGE_PIXELS) -> tuple[int, int] | None:
    """Raise ImageTooLarge when the header of `data` promises more than `limit` pixels; the size otherwise."""
    size = image_size(data)
    if size is not None and size[0] * size[1] > limit:
        w, h = size
        raise ImageTooLarge(f"{w}x{h} pixels ({w * h / 1e6:.1f} Mpx) is over the pixel budget of {limit} "
                            f"({limit / 1e6:.1f} Mpx); not decoded")
    return size
