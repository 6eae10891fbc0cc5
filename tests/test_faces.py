"""The face stage's plain core on real DFDC / FaceForensics++ footage: no Ray, real MTCNN and dlib."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import box_iou

from dfprep.dataset import VideoEntry
from dfprep.faces.detectors import DlibDetector, MTCNNDetector
from dfprep.faces.extract import detect_faces, select
from dfprep.faces.params import FaceParams
from dfprep.faces.geometry import crop_window, square_crop
from dfprep.faces.tracks import link_tracks
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.decode import decode_sampled, sample_indices
from dfprep.ingest.probe import probe
from dfprep.ingest.video import process_video


@pytest.fixture(scope="module")
def mtcnn():
    return MTCNNDetector(min_face_size=40)


def _frames(path, k):
    p = probe(path)
    return decode_sampled(path, sample_indices(p.n_frames, k), rotation=p.rotation)[0]


def test_spurious_box_dropped_on_real_dfdc_portrait(real_data, mtcnn):
    frames = _frames(real_data / "brtujopkby.mp4", 8)
    assert frames.shape[1:3] == (1920, 1080)
    loose, _ = detect_faces(frames, mtcnn.detect, FaceParams(threshold=0.0, max_faces=5))
    strict, _ = detect_faces(frames, mtcnn.detect, FaceParams())
    assert any(len(f.boxes) >= 2 for f in loose)  # MTCNN's low-confidence second box is really there
    assert all(len(f.boxes) == 1 for f in strict)  # ... and the 0.95 threshold drops it
    for f in strict:
        x1, y1, x2, y2 = f.boxes[0]
        assert 0 <= x1 < x2 <= 1080 and 0 <= y1 < y2 <= 1920
        assert f.landmarks.shape == (1, 5, 2)
        assert (x1 <= f.landmarks[0, :, 0]).all() and (f.landmarks[0, :, 0] <= x2).all()
    assert {int(f.track_ids[0]) for f in strict} == {0}


def test_downscaled_detection_maps_back_to_source(real_data, mtcnn):
    frames = _frames(real_data / "lynaeydofd.mp4", 4)
    full, _ = detect_faces(frames, mtcnn.detect, FaceParams(det_size=1920))
    small, _ = detect_faces(frames, mtcnn.detect, FaceParams(det_size=480))
    for a, b in zip(full, small):
        assert len(a.boxes) == len(b.boxes) >= 1
        iou = box_iou(torch.from_numpy(a.boxes), torch.from_numpy(b.boxes)).diagonal()
        assert (iou > 0.8).all(), iou


def test_process_video_crops_real(real_data, mtcnn):
    e = VideoEntry("519.mp4", 0, label="REAL", split="train", path=str(real_data / "519.mp4"))
    row, faces, _ = process_video(e, IngestConfig(frames=6, crop_size=160), mtcnn.detect)
    assert row["status"] == "ok" and row["n_faces"] == faces.num_rows == 6 and row["n_tracks"] == 1
    for jpg in faces.column("jpeg").to_pylist():
        assert Image.open(io.BytesIO(jpg)).size == (160, 160)
    # fake and original share geometry: their face hashes differ more than their whole-frame hashes
    e2 = e.replace(video="519_515.mp4", label="FAKE", original="519.mp4", path=str(real_data / "519_515.mp4"))
    row2, faces2, _ = process_video(e2, IngestConfig(frames=6, crop_size=160), mtcnn.detect)
    ham = lambda a, b: bin(a ^ b).count("1")
    frame_d = np.mean([ham(a, b) for a, b in zip(row["frame_phash"], row2["frame_phash"])])
    face_d = np.mean([ham(a, b) for a, b in zip(faces.column("phash").to_pylist(),
                                                 faces2.column("phash").to_pylist())])
    assert face_d > frame_d


def test_dlib_finds_the_same_faces(real_data, mtcnn):
    frames = _frames(real_data / "519.mp4", 4)
    m, _ = detect_faces(frames, mtcnn.detect, FaceParams())
    d, _ = detect_faces(frames, DlibDetector().detect, FaceParams(threshold=DlibDetector.default_threshold))
    for a, b in zip(m, d):
        assert len(b.boxes) == 1 and b.landmarks is None
        assert box_iou(torch.from_numpy(a.boxes), torch.from_numpy(b.boxes)).max() > 0.4


def test_select_and_crop_window():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 50, 50], [5, 5, 20, 20]], np.float32)
    probs = np.array([0.99, 0.97, 0.5], np.float32)
    b, p, _ = select((boxes, probs, None), 0.9, 1)
    assert p.tolist() == [pytest.approx(0.99)]
    b, p, _ = select((boxes, probs, None), 0.9, 5)
    assert len(b) == 2
    l, t, r, btm = crop_window(np.array([100, 100, 200, 150]), 0.3)
    assert r - l == btm - t == 160 and (l + r) / 2 == 150 and (t + btm) / 2 == 125
    frame = np.full((100, 100, 3), 200, np.uint8)
    img = np.asarray(square_crop(frame, np.array([80, 80, 100, 100]), 0.5, 40))
    assert img.shape == (40, 40, 3) and img[-1, -1].max() == 0 and img[0, 0].min() == 200  # padded black


def test_tracks_follow_people_across_frames():
    a = [np.array([[0, 0, 10, 10], [100, 0, 110, 10]], np.float32)]
    seq = a + [np.array([[102, 1, 112, 11], [2, 1, 12, 11]], np.float32),
               np.array([[4, 2, 14, 12]], np.float32),
               np.array([[5, 2, 15, 12], [104, 2, 114, 12], [300, 300, 320, 320]], np.float32)]
    ids = link_tracks(seq)
    left = [ids[0][0], ids[1][1], ids[2][0], ids[3][0]]
    right = [ids[0][1], ids[1][0], ids[3][1]]
    assert len(set(left)) == 1 and len(set(right)) == 1 and left[0] != right[0]
    assert left[0] == 0  # the longest track is track 0
    assert ids[3][2] not in (left[0], right[0])
