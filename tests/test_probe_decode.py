"""Probe and sampled decode on the real DFDC and FaceForensics++ videos."""
from __future__ import annotations

import numpy as np
import pytest

from dfprep.ingest.decode import DECODERS, decode_sampled, sample_indices
from dfprep.ingest.probe import VideoError, probe


def test_sample_indices():
    idx = sample_indices(300, 32)
    assert len(idx) == 32 and np.all(np.diff(idx) > 0) and idx[0] >= 0 and idx[-1] < 300
    assert list(sample_indices(5, 32)) == [0, 1, 2, 3, 4]
    assert len(sample_indices(0, 32)) == 0


def test_probe_real(real_data):
    p = probe(real_data / "brtujopkby.mp4")
    assert (p.width, p.height) == (1080, 1920)  # DFDC portrait stored as such
    assert p.n_frames == 300 and abs(p.fps - 29.97) < 0.01 and abs(p.duration_s - 10.0) < 0.1
    assert p.codec == "h264" and p.has_audio and p.bytes == (real_data / "brtujopkby.mp4").stat().st_size
    q = probe(real_data / "519.mp4")
    assert (q.width, q.height, q.n_frames, q.fps, q.has_audio) == (640, 480, 751, 25.0, False)


def test_backends_agree_on_real_video(real_data):
    path = real_data / "519_515.mp4"
    idx = sample_indices(probe(path).n_frames, 12)
    a = DECODERS["decord"](path, idx, 1)
    b = DECODERS["pyav"](path, idx, 1)
    assert a.shape == (12, 480, 640, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # frames actually differ along the video (a sampled decode, not one frame repeated)
    assert np.abs(a[0].astype(int) - a[-1]).mean() > 1


def test_bad_files(tmp_path, real_data):
    empty = tmp_path / "e.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        probe(empty)
    text = tmp_path / "t.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(VideoError, match="not a readable"):
        probe(text)
    trunc = tmp_path / "tr.mp4"
    trunc.write_bytes((real_data / "519.mp4").read_bytes()[:300_000])
    with pytest.raises(VideoError):
        p = probe(trunc)
        decode_sampled(trunc, sample_indices(p.n_frames, 8))


def test_fallback_to_pyav(tmp_path, real_data):
    """decord refusing a file falls back to PyAV; here decord is asked for frames past the end."""
    path = real_data / "519.mp4"
    frames, used = decode_sampled(path, np.array([0, 100]), backend="decord")
    assert used == "decord" and frames.shape[0] == 2
    with pytest.raises(VideoError, match="ended early"):
        decode_sampled(path, np.array([0, 5000]), backend="decord")


def _rotated_video(path, rotation):
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.set_display_rotation(rotation)
        img = np.zeros((48, 64, 3), np.uint8)
        img[:16, :16] = 255  # a white block at the stored top-left
        for _ in range(5):
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_display_rotation_applied(tmp_path, backend):
    """A display matrix of +90 (counterclockwise, FFmpeg's convention) is applied as FFmpeg displays it."""
    path = tmp_path / "rot.mp4"
    _rotated_video(path, 90)
    p = probe(path)
    assert p.rotation == 90 and (p.width, p.height) == (48, 64)
    frames, _ = decode_sampled(path, sample_indices(p.n_frames, 2), backend=backend, rotation=p.rotation)
    assert frames.shape == (2, 64, 48, 3)
    f = frames[0].mean(axis=2)
    # counterclockwise turn: the stored top-left block is now at the bottom-left
    assert f[-16:, :16].mean() > 200 and f[:16, :16].mean() < 50
