"""Truncated files: every decoder gives the same frames or the same error, in any process, under any load.

The h264-bframes flake (issue 18, item 10) had two causes, each pinned here: x264's macroblock-tree ratecontrol
read memory it never wrote, so the test video's bytes (and which packet a 40% cut fell in) depended on what the
process had allocated before; and on some cuts pyav-nonref kept frames that pyav loses (a packet too short to
hold a picture, skipped with NONREF, is accepted in silence, while plain decoding stops at the decoder's error).
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from dfprep.ingest.decode import DECODERS, decode_sampled, sample_indices
from dfprep.ingest.probe import VideoError
from test_probe_decode import _CASES, _encode, _outcome, _same

_ENCODE_IN_A_FRESH_PROCESS = r"""
import hashlib, sys
from pathlib import Path
from test_probe_decode import _CASES, _encode, _pattern
from dfprep.synth.encode import sine, write_mp4
out = Path(sys.argv[1])
for case in sys.argv[2:]:
    if case == "synth":
        p = write_mp4(out / "synth.mp4", _pattern(48, 160, 120), 160, 120, 25, audio=sine(440, 2.0))
    elif case == "x264-with-mbtree":   # the test encoder's settings before the fix: x264's default ratecontrol
        p = _encode(out / "mbtree.mp4", options={"bf": "3", "b-pyramid": "normal", "x264-params": "mbtree=1"})
    else:
        fname, codec, options, extra, _ = _CASES[case]
        p = _encode(out / (case + fname), codec, options=options, **extra)
    print(case, hashlib.sha256(p.read_bytes()).hexdigest())
