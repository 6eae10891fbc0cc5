"""Synthetic DFDC corpus: metadata format, real H.264/AAC files, determinism, detectable faces, hostile files."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from dfprep.synth import SynthConfig, add_hostile_files, face_boxes, make_corpus, plan_part, render_frame
from dfprep.synth import hostile as H

CFG = SynthConfig(videos=8, duration=1.0, fps=10, size="320x240", seed=3, workers=2)
PART = "dfdc_train_part_0"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth_a")
    return root, make_corpus(root, CFG)


@pytest.fixture(scope="module")
def mtcnn():
    import torch
    from facenet_pytorch import MTCNN

    torch.set_num_threads(2)
    return MTCNN(keep_all=True, device="cpu", post_process=False)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def md5s(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "synth.json"}


def test_metadata_format(corpus):
    root, summary = corpus
    raw = (root / PART / "metadata.json").read_text()
    meta = json.loads(raw)
    assert raw == json.dumps(meta, sort_keys=True)
    assert len(meta) == CFG.videos
    for name, entry in meta.items():
        assert len(name) == 14 and name.endswith(".mp4") and name[:10].isalpha() and name[:10].islower()
        assert entry["split"] == "train" and entry["label"] in ("REAL", "FAKE")
        if entry["label"] == "REAL":
            assert set(entry) == {"label", "split"}
        else:
            assert set(entry) == {"label", "split", "original"}
            assert meta[entry["original"]]["label"] == "REAL"
        assert (root / PART / name).is_file()
    part = summary.parts[PART]
    assert part.counts == {"REAL": 3, "FAKE": 5}  # 1 single + 1 multi + 1 faceless real, the rest fakes
    assert len(part.multi_face) >= 1 and len(part.no_face) >= 1 and len(part.portrait) >= 1
    assert json.loads((root / "synth.json").read_text())["parts"][PART]["counts"] == part.counts
    assert not list(root.rglob(".tmp-*"))


@pytest.mark.parametrize("videos,ratio,n_real", [(24, "1:5", 4), (8, "1:1", 4), (60, "1:5", 10)])
def test_ratio(videos, ratio, n_real):
    specs = plan_part(SynthConfig(videos=videos, ratio=ratio, multi_face=0, no_face=0), 0)
    assert sum(s.label == "REAL" for s in specs) == n_real
    reals = {s.name for s in specs if s.label == "REAL"}
    assert all(s.original in reals for s in specs if s.label == "FAKE")


def test_files_are_h264_aac(corpus):
    root, summary = corpus
    part = summary.parts[PART]
    for name, v in part.videos.items():
        with av.open(str(root / PART / name)) as c:
            vs = c.streams.video[0]
            assert vs.codec_context.name == "h264"
            assert (vs.codec_context.width, vs.codec_context.height) == (v["width"], v["height"])
            assert vs.average_rate == CFG.fps
            assert abs(c.duration / 1e6 - CFG.duration) < 0.15
            assert vs.frames == CFG.fps * CFG.duration
            if name in part.no_audio:
                assert not c.streams.audio
            else:
                assert c.streams.audio[0].codec_context.name == "aac"
        if name in part.portrait:
            assert v["height"] > v["width"]
        else:
            assert (v["width"], v["height"]) == (320, 240)


def test_determinism(corpus, tmp_path):
    root, _ = corpus
    again = tmp_path / "same"
    make_corpus(again, SynthConfig(**{**CFG.__dict__, "workers": 1}))
    assert md5s(again) == md5s(root)  # byte-identical mp4s and metadata, independent of worker count
    other = tmp_path / "other"
    make_corpus(other, SynthConfig(**{**CFG.__dict__, "seed": CFG.seed + 1, "videos": 3}))
    meta_a = (root / PART / "metadata.json").read_bytes()
    assert (other / PART / "metadata.json").read_bytes() != meta_a
    a = decode(root / PART / sorted(json.loads(meta_a))[0])
    b = decode(other / PART / sorted(json.loads((other / PART / "metadata.json").read_text()))[0])
    assert not np.array_equal(a[0], b[0])


def test_render_frame_is_pure():
    spec = next(s for s in plan_part(CFG, 0) if s.kind == "single_face" and s.label == "REAL")
    f1, f2 = render_frame(spec, 3), render_frame(spec, 3)
    assert f1.dtype == np.uint8 and f1.shape == (spec.height, spec.width, 3)
    assert np.array_equal(f1, f2)
    (x1, y1, x2, y2), = face_boxes(spec, 3)
    assert 70 <= y2 - y1 <= 110  # big enough for MTCNN at 240p


def _faces(mtcnn, frames) -> list[int]:
    _, probs = mtcnn.detect(np.stack(frames))
    return [0 if p is None or p[0] is None else int((np.asarray(p, float) >= 0.95).sum()) for p in probs]


def test_mtcnn_finds_the_faces(corpus, mtcnn):
    root, summary = corpus
    part = summary.parts[PART]
    want = {"single_face": 1, "multi_face": 2, "no_face": 0}
    for name, v in part.videos.items():
        if v["label"] != "REAL":
            continue
        frames = decode(root / PART / name)[::2]
        counts = _faces(mtcnn, frames)
        hits = sum(c == want[v["kind"]] for c in counts)
        assert hits >= 0.8 * len(frames), (name, v["kind"], counts)
    fakes = [n for n, v in part.videos.items() if v["label"] == "FAKE" and v["kind"] == "single_face"]
    counts = _faces(mtcnn, decode(root / PART / fakes[0])[::3])
    assert sum(c == 1 for c in counts) >= 0.75 * len(counts), counts  # the swapped face is still a face


def test_fake_differs_only_in_the_face(corpus):
    root, summary = corpus
    specs = {s.name: s for s in plan_part(CFG, 0)}
    fake = next(s for s in specs.values() if s.label == "FAKE" and s.swaps and s.kind == "single_face")
    orig = specs[fake.original]
    assert (fake.width, fake.height, fake.background, fake.people) == (orig.width, orig.height, orig.background, orig.people)
    a, b = decode(root / PART / fake.name), decode(root / PART / orig.name)
    for i in (0, len(a) // 2, len(a) - 1):
        x1, y1, x2, y2 = face_boxes(orig, i)[0]
        diff = np.abs(a[i].astype(np.int16) - b[i].astype(np.int16)).mean(axis=2)
        w, h = x2 - x1, y2 - y1
        inner = diff[int(y1 + 0.2 * h):int(y2 - 0.2 * h), int(x1 + 0.2 * w):int(x2 - 0.2 * w)]
        outside = np.ones_like(diff, bool)
        outside[max(0, int(y1 - 0.2 * h)):int(y2 + 0.2 * h), max(0, int(x1 - 0.2 * w)):int(x2 + 0.2 * w)] = False
        assert inner.mean() > 20, inner.mean()
        assert diff[outside].mean() < 2.0, diff[outside].mean()


def test_hostile_files(corpus, tmp_path):
    root, _ = corpus
    part = tmp_path / PART
    shutil.copytree(root / PART, part)
    before = json.loads((part / "metadata.json").read_text())
    expected = add_hostile_files(part, seed=1)
    meta = json.loads((part / "metadata.json").read_text())
    assert set(before) <= set(meta)
    assert expected[H.EMPTY] == expected[H.TRUNCATED] == expected[H.TEXT] == expected[H.AUDIO_ONLY] == "error"
    assert (part / H.EMPTY).stat().st_size == 0
    with pytest.raises(av.error.FFmpegError):
        av.open(str(part / H.TRUNCATED)).close()
    with pytest.raises(av.error.FFmpegError):
        av.open(str(part / H.TEXT)).close()
    with av.open(str(part / H.AUDIO_ONLY)) as c:
        assert not c.streams.video and c.streams.audio
    assert expected[H.MISSING] == "missing" and H.MISSING in meta and not (part / H.MISSING).exists()
    assert expected[H.UNLISTED] == "unlisted" and H.UNLISTED not in meta and decode(part / H.UNLISTED)
    for key in (H.ESCAPE, H.ABSOLUTE, H.SUBDIR, H.MAYBE):
        assert expected[key] == "rejected" and key in meta
    assert meta[H.MAYBE]["label"] == "MAYBE"
    assert expected[H.ORPHAN_FAKE] == "ok" and meta[H.ORPHAN_FAKE]["original"] not in meta
    assert expected[H.UNICODE] == "ok" and decode(part / H.UNICODE)
    with av.open(str(part / H.PORTRAIT_NO_AUDIO)) as c:
        assert not c.streams.audio and c.streams.video[0].height > c.streams.video[0].width
    assert expected[H.PORTRAIT_NO_AUDIO] == "ok"
    assert not list(part.rglob(".tmp-*"))
