"""The baseline: what a competent user writes from the library seeds to get face crops out of a folder of videos.

For every .mp4 under ROOT (sorted), one after the other: decord reads 32 evenly spaced frames with get_batch,
facenet-pytorch MTCNN (default settings, CPU, torch's default thread count) detects faces frame by frame at full
resolution, every face with prob >= 0.95 becomes a square crop (box's longest side + 30% margin on each side,
centred on the box, black outside the frame) resized to 224 and saved as JPEG quality 95; all rows go into one
Parquet file at the end. Imports nothing of dfprep.

    python bench/handwritten_ingest.py ROOT OUT.parquet [FRAMES]
"""
import io
import sys
import time
from pathlib import Path

import decord
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from facenet_pytorch import MTCNN
from PIL import Image

MARGIN, SIZE, QUALITY, MIN_PROB = 0.3, 224, 95, 0.95


def square_crop(frame: Image.Image, box) -> Image.Image:
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1 + 2 * MARGIN)
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    side = round(side)
    # PIL fills the part of the window outside the image with black
    return frame.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.BILINEAR)


def main(root: Path, out: Path, frames: int = 32) -> None:
    t0 = time.perf_counter()
    mtcnn = MTCNN(keep_all=True, device="cpu")
    rows = {"video": [], "frame": [], "box": [], "prob": [], "jpeg": []}
    videos = sorted(root.rglob("*.mp4"))
    for path in videos:
        vr = decord.VideoReader(str(path))
        idx = np.linspace(0, len(vr) - 1, frames).astype(int)
        batch = vr.get_batch(idx).asnumpy()
        for i, frame in zip(idx, batch):
            boxes, probs = mtcnn.detect(frame)
            if boxes is None:
                continue
            image = Image.fromarray(frame)
            for box, prob in zip(boxes, probs):
                if prob < MIN_PROB:
                    continue
                buf = io.BytesIO()
                square_crop(image, box).save(buf, format="JPEG", quality=QUALITY)
                rows["video"].append(str(path.relative_to(root)))
                rows["frame"].append(int(i))
                rows["box"].append([float(v) for v in box])
                rows["prob"].append(float(prob))
                rows["jpeg"].append(buf.getvalue())
    pq.write_table(pa.table(rows), out)
    print(f"{len(videos)} videos, {len(rows['jpeg'])} faces in {time.perf_counter() - t0:.1f} s "
          f"(torch threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 32)