"""


def _hashes_in_a_fresh_process(out: Path, perturb: int, cases: list[str]) -> dict[str, str]:
    """sha256 per case, encoded in a new interpreter whose fresh heap memory reads as `perturb` (glibc)."""
    out.mkdir()
    env = {**os.environ, "MALLOC_PERTURB_": str(perturb),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-c", _ENCODE_IN_A_FRESH_PROCESS, str(out), *cases],
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return dict(line.split() for line in res.stdout.splitlines())


def test_test_videos_are_byte_identical_whatever_the_process_allocated_before(tmp_path):
    """Two interpreters whose unwritten heap memory differs (MALLOC_PERTURB_) encode the same bytes."""
    cases = [c for c, (_, codec, *_rest) in _CASES.items() if codec in av.codecs_available]
    cases += ["synth", "x264-with-mbtree"]
    a = _hashes_in_a_fresh_process(tmp_path / "a", 85, cases)
    b = _hashes_in_a_fresh_process(tmp_path / "b", 170, cases)
    if a.pop("x264-with-mbtree") == b.pop("x264-with-mbtree"):
        pytest.skip("this x264 gives one bitstream with mbtree too: MALLOC_PERTURB_ shows nothing to pin here")
    assert a == b, {c: (a[c][:12], b[c][:12]) for c in a if a[c] != b[c]}


def _packets(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as c:
        return [(p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]


@pytest.mark.parametrize("case", ["h264-bframes", "h264-vfr", "h264-bframes-mkv", "hevc-bframes"])
def test_nonref_agrees_with_pyav_at_every_truncation(tmp_path, case):
    """Cut inside every packet: before its first NAL is whole (no picture at all) and half way (half a picture).
    pyav-nonref gives pyav's frames or pyav's error; a mp4 cut short is a corrupt packet that sends it to pyav."""
    fname, codec, options, extra, _ = _CASES[case]
    path = _encode(tmp_path / fname, codec, options=options, **extra)
    data = path.read_bytes()
    packets = _packets(path)
    idx = sample_indices(len(packets), 8)
    trunc = tmp_path / f"trunc{path.suffix}"
    fallbacks = set()
    for pos, size in packets[1:]:
        for cut in (pos + 2, pos + size // 2):
            trunc.write_bytes(data[:cut])
            stats = {}
            got = _outcome(DECODERS["pyav-nonref"], trunc, idx, stats=stats)
            assert _same(got, _outcome(DECODERS["pyav"], trunc, idx)), (cut, stats)
            fallbacks.add((stats["fallback"] or "none").split(" (")[0])
    if path.suffix == ".mp4":   # the mov demuxer flags a short read: the cuts inside a packet ran pyav
        assert "corrupt packet" in fallbacks, fallbacks


def test_decord_refuses_a_truncated_mp4_and_ingest_gets_pyavs_frames(tmp_path):
    """decord cannot open a mp4 whose last packet is cut short; decode_sampled then decodes with pyav."""
    fname, codec, options, extra, _ = _CASES["h264-bframes"]
    path = _encode(tmp_path / fname, codec, options=options, **extra)
    pos, size = _packets(path)[30]
    trunc = tmp_path / "trunc.mp4"
    trunc.write_bytes(path.read_bytes()[:pos + size // 2])
    idx = np.arange(12)            # all of them decoded before the cut (packet 30 is displayed after frame 25)
    with pytest.raises(VideoError, match="decord cannot open"):
        DECODERS["decord"](trunc, idx, 1)
    frames, used = decode_sampled(trunc, idx, backend="decord")
    assert used == "pyav" and np.array_equal(frames, DECODERS["pyav"](trunc, idx, 1))
    assert np.array_equal(frames, decode_sampled(trunc, idx)[0])             # the default, pyav-nonref


def _spin(barrier, stop) -> None:
    barrier.wait()
    x = 0
    while not stop.is_set():
        x = (x * 1103515245 + 12345) % 2**31


def _digest(outcome) -> str:
    return hashlib.sha256(outcome.tobytes()).hexdigest() if isinstance(outcome, np.ndarray) else str(outcome)


def test_truncated_decode_is_the_same_under_cpu_load_and_any_thread_count(tmp_path):
    """Frame threads (pyav with threads > 1) on a damaged stream: no result that depends on scheduling."""
    fname, codec, options, extra, _ = _CASES["h264-bframes"]
    path = _encode(tmp_path / fname, codec, options=options, **extra)
    packets = _packets(path)
    data = path.read_bytes()
    cuts = [packets[k][0] + 2 for k in (8, 16, 33)] + [packets[k][0] + packets[k][1] // 2 for k in (12, 40)]
    ctx = mp.get_context("spawn")
    barrier, stop = ctx.Barrier(3), ctx.Event()
    spinners = [ctx.Process(target=_spin, args=(barrier, stop)) for _ in range(2)]
    for p in spinners:
        p.start()
    try:
        barrier.wait(timeout=120)  # both cores busy from here on
        for n, cut in enumerate(cuts):
            trunc = tmp_path / f"trunc{n}.mp4"
            trunc.write_bytes(data[:cut])
            idx = np.arange(len(packets))
            seen = {_digest(_outcome(DECODERS[d], trunc, idx, t)) for d in ("pyav", "pyav-nonref")
                    for t in (1, 2, 4) for _ in range(3)}
            assert len(seen) == 1, (cut, seen)
    finally:
        stop.set()
        for p in spinners:
            p.join(timeout=30)


def _no_picture_at(k):
    """Replace packet k (an unsampled B-frame) by an access unit delimiter alone: a packet that holds no picture.
    Given in Annex B form (start code), which the mp4 muxer stores length-prefixed like the other packets."""
    def edit(packets):
        old = packets[k]
        new = av.Packet(b"\x00\x00\x00\x01\x09\xf0")
        new.pts, new.dts, new.duration, new.time_base, new.stream = old.pts, old.dts, old.duration, old.time_base, \
            old.stream
        packets[k] = new
    return edit


@pytest.mark.xfail(strict=True, reason="known limit: pyav-nonref cannot see an error in a picture it skips; in an "
                   "intact file, an unsampled non-reference packet that holds no picture stops pyav there (H.264 'no "
                   "frame'), while pyav-nonref skips it and returns the later frames")
def test_nonref_skipped_packet_without_a_picture(tmp_path):
    path = _encode(tmp_path / "v.mp4", options={"bf": "3", "b-pyramid": "normal"}, edit=_no_picture_at(20))
    idx = sample_indices(48, 8)
    assert _same(_outcome(DECODERS["pyav-nonref"], path, idx), _outcome(DECODERS["pyav"], path, idx))
