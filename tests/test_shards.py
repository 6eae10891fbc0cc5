"""`dfprep shards`: leak-free splits, balance ratios, augmentation, keys, byte-identical shards, resume, verify.

Most tests run on a synthetic face store in the faces.parquet format (`shards_util.write_store`: real JPEG
crops of skimage's astronaut, ~60 families over 4 parts, orphan fakes, two-track videos), because ratio and
leakage claims need many families; one end-to-end test runs ingest's output through the CLI on Ray.
Growing a SHARDS folder is tested in test_shards_grow.py.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import typer
import webdataset as wds
from PIL import Image
from typer.testing import CliRunner

from dfprep.augment import AUGMENTATIONS, DEFAULT_AUGMENTS, augment_image, augment_tensor
from dfprep.shards.balance import balance_split
from dfprep.cli import app as dfprep_app
from dfprep.shards.cli import shards_app
from dfprep.shards.config import ShardsConfig, ShardsUsageError, parse_ratio, parse_size, parse_split
from dfprep.shards.families import split_by_fraction
from dfprep.shards.run import make_shards
from dfprep.shards.samples import KEY_RE, sample_key, video_stem
from dfprep.shards.tarstream import SampleTarWriter
from dfprep.shards.verify import verify_shards
from shards_util import SPS, cfg, families_of, read_samples, shas, write_store


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def shards(store, tmp_path_factory) -> Path:
    """The default run (undersample 1:1, augment oversampled copies) on the synthetic store."""
    out = tmp_path_factory.mktemp("shards")
    make_shards(store, out, cfg())
    return out


# ---------------------------------------------------------------- keys, families, parsing

def test_keys_have_no_dots_and_are_unique():
    names = ["abc.mp4", "a.b.mp4", "a_b.mp4", "a b.mp4", "a.avi", "a.mp4", "é.mp4", "_.mp4", "x" * 300 + ".mp4",
             "x" * 300 + "y.mp4", "a-b.mp4", ".mp4", "a.MP4"]
    keys = [sample_key(p, v, f, t, r, c) for p in (0, 12) for v in names for f in (0, 12345) for t in (0, 1)
            for r in (0, 3) for c in (False, True)]
    assert len(set(keys)) == len(keys)
    assert all(KEY_RE.fullmatch(k) for k in keys)                         # no dots, [A-Za-z0-9_-] only
    assert max(len(k) + len(".json") for k in keys) <= 100                # fits a USTAR name field
    assert sample_key(3, "abcdefghij.mp4", 7, 1) == "p3_abcdefghij_f00007_t1"
    assert sample_key(3, "abcdefghij.mp4", 7, 1, repeat=2, clip=True) == "p3_abcdefghij_c00007_t1_r2"
    assert video_stem("a.b.mp4") != video_stem("a_b.mp4")


@pytest.mark.parametrize("sizes", [[0, 1, 511, 512, 513], [20_000, 3, 10_239, 10_240, 7]])
def test_sample_tar_writer_matches_webdataset_tarwriter(sizes):
    """The fast writer's bytes equal webdataset.TarWriter's for the same samples and owner/mtime/mode."""
    rng = np.random.default_rng(len(sizes))
    samples = [{"__key__": sample_key(i, f"vid{i}.mp4", i, 0, i % 2), "jpg": rng.bytes(n), "cls": b"1",
                "json": json.dumps({"i": i}).encode()} for i, n in enumerate(sizes)]
    ref, fast = io.BytesIO(), io.BytesIO()
    w = wds.TarWriter(ref, encoder=False, mtime=0, user="dfprep", group="dfprep", mode=0o444)
    for s in samples:
        w.write(s)
    w.close()
    f = SampleTarWriter(fast, mtime=0, user="dfprep", group="dfprep", mode=0o444, chunk=1000)
    for s in samples:
        f.write(s)
    f.close()
    assert fast.getvalue() == ref.getvalue() and f.offset == len(ref.getvalue())
    with pytest.raises(ValueError, match="100 bytes"):
        f.header("k" * 101, 1)


def test_split_by_fraction_is_seeded_and_follows_shares():
    sizes = {f"f{i}": int(s) for i, s in enumerate(np.random.default_rng(0).integers(1, 60, 400))}
    a = split_by_fraction(sizes, parse_split("6:2:2"), seed=5)
    assert a == split_by_fraction(sizes, parse_split("0.6,0.2,0.2"), seed=5)
    assert a != split_by_fraction(sizes, parse_split("6:2:2"), seed=6)
    total = sum(sizes.values())
    share = {s: sum(sizes[f] for f, x in a.items() if x == s) / total for s in ("train", "val", "test")}
    assert share == pytest.approx({"train": 0.6, "val": 0.2, "test": 0.2}, abs=0.02)


def test_option_parsing_errors():
    assert parse_split("8,1,1") == pytest.approx({"train": 0.8, "val": 0.1, "test": 0.1})
    assert parse_ratio("1:2") == (1.0, 2.0)
    assert parse_size("256MB") == 256_000_000 and parse_size("1GiB") == 2**30
    for bad in (dict(split="a,b"), dict(ratio="1-2"), dict(ratio="0:1"), dict(shard_size="lots"),
                dict(balance="smote"), dict(augment="some"), dict(unit="video"), dict(val_parts="3-1"),
                dict(val_parts="1", test_parts="1-2"), dict(augment_ops=("hflip", "warp"))):
        with pytest.raises(ShardsUsageError):
            ShardsConfig(**bad).validate()


def test_bad_work_is_named(tmp_path, store):
    with pytest.raises(ShardsUsageError, match="videos.parquet"):
        make_shards(tmp_path / "nowork", tmp_path / "out", cfg())
    work = tmp_path / "work"
    shutil.copytree(store, work)
    videos = pq.read_table(store / "videos.parquet")
    empty = tmp_path / "empty"
    (empty / "faces.parquet" / "part-0").mkdir(parents=True)
    (empty / "videos.parquet" / "part-0").mkdir(parents=True)
    pq.write_table(videos, empty / "videos.parquet" / "part-0" / "batch-00000.parquet")
    pq.write_table(pq.read_table(store / "faces.parquet").slice(0, 0),
                   empty / "faces.parquet" / "part-0" / "batch-00000.parquet")
    with pytest.raises(ShardsUsageError, match="no usable crop"):
        make_shards(empty, tmp_path / "out", cfg())
    victim = next((work / "faces.parquet").rglob("*.parquet"))
    victim.write_bytes(b"not parquet at all")
    from dfprep.formats.work.faces import FaceStoreError     # a corrupt face store is bad data (exit 1)

    with pytest.raises(FaceStoreError, match=victim.name):
        make_shards(work, tmp_path / "out", cfg())


# ---------------------------------------------------------------- balance

@pytest.mark.parametrize("ratio", ["1:1", "1:2", "2:3"])
def test_undersample_ratio_within_one_per_family(store, tmp_path, ratio):
    out = tmp_path / "s"
    index = make_shards(store, out, cfg(ratio=ratio, split="0.6,0.2,0.2")).index
    r, f = parse_ratio(ratio)
    train = read_samples(out, "train")
    labels = Counter(s["cls"] for s in train)
    fams = {s["meta"]["family"] for s in train}
    assert abs(labels[1] - labels[0] * f / r) <= len(fams)
    assert index["splits"]["train"]["real"] == labels[0] and index["splits"]["train"]["fake"] == labels[1]
    # every train family that had a fake crop still has one; no REAL was dropped (fakes are the majority)
    rows = families_of(out)
    had_fake = {x["family"] for x in rows if x["split"] == "train" and x["label"] == "FAKE" and x["n_crops"]}
    kept_fake = {s["meta"]["family"] for s in train if s["cls"] == 1}
    assert had_fake == kept_fake
    assert labels[0] == sum(x["n_crops"] for x in rows if x["split"] == "train" and x["label"] == "REAL")
    # val and test keep their natural distribution: every crop, no repeat, no augmentation
    for split in ("val", "test"):
        got = read_samples(out, split)
        assert len(got) == sum(x["n_crops"] for x in rows if x["split"] == split) > 0
        assert all(s["meta"]["repeat"] == 0 and not s["meta"]["augmentation"]["augmented"] for s in got)
    assert verify_shards(out, store) == []


def test_balance_eval_and_oversample(store, tmp_path):
    out = tmp_path / "s"
    make_shards(store, out, cfg(balance="oversample", balance_eval=True, ratio="1:2"))
    for split in ("train", "val", "test"):
        labels = Counter(s["cls"] for s in read_samples(out, split))
        assert labels[1] == pytest.approx(2 * labels[0], abs=1)             # oversampling hits the target
    train = read_samples(out, "train")
    repeats = [s for s in train if s["meta"]["repeat"] > 0]
    assert repeats and all(s["cls"] == 0 and s["__key__"].endswith(f"_r{s['meta']['repeat']}") for s in repeats)
    # each repeat is augmented, with its own parameters; originals are not (augment=oversampled)
    assert all(s["meta"]["augmentation"]["augmented"] for s in repeats)
    assert not any(s["meta"]["augmentation"]["augmented"] for s in train if s["meta"]["repeat"] == 0)
    seeds = [s["meta"]["augmentation"]["seed"] for s in repeats]
    assert len(set(seeds)) == len(seeds)
    originals = {s["__key__"]: s["jpg"] for s in train if s["meta"]["repeat"] == 0}
    changed = [s["jpg"] != originals[s["__key__"].rsplit("_r", 1)[0]] for s in repeats]
    assert sum(changed) >= 0.9 * len(changed)
    assert verify_shards(out, store) == []


def test_balance_split_core_keeps_every_family():
    rng = np.random.default_rng(0)
    fams = rng.integers(0, 50, 3000)
    labels = (rng.random(3000) < 0.85).astype(int)       # ~6 fakes per real, as in DFDC
    videos = fams * 10 + rng.integers(0, 5, 3000)
    idx, rep, info = balance_split(labels, fams, videos, "undersample", (1, 1), np.random.default_rng(1))
    kept = labels[idx]
    assert abs(kept.sum() - (kept == 0).sum()) <= 50
    assert set(fams[idx][kept == 1]) == set(fams[labels == 1])
    assert (rep == 0).all() and info["natural"] == {"real": int((labels == 0).sum()), "fake": int(labels.sum())}


# ---------------------------------------------------------------- splits, leakage

def test_no_family_crosses_splits(shards, store):
    rows = families_of(shards)
    split_of = defaultdict(set)
    for r in rows:
        split_of[r["family"]].add(r["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    for split in ("train", "val", "test"):
        for s in read_samples(shards, split):
            assert split_of[s["meta"]["family"]] == {split} == {s["meta"]["split"]}
    # families are dfprep.dataset's: a fake of a known REAL is in its REAL's family; the orphan fakes (original
    # gone.mp4, absent from the data) share one family named after it
    by_video = {(r["part"], r["video"]): r for r in rows}
    for r in rows:
        root = (r["part"], r["family"].split("/", 1)[1])
        if r["family"] != f"p{r['part']}/{r['video']}" and root in by_video:
            assert r["label"] == "FAKE" and by_video[root]["label"] == "REAL"
    orphans = [(r["part"], r["video"]) for r in pq.read_table(store / "videos.parquet").to_pylist()
               if r["original"] == "gone.mp4"]
    sharded = [o for o in orphans if o in by_video]          # orphans without crops have no row: not vacuous
    assert sharded and all(by_video[o]["family"] == f"p{o[0]}/gone.mp4" for o in sharded)
    # videos that are not ok, or not labelled, never reach a shard
    assert not any(r["video"].startswith(("bad", "unl")) for r in rows)


def test_split_by_parts(store, tmp_path):
    out = tmp_path / "s"
    make_shards(store, out, cfg(val_parts="2", test_parts="3"))
    for split, parts in (("train", {0, 1}), ("val", {2}), ("test", {3})):
        assert {s["meta"]["part"] for s in read_samples(out, split)} == parts


def test_shards_mix_videos_and_are_sized(shards):
    index = json.loads((shards / "index.json").read_text())
    train = index["splits"]["train"]
    assert len(train["shards"]) >= 8 and all(s["n_samples"] <= SPS for s in train["shards"])
    assert not any("train" in w for w in index["warnings"])
    for url in sorted(shards.glob("train-*.tar"))[:5]:
        videos = {s["json"]["video"] for s in wds.WebDataset(str(url), shardshuffle=False).decode()}
        assert len(videos) >= 4                        # a shard holds a mix of videos
    assert index["class_weights"]["REAL"] > 1 > index["class_weights"]["FAKE"]
    n = index["splits"]["train"]["balance"]["natural"]
    assert index["class_weights"]["REAL"] == pytest.approx((n["real"] + n["fake"]) / (2 * n["real"]), rel=1e-5)


# ---------------------------------------------------------------- determinism, resume

def test_same_seed_gives_byte_identical_shards(store, shards, tmp_path):
    again = tmp_path / "again"
    make_shards(store, again, cfg())
    assert shas(again) == shas(shards) and len(shas(shards)) > 8
    assert (again / "families.parquet").read_bytes() == (shards / "families.parquet").read_bytes()
    other = tmp_path / "other"
    make_shards(store, other, cfg(seed=1))
    assert shas(other) != shas(shards)
    with tarfile.open(next(shards.glob("train-*.tar"))) as tf:
        m = tf.getmembers()[0]
        assert (m.mtime, m.uname, m.uid) == (0, "dfprep", 0)


def test_resume_rewrites_only_what_is_missing_or_damaged(store, tmp_path):
    out = tmp_path / "s"
    first = make_shards(store, out, cfg(balance="oversample"))
    before = shas(out)
    names = sorted(before)
    (out / names[0]).unlink()
    damaged = bytearray((out / names[1]).read_bytes())
    damaged[2000] ^= 0x01
    (out / names[1]).write_bytes(bytes(damaged))
    (out / ".tmp-deadbeef-train-000009.tar").write_bytes(b"half")      # left by an interrupted run
    again = make_shards(store, out, cfg(balance="oversample"))
    assert again.written == 2 and again.reused == len(names) - 2
    assert shas(out) == before and not list(out.glob(".tmp-*"))
    assert again.index["splits"] == first.index["splits"]
    with pytest.raises(ShardsUsageError, match="other settings"):
        make_shards(store, out, cfg(seed=3))
    make_shards(store, out, cfg(seed=3), overwrite=True)
    assert shas(out) != before and verify_shards(out, store) == []


# ---------------------------------------------------------------- verify

def _rewrite(path: Path, samples: list[dict]) -> None:
    with open(path, "wb") as fh:
        w = wds.TarWriter(fh, encoder=False, mtime=0)
        for s in samples:
            w.write(s)
        w.close()


def _raw(path: Path) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "__url__"}
            for s in wds.WebDataset(str(path), shardshuffle=False)]


def _reindex(out: Path, name: str) -> None:
    """Make index.json agree with a rewritten shard (so only the planted fault remains)."""
    index = json.loads((out / "index.json").read_text())
    for split in index["splits"].values():
        for e in split["shards"]:
            if e["name"] == name:
                samples, data = _raw(out / name), (out / name).read_bytes()
                e.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                         n_samples=len(samples), n_real=sum(s["cls"] == b"0" for s in samples),
                         n_fake=sum(s["cls"] == b"1" for s in samples))
    (out / "index.json").write_text(json.dumps(index))


@pytest.fixture
def copy(shards, tmp_path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(shards, out)
    return out


def test_verify_passes_clean_shards(shards, store):
    assert verify_shards(shards, store, workers=2) == []


def test_verify_catches_truncated_shard(copy):
    import tarfile

    p = sorted(copy.glob("train-*.tar"))[2]
    data = p.read_bytes()
    with tarfile.open(p) as tf:                 # cut inside the data of a member in the middle of the shard
        members = tf.getmembers()
        m = max(members[len(members) // 2:], key=lambda m: m.size)
    p.write_bytes(data[:m.offset_data + m.size // 2])
    problems = "\n".join(verify_shards(copy))
    assert f"{p.name}: " in problems and "truncated" in problems and "sha256" in problems
    assert f"{p.name}: tar: " in problems and "read stopped after" in problems


def test_verify_catches_flipped_byte(copy):
    p = sorted(copy.glob("val-*.tar"))[0]
    data = bytearray(p.read_bytes())
    data[len(data) // 3] ^= 0x40
    p.write_bytes(bytes(data))
    problems = verify_shards(copy)
    assert any(p.name in x and "sha256" in x for x in problems)


def test_verify_catches_leaked_family(copy, store):
    train = sorted(copy.glob("train-*.tar"))[0]
    val = sorted(copy.glob("val-*.tar"))[0]
    leaked = _raw(train)[0]
    _rewrite(val, _raw(val) + [leaked])
    _reindex(copy, val.name)
    problems = "\n".join(verify_shards(copy))
    fam = json.loads(leaked["json"])["family"]
    assert f"leak: family {fam} has samples in splits ['train', 'val']" in problems
    assert f"sample {leaked['__key__']} in a val shard" in problems
    assert f"key {leaked['__key__']} appears 2 times" in problems


def test_verify_catches_leak_in_families_table(copy):
    t = pq.read_table(copy / "families.parquet").to_pylist()
    t[0]["split"] = "test" if t[0]["split"] != "test" else "val"
    pq.write_table(pq.read_table(copy / "families.parquet").from_pylist(t, schema=pq.read_schema(
        copy / "families.parquet")), copy / "families.parquet")
    problems = "\n".join(verify_shards(copy))
    assert f"leak: family {t[0]['family']} is in splits" in problems


def test_verify_catches_pickle_member_and_label_flip(copy, store):
    p = sorted(copy.glob("train-*.tar"))[1]
    samples = _raw(p)
    samples[0]["pyd"] = b"\x80\x04K\x01."                    # a pickle: reported by name, never loaded
    meta = json.loads(samples[1]["json"])
    flipped = "REAL" if meta["label"] == "FAKE" else "FAKE"
    meta["label"] = flipped
    samples[1]["json"] = json.dumps(meta).encode()
    samples[1]["cls"] = b"0" if flipped == "REAL" else b"1"
    _rewrite(p, samples)
    _reindex(copy, p.name)
    problems = "\n".join(verify_shards(copy, store))
    assert f"member '{samples[0]['__key__']}.pyd': extension 'pyd' not allowed" in problems
    assert f"sample {samples[1]['__key__']}: label {flipped}, the face store says" in problems
    assert "families.parquet says" in problems


def test_verify_catches_json_off_the_stable_schema(copy, store):
    """Every key, every type, no null: what lets readers that infer a schema per shard read them all."""
    p = sorted(copy.glob("train-*.tar"))[2]
    samples = _raw(p)
    edits = [lambda m: m.update(augmentation=None), lambda m: m.update(prob=1), lambda m: m.pop("repeat"),
             lambda m: m["augmentation"].update(seed=None), lambda m: m.update(box=[1.0, 2.0, 3.0])]
    for sample, edit in zip(samples, edits):
        meta = json.loads(sample["json"])
        edit(meta)
        sample["json"] = json.dumps(meta).encode()
    _rewrite(p, samples)
    _reindex(copy, p.name)
    problems = [x for x in verify_shards(copy, store) if ": json " in x]
    assert len(problems) == len(edits), problems
    assert all(f"sample {s['__key__']}: json" in "\n".join(problems) for s in samples[:len(edits)])


def test_augmentation_record_has_every_ops_parameter():
    """A new op (or a new parameter) must get its key in AUG_PARAMS, else the shard writer fails loudly."""
    from dfprep.shards.samples import AUG_PARAMS, augmentation_record

    empty = augmentation_record(None)
    assert empty["augmented"] is False and empty["ops"] == "" and not any(v for k, v in empty.items())
    x = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    for name in AUGMENTATIONS:
        _, params = augment_tensor(x, torch.Generator().manual_seed(4), (name,), 1.0)
        rec = augmentation_record({"seed": 4, "p": 1.0, **params})
        assert set(rec) == set(empty) and rec["ops"] == name and rec["augmented"]
        mapped = {param: key for (op, param), (key, _) in AUG_PARAMS.items() if op == name}
        assert set(mapped) == set(params["ops"][0]) - {"op"}
        assert all(rec[key] == params["ops"][0][param] for param, key in mapped.items())
        assert all(type(rec[k]) is type(empty[k]) for k in rec)
    with pytest.raises(KeyError):
        augmentation_record({"seed": 1, "p": 1.0, "ops": [{"op": "warp", "strength": 2.0}]})


def test_verify_catches_ratio_off_target(copy):
    index = json.loads((copy / "index.json").read_text())
    index["config"]["ratio"] = "1:3"
    (copy / "index.json").write_text(json.dumps(index))
    assert any(x.startswith("train ratio") for x in verify_shards(copy))


def test_verify_reports_missing_index(tmp_path):
    assert "index.json: not found" in verify_shards(tmp_path)[0]


def test_typed_index_reader(shards, tmp_path):
    from dfprep.formats.shards import read_shards_index

    index = json.loads((shards / "index.json").read_text())
    typed = read_shards_index(shards)
    assert typed.unit == "frame" and typed.clip_len is None and typed.work == index["source"]["work"]
    assert typed.splits["train"].samples == index["splits"]["train"]["samples"]
    assert [e.name for e in typed.splits["val"].shards] == [e["name"] for e in index["splits"]["val"]["shards"]]
    # a WORK that `dfprep ingest` did not write (no run.json, no _state.json): nothing recorded, said so
    assert typed.ingest is None and index["ingest"] is None
    assert any("crop settings are not recorded" in w for w in index["warnings"])
    for edit, key in ((lambda i: i["splits"]["train"].pop("real"), "splits.train.real"),
                      (lambda i: i["splits"]["val"]["shards"][0].update(n_samples="3"), "splits.val.shards[0].n_samples"),
                      (lambda i: i.update(ingest={"settings": {}, "fingerprint": "x"}), "ingest.settings.frames")):
        bad = json.loads(json.dumps(index))
        edit(bad)
        (tmp_path / "index.json").write_text(json.dumps(bad))
        with pytest.raises(ShardsUsageError) as err:
            read_shards_index(tmp_path)
        assert str(err.value).startswith(f"{tmp_path / 'index.json'}: key '{key}'") and "\n" not in str(err.value)


# ---------------------------------------------------------------- clips, reading back

def test_clip_unit(store, tmp_path):
    out = tmp_path / "clips"
    index = make_shards(store, out, cfg(unit="clip", clip_len=4, samples_per_shard=16,
                                    balance="oversample")).index
    assert index["members"] == ["000.jpg", "001.jpg", "002.jpg", "003.jpg", "cls", "json"]
    samples = read_samples(out, "train")
    assert samples and all(sorted(k for k in s if not k.startswith("__") and k != "meta") ==
                           index["members"] for s in samples)
    for s in samples:
        m = s["meta"]
        assert len(m["frame_idx"]) == 4 and m["frame_idx"] == sorted(m["frame_idx"])
        assert s["__key__"].startswith(f"p{m['part']}_") and f"_c{m['frame_idx'][0]:05d}_t{m['track_id']}" in \
            s["__key__"]
        assert all(Image.open(io.BytesIO(s[f"{i:03d}.jpg"])).size == (48, 48) for i in range(4))
    assert verify_shards(out, store) == []


def test_webdataset_reads_tensors(shards):
    urls = sorted(str(p) for p in shards.glob("train-*.tar"))
    ds = wds.WebDataset(urls, shardshuffle=False).decode("torchrgb").to_tuple("jpg", "cls")
    n = 0
    for x, y in ds:
        assert x.shape == (3, 48, 48) and x.dtype == torch.float32 and y in (0, 1)
        n += 1
    assert n == json.loads((shards / "index.json").read_text())["splits"]["train"]["samples"]


# ---------------------------------------------------------------- augmentation API

def test_augment_image_deterministic_and_recorded():
    from skimage import data

    img = Image.fromarray(data.astronaut()[:128, 200:328])
    a, pa_ = augment_image(img, seed=11)
    b, pb = augment_image(img, seed=11)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and pa_ == pb
    assert json.loads(json.dumps(pa_)) == pa_ and pa_["seed"] == 11
    assert {o["op"] for o in pa_["ops"]} <= set(DEFAULT_AUGMENTS)
    c, pc_ = augment_image(img, seed=12)
    assert pc_ != pa_
    same, p0 = augment_image(img, seed=3, p=0.0)
    assert np.array_equal(np.asarray(same), np.asarray(img)) and p0["ops"] == []
    for name in AUGMENTATIONS:
        out, p = augment_image(img, seed=5, names=(name,), p=1.0)
        assert [o["op"] for o in p["ops"]] == [name] and out.size == img.size
        assert not np.array_equal(np.asarray(out), np.asarray(img)), name


def test_augment_tensor_follows_the_generator():
    x = torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8)
    torch.manual_seed(123)                                   # the global RNG must not matter
    y1, p1 = augment_tensor(x, torch.Generator().manual_seed(9), p=1.0)
    torch.manual_seed(456)
    y2, p2 = augment_tensor(x, torch.Generator().manual_seed(9), p=1.0)
    assert torch.equal(y1, y2) and p1 == p2 and len(p1["ops"]) == len(DEFAULT_AUGMENTS)
    assert y1.dtype == torch.uint8 and y1.shape == x.shape
    with pytest.raises(ValueError):
        augment_tensor(x.float(), torch.Generator())
    with pytest.raises(KeyError):
        augment_tensor(x, torch.Generator(), names=("warp",), p=1.0)


# ---------------------------------------------------------------- end to end: ingest's WORK, CLI, Ray

def test_cli_end_to_end_on_ingest_work(ingest_work, tmp_path):
    out = tmp_path / "shards"
    runner = CliRunner()
    res = runner.invoke(dfprep_app, ["shards", str(ingest_work), "--out", str(out), "--samples-per-shard", "8",
                                     "--split", "0.5,0.5", "--num-cpus", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    index = json.loads((out / "index.json").read_text())
    faces = pq.read_table(ingest_work / "faces.parquet").to_pylist()
    assert index["source"]["crops"] == len(faces) > 0
    run = json.loads((ingest_work / "run.json").read_text())      # the ingest's settings, for predict and explain
    assert index["ingest"] == {"settings": run["settings"], "fingerprint": run["fingerprint"]}
    train = index["splits"]["train"]
    assert abs(train["fake"] - train["real"]) <= train["families"]          # 1:1 within one per family
    res = runner.invoke(dfprep_app, ["shards", "verify", str(out), "--work", str(ingest_work)])
    assert res.exit_code == 0 and "ok:" in res.output, res.output
    # mounted as the lead registers it: `dfprep shards verify S` and `dfprep shards WORK --out S` both parse
    parent = typer.Typer()
    parent.command("other")(lambda: None)
    parent.add_typer(shards_app, name="shards")
    res = runner.invoke(parent, ["shards", "verify", str(out)])
    assert res.exit_code == 0 and "ok:" in res.output, res.output
    res = runner.invoke(parent, ["shards", str(ingest_work), "--out", str(out), "--samples-per-shard", "8",
                                 "--split", "0.5,0.5", "--no-progress"])
    assert res.exit_code == 0 and "reused" in res.output, res.output
    # every sample's jpg is the face store's crop, byte for byte (no augmentation without oversampling)
    crops = {(r["part"], r["video"], r["frame_idx"], r["track_id"]): r for r in faces}
    for s in read_samples(out):
        m = s["meta"]
        row = crops[(m["part"], m["video"], m["frame_idx"], m["track_id"])]
        assert s["cls"] == ("REAL", "FAKE").index(row["label"])
        if not m["augmentation"]["augmented"]:
            assert s["jpg"] == row["jpeg"]
    victim = sorted(out.glob("train-*.tar"))[0]
    victim.write_bytes(victim.read_bytes()[:-1024])
    res = runner.invoke(dfprep_app, ["shards", "verify", str(out)])
    assert res.exit_code == 1 and victim.name in res.output
    res = runner.invoke(dfprep_app, ["shards", "--help"])
    assert res.exit_code == 0 and "verify" in res.output


# ---------------------------------------------------------------- every shard holds its split's class ratio

@pytest.mark.parametrize("balance", ["undersample", "oversample", "none"])
def test_every_shard_holds_its_splits_class_ratio(store, tmp_path, balance):
    """Streaming readers shuffle within a buffer: a shard of one class would give long one-class runs. Every
    shard of a split holds the split's REAL:FAKE ratio to within one sample per class plus rounding; and the
    shards stay byte-identical for a seed."""
    out = tmp_path / balance
    make_shards(store, out, cfg(balance=balance, augment="off"))
    for split in ("train", "val", "test"):
        per_shard = {}
        for s in read_samples(out, split):
            per_shard.setdefault(s["__url__"], []).append(s["cls"])
        if not per_shard:
            continue
        real = sum(c == 0 for v in per_shard.values() for c in v)
        total = sum(len(v) for v in per_shard.values())
        assert len(per_shard) >= 2, (split, "too few shards for the test to mean anything")
        for url, classes in per_shard.items():
            expect = len(classes) * real / total
            assert abs(sum(c == 0 for c in classes) - expect) <= 2, (balance, split, url, classes.count(0),
                                                                     len(classes), real, total)
    again = tmp_path / f"{balance}-again"
    make_shards(store, again, cfg(balance=balance, augment="off"))
    assert {p.name: p.read_bytes() for p in out.glob("*.tar")} == {p.name: p.read_bytes() for p in again.glob("*.tar")}
