"""Link per-frame faces into tracks by IoU so that track 0 of a video is one person throughout."""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou


def link_tracks(frame_boxes: list[np.ndarray], iou_min: float = 0.2) -> list[np.ndarray]:
    """frame_boxes[j] is [k_j,4]; returns ids[j] of length k_j.

    Each frame's faces are matched to the existing tracks' last boxes (Hungarian on IoU); a face with
    no match of IoU >= iou_min starts a track. Tracks are then numbered by length (longest = 0), then by
    first appearance, so ids are stable and deterministic.
    """
    last: list[np.ndarray] = []          # last box of each raw track
    raw_ids: list[np.ndarray] = []
    lengths: list[int] = []
    first: list[int] = []
    for j, boxes in enumerate(frame_boxes):
        ids = np.full(len(boxes), -1, np.int64)
        if len(boxes) and last:
            iou = box_iou(torch.as_tensor(boxes, dtype=torch.float32),
                          torch.as_tensor(np.stack(last), dtype=torch.float32)).numpy()
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= iou_min:
                    ids[r] = c
        for i in range(len(boxes)):
            if ids[i] < 0:
                ids[i] = len(last)
                last.append(boxes[i])
                lengths.append(0)
                first.append(j)
            else:
                last[ids[i]] = boxes[i]
            lengths[ids[i]] += 1
        raw_ids.append(ids)
    order = sorted(range(len(lengths)), key=lambda t: (-lengths[t], first[t], t))
    remap = np.empty(len(lengths), np.int64)
    remap[order] = np.arange(len(lengths))
    return [remap[ids] if len(ids) else ids for ids in raw_ids]
