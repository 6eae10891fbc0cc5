"""Face statistics: how often a face was found, how many, how big, how confident, and where none was.

Per-video counts come from videos.parquet (n_faces, frames_with_face, n_tracks); per-crop values (size,
confidence, faces per frame) from the projected face store columns, never from the crops themselves.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfprep.dataset import Status
from dfprep.analysis.load import FaceColumns
from dfprep.analysis.summaries import count_by, histogram_by, label_key, present_labels, summarize_by


def video_labels(videos: pa.Table) -> np.ndarray:
    return np.array([label_key(x) for x in videos.column("label").to_pylist()], dtype=object)


def face_stats(videos: pa.Table, faces: FaceColumns, list_cap: int = 200) -> dict:
    labels = video_labels(videos)
    status = np.array(videos.column("status").to_pylist(), dtype=object)
    n_faces_col = videos.column("n_faces")
    ok = status == Status.OK.value
    detected = ok & np.array([x is not None for x in n_faces_col.to_pylist()], dtype=bool)
    n_sampled = pc.fill_null(pc.list_value_length(videos.column("sampled_frames")), 0).to_numpy().astype(np.int64)
    n_faces = np.nan_to_num(np.array(n_faces_col.to_pylist(), dtype=np.float64)).astype(np.int64)
    with_face = np.nan_to_num(np.array(videos.column("frames_with_face").to_pylist(), dtype=np.float64))
    n_tracks = np.array(videos.column("n_tracks").to_pylist(), dtype=np.float64)

    share = {}
    for lab in present_labels(labels[detected]):
        sel = detected & (labels == lab)
        frames = int(n_sampled[sel].sum())
        share[lab] = {"videos": int(sel.sum()), "sampled_frames": frames, "frames_with_face": int(with_face[sel].sum()),
                      "share": round(float(with_face[sel].sum() / frames), 4) if frames else None}
    frames = int(n_sampled[detected].sum())
    share["all"] = {"videos": int(detected.sum()), "sampled_frames": frames,
                    "frames_with_face": int(with_face[detected].sum()),
                    "share": round(float(with_face[detected].sum() / frames), 4) if frames else None}

    known = faces.code >= 0
    code = faces.code[known]
    face_labels = labels[code] if len(code) else np.zeros(0, dtype=object)
    box = faces.box[known]
    side = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]).astype(np.float64)
    short = np.array(np.minimum(np.nan_to_num(_num(videos, "width")), np.nan_to_num(_num(videos, "height"))))
    rel = side / np.where(short[code] > 0, short[code], np.nan) if len(code) else np.zeros(0)
    prob = faces.prob[known].astype(np.float64)

    no_face = np.flatnonzero(detected & (n_faces == 0))
    vids, parts = videos.column("video").to_pylist(), videos.column("part").to_pylist()
    return {
        "videos_detected": int(detected.sum()),
        "face_rows": int(len(faces)),
        "face_rows_without_video": int((~known).sum()),
        "share_frames_with_face": share,
        "faces_per_frame": _faces_per_frame(faces.code[known], faces.frame_idx[known], labels, detected,
                                            n_sampled, with_face),
        "tracks_per_video": count_by(np.nan_to_num(n_tracks[detected]).astype(int), labels[detected],
                                     numeric_keys=True),
        "face_size_px": {"by_label": summarize_by(side, face_labels), "histogram": histogram_by(side, face_labels)},
        "face_size_rel": {"by_label": summarize_by(rel, face_labels), "histogram": histogram_by(rel, face_labels)},
        "confidence": {"by_label": summarize_by(prob, face_labels), "histogram": histogram_by(prob, face_labels)},
        "videos_without_face": {
            "count": int(len(no_face)),
            "by_label": {k: int((labels[no_face] == k).sum()) for k in present_labels(labels[no_face])},
            "videos": [{"video": vids[i], "part": parts[i], "label": labels[i]} for i in no_face[:list_cap]]},
    }


def _faces_per_frame(code: np.ndarray, frame_idx: np.ndarray, labels: np.ndarray, detected: np.ndarray,
                     n_sampled: np.ndarray, with_face: np.ndarray) -> dict:
    """{n faces: {label: sampled frames}}; frames with no face counted from the manifest."""
    key = code.astype(np.int64) << 32 | frame_idx.astype(np.int64)
    uniq, per_frame = np.unique(key, return_counts=True)
    frame_label = labels[(uniq >> 32).astype(np.int64)] if len(uniq) else np.zeros(0, dtype=object)
    out: dict[str, dict] = {}
    empty = n_sampled - with_face
    zero = {lab: int(empty[detected & (labels == lab)].sum()) for lab in present_labels(labels[detected])}
    if any(zero.values()):
        out["0"] = {**{k: v for k, v in zero.items() if v}, "all": int(sum(zero.values()))}
    for n in np.unique(per_frame):
        sel = per_frame == n
        c = {lab: int((frame_label[sel] == lab).sum()) for lab in present_labels(frame_label[sel])}
        out[str(int(n))] = {**c, "all": int(sel.sum())}
    return out


def _num(videos: pa.Table, name: str) -> np.ndarray:
    return np.array(videos.column(name).to_pylist(), dtype=np.float64)
