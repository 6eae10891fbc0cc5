"""The shard writer's plain core, without Ray: `writer.write_shard` given a `ShardSpec` of a real plan writes a
tar that the `webdataset` library reads back as the spec's samples (members named by `formats.shards`, the face
store's JPEG bytes), equal byte for byte to what `webdataset.TarWriter` writes for the same samples, as
`tarstream` promises; and `tarstream.iter_members` reads back exactly what `SampleTarWriter` wrote.
"""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from dfprep.formats.shards import member_names, sample_members
from dfprep.shards.layout import make_plan
from dfprep.shards.samples import ShardSpec, spec_samples
from dfprep.shards.tarstream import SampleTarWriter, iter_members
from dfprep.shards.writer import TAR_MODE, TAR_MTIME, TAR_OWNER, write_shard
from shards_util import cfg, write_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_store(tmp_path_factory.mktemp("tar_writer") / "work", parts=2, families=5)


def _raw_samples(path) -> list[dict]:
    """The shard's samples as webdataset reads them, undecoded, in file order."""
    return [{k: v for k, v in s.items() if k != "__url__" and k != "__local_path__"}
            for s in wds.WebDataset(str(path), shardshuffle=False, empty_check=False)]


def _store_jpegs(work) -> dict[tuple, bytes]:
    t = pq.read_table(work / "faces.parquet", columns=["part", "video", "frame_idx", "track_id", "jpeg"])
    return {(r["part"], r["video"], r["frame_idx"], r["track_id"]): r["jpeg"] for r in t.to_pylist()}


@pytest.mark.parametrize("unit", ["frame", "clip"])
def test_write_shard_is_read_back_by_webdataset_as_its_spec(store, tmp_path, unit):
    plan = make_plan(store, cfg(unit=unit, clip_len=2, augment="off", samples_per_shard=12))
    spec = plan.shard_spec("train", 0)
    assert isinstance(spec, ShardSpec) and spec.name == "train-000000.tar" and spec.unit == unit
    entry = write_shard(spec, store, tmp_path / spec.name)
    data = (tmp_path / spec.name).read_bytes()
    assert entry["n_samples"] == len(spec.video) == len(plan.splits["train"].shards[0]) > 0
    assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert not list(tmp_path.glob(".tmp-*"))                # written to a temporary name, then renamed

    want = spec_samples(spec)
    got = _raw_samples(tmp_path / spec.name)
    jpegs = _store_jpegs(store)
    assert [s["__key__"] for s in got] == [s["key"] for s in want]
    members = member_names(unit, 2)
    for s, w in zip(got, want):
        assert sorted(k for k in s if not k.startswith("__")) == sorted(members)
        meta = json.loads(s["json"])
        assert (meta["video"], meta["part"], meta["label"]) == (w["video"], w["part"], w["label"])
        assert int(s["cls"]) == (w["label"] == "FAKE") and entry["n_fake"] == sum(
            x["label"] == "FAKE" for x in want)
        images = [m for m in members if m.endswith("jpg")]
        for m, c in zip(images, w["crops"]):                # not augmented: the face store's bytes
            assert s[m] == jpegs[(w["part"], w["video"], c["frame_idx"], c["track_id"])]

    # webdataset's own writer, given the same samples and owner/mtime/mode, writes the same bytes
    ref = io.BytesIO()
    with wds.TarWriter(ref, encoder=False, mtime=TAR_MTIME, user=TAR_OWNER, group=TAR_OWNER, mode=TAR_MODE) as w:
        for s in got:
            w.write(s)
    assert ref.getvalue() == data
    # and the same spec, written again, gives the same bytes (a resumed run compares sha256)
    again = write_shard(spec, store, tmp_path / "again.tar")
    assert again["sha256"] == entry["sha256"]


def test_sample_tar_writer_round_trips_through_the_strict_reader():
    rng = np.random.default_rng(0)
    samples = [sample_members(f"k{i}", [rng.bytes(n) for n in sizes], "FAKE" if i % 2 else "REAL",
                              json.dumps({"i": i}).encode(), clip=len(sizes) > 1)
               for i, sizes in enumerate([[0], [511], [512, 513], [10_239, 1, 20_000]])]
    outs = []
    for chunk in (1, 700, 1 << 20):                         # buffering never changes the bytes
        buf = io.BytesIO()
        w = SampleTarWriter(buf, mtime=0, user="dfprep", group="dfprep", chunk=chunk)
        for s in samples:
            w.write(s)
        w.close()
        outs.append(buf.getvalue())
        assert w.offset == len(buf.getvalue()) and len(buf.getvalue()) % 10240 == 0
    assert outs[0] == outs[1] == outs[2]
    got = list(iter_members(io.BytesIO(outs[0])))
    want = [(f"{s['__key__']}.{ext}", s[ext]) for s in samples for ext in sorted(s) if not ext.startswith("_")]
    assert got == want
    assert [n for n, _ in got[:3]] == ["k0.cls", "k0.jpg", "k0.json"]
    assert [n for n, _ in got if n.startswith("k2.")] == ["k2.000.jpg", "k2.001.jpg", "k2.cls", "k2.json"]


def test_sample_tar_writer_equals_tarwriter_wherever_the_archive_ends_in_its_record():
    """The end-of-archive padding for every end position within a 10240-byte record (one sample whose image
    grows by a block at a time). Before: an archive whose members ended 512 bytes before a record boundary
    was padded 512 bytes short of tarfile's (the padding was cut from a one-record buffer)."""
    for size in range(0, 10240 + 512, 512):
        sample = sample_members("k", [bytes(range(256)) * (size // 256) + b"x" * (size % 256)], "REAL", b"{}",
                                clip=False)
        ref, fast = io.BytesIO(), io.BytesIO()
        w = wds.TarWriter(ref, encoder=False, mtime=0, user="dfprep", group="dfprep", mode=0o444)
        w.write(sample)
        w.close()
        f = SampleTarWriter(fast, mtime=0, user="dfprep", group="dfprep", mode=0o444)
        f.write(sample)
        f.close()
        assert fast.getvalue() == ref.getvalue(), size
        assert f.offset == len(fast.getvalue())
