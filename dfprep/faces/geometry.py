"""Pixel geometry for faces: detection copies, mapping boxes back, square crops with a margin."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF


def det_scale(height: int, width: int, det_size: int) -> float:
    """Factor that brings the longest side down to det_size (never up)."""
    return min(1.0, det_size / max(height, width))


def detection_copies(frames: np.ndarray, scale: float) -> np.ndarray:
    """Downscaled uint8 copies [N,h,w,3] for the detector; the full-resolution frames stay where they are."""
    if scale >= 1.0:
        return frames
    n, h, w, _ = frames.shape
    size = [max(1, round(h * scale)), max(1, round(w * scale))]
    t = torch.from_numpy(frames).permute(0, 3, 1, 2)
    small = TF.resize(t, size, antialias=True)
    return small.permute(0, 2, 3, 1).contiguous().numpy()


def to_source(boxes: np.ndarray, sx: float, sy: float, height: int, width: int) -> np.ndarray:
    """Map detection-copy boxes [k,4] to source pixels, clipped to the frame."""
    out = boxes.astype(np.float64) * np.array([sx, sy, sx, sy])
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out.astype(np.float32)


def crop_window(box: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """Square window centred on the box, side = longest box side * (1 + 2*margin), in integer pixels."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    side = max(2, int(round(side)))
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    left, top = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    return left, top, left + side, top + side


def square_crop(frame: np.ndarray, box: np.ndarray, margin: float, size: int) -> Image.Image:
    """Cut the square window from the full-resolution frame (black where it leaves the frame), resize."""
    h, w = frame.shape[:2]
    l, t, r, b = crop_window(box, margin)
    side = r - l
    canvas = np.zeros((side, side, 3), np.uint8)
    sl, st, sr, sb = max(l, 0), max(t, 0), min(r, w), min(b, h)
    if sr > sl and sb > st:
        canvas[st - t:sb - t, sl - l:sr - l] = frame[st:sb, sl:sr]
    return Image.fromarray(canvas).resize((size, size), Image.BILINEAR)


def encode_jpeg(img: Image.Image, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
