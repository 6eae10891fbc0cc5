"""The dataset's concepts (dfprep.dataset): families, metadata parsing, clip windows; and that every stage
uses them: orphan and FAKE-of-FAKE fakes never span splits, and the report and shards agree on families."""
from __future__ import annotations

import json

import numpy as np
import pyarrow.dataset as ds
import pytest

from dfprep.dataset import (MetadataError, Status, VideoEntry, clip_windows, family_ids, metadata_entries,
                            read_metadata)


def row(part, video, label, original=None):
    return {"part": part, "video": video, "label": label, "original": original}


def test_family_rules():
    rows = [row(0, "r.mp4", "REAL"),
            row(0, "f.mp4", "FAKE", "r.mp4"),
            row(0, "ff.mp4", "FAKE", "f.mp4"),          # a FAKE of a FAKE: its grandparent's family
            row(0, "fff.mp4", "FAKE", "ff.mp4"),
            row(0, "o1.mp4", "FAKE", "gone.mp4"),       # two orphans of one missing original: one family
            row(0, "o2.mp4", "FAKE", "gone.mp4"),
            row(0, "o3.mp4", "FAKE", "o1.mp4"),         # and a FAKE of an orphan joins them
            row(0, "lone.mp4", "FAKE", None),           # no original at all: its own family
            row(1, "g.mp4", "FAKE", "r.mp4"),           # r.mp4 is only in part 0: found there
            row(1, "h.mp4", "FAKE", "gone.mp4"),        # a missing original in another part: that part's family
            row(0, "c1.mp4", "FAKE", "c2.mp4"),         # a cycle of FAKEs: one family, its smallest member
            row(0, "c2.mp4", "FAKE", "c1.mp4"),
            row(0, "c0.mp4", "FAKE", "c2.mp4"),
            row(0, "x.mp4", None, "r.mp4")]              # not a FAKE (rejected label): its own family
    fam = family_ids(rows)
    assert fam[(0, "r.mp4")] == fam[(0, "f.mp4")] == fam[(0, "ff.mp4")] == fam[(0, "fff.mp4")] == "p0/r.mp4"
    assert fam[(1, "g.mp4")] == "p0/r.mp4"
    assert fam[(0, "o1.mp4")] == fam[(0, "o2.mp4")] == fam[(0, "o3.mp4")] == "p0/gone.mp4"
    assert fam[(1, "h.mp4")] == "p1/gone.mp4"
    assert fam[(0, "lone.mp4")] == "p0/lone.mp4"
    assert fam[(0, "c1.mp4")] == fam[(0, "c2.mp4")] == fam[(0, "c0.mp4")] == "p0/c1.mp4"
    assert fam[(0, "x.mp4")] == "p0/x.mp4"
    # order of the rows does not matter
    assert family_ids(reversed(rows)) == fam


def test_metadata_parsing(tmp_path):
    p = tmp_path / "metadata.json"
    p.write_text('{"a.mp4": {"label": "FAKE", "original": "b.mp4", "split": "train"}, "b.mp4": {"label": "REAL"},'
                 '"c.mp4": {"label": ["REAL"]}, "../d.mp4": {"label": "REAL"}, "e.mp4": 3,'
                 '"b.mp4": {"label": "REAL", "original": "z.mp4"}}')
    data, dupes = read_metadata(p)
    assert dupes == ["b.mp4"]
    got = {e.video: e for e in metadata_entries(data, 4)}
    assert got["a.mp4"] == VideoEntry("a.mp4", 4, label="FAKE", original="b.mp4", split="train")
    assert got["a.mp4"].status is Status.PENDING and got["a.mp4"].dataset == "dfdc"
    assert got["b.mp4"].original is None and "ignored" in got["b.mp4"].warning
    assert got["c.mp4"].status is Status.REJECTED and "not REAL or FAKE" in got["c.mp4"].error
    assert got["../d.mp4"].status is Status.REJECTED and "never opened" in got["../d.mp4"].error
    assert got["e.mp4"].status is Status.REJECTED
    for text, word in (("[1]", "not a JSON object"), ("{", "not valid JSON")):
        p.write_text(text)
        with pytest.raises(MetadataError, match=word):
            read_metadata(p)
    with pytest.raises(MetadataError, match="missing"):
        read_metadata(tmp_path / "absent.json")


def test_clip_windows():
    groups = np.array([1, 0, 1, 1, 0, 1, 1])
    frames = np.array([5, 5, 0, 9, 9, 3, 7])
    assert clip_windows(groups, frames, 2).tolist() == [[1, 4], [2, 5], [0, 6]]
    assert clip_windows(groups, frames, 3).tolist() == [[2, 5, 0]]
    assert clip_windows(groups[:0], frames[:0], 2).shape == (0, 2)


@pytest.fixture(scope="module")
def chained_work(tmp_path_factory):
    """A synth corpus whose metadata gains orphan FAKEs (of a REAL left out of the data) and FAKE-of-FAKE
    entries, ingested: the real shapes of DFDC subsets (a part's REAL not ingested) and of re-faked fakes."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest
    from dfprep.synth import SynthConfig, make_corpus

    root = tmp_path_factory.mktemp("chain")
    make_corpus(root, SynthConfig(parts=1, videos=12, duration=1.0, fps=8, seed=11))
    meta_path = root / "dfdc_train_part_0" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    reals = sorted(k for k, v in meta.items() if v["label"] == "REAL")
    fakes = sorted(k for k, v in meta.items() if v["label"] == "FAKE")
    gone = reals[0]                                   # its fakes become orphans: the REAL leaves the data
    del meta[gone]
    (root / "dfdc_train_part_0" / gone).unlink()
    orphans = [k for k in fakes if meta[k]["original"] == gone]
    chained = [k for k in fakes if meta[k]["original"] != gone][:2]
    meta[chained[1]]["original"] = chained[0]        # a FAKE of a FAKE
    meta_path.write_text(json.dumps(meta))
    work = tmp_path_factory.mktemp("chain_work")
    ingest(root, work, IngestConfig(frames=4, num_cpus=2, progress=False))
    return {"root": root, "work": work, "gone": gone, "orphans": orphans, "chained": chained}


def test_orphans_and_fake_of_fake_never_span_splits_and_report_agrees(chained_work, tmp_path):
    from dfprep.analysis.run import analyze
    from dfprep.shards import ShardsConfig, make_shards

    c = chained_work
    assert len(c["orphans"]) >= 2, "the synth part should give the removed REAL several fakes"
    videos = ds.dataset(c["work"] / "videos.parquet").to_table().to_pylist()
    truth = family_ids(videos)
    assert len({truth[(0, o)] for o in c["orphans"]}) == 1
    assert truth[(0, c["chained"][1])] == truth[(0, c["chained"][0])]
    for seed in range(4):           # several seeds: a wrong family would land apart under one of them
        out = tmp_path / f"s{seed}"
        make_shards(c["work"], out, ShardsConfig(split="0.34,0.33,0.33", seed=seed, samples_per_shard=16,
                                                  use_ray=False, progress=False))
        fam = ds.dataset(out / "families.parquet").to_table().to_pylist()
        split_of_family: dict[str, set] = {}
        for r in fam:
            assert r["family"] == truth[(r["part"], r["video"])]
            split_of_family.setdefault(r["family"], set()).add(r["split"])
        assert all(len(s) == 1 for s in split_of_family.values()), split_of_family
    analyze(c["work"], out=tmp_path / "report", augment_preview=False)
    stats = json.loads((tmp_path / "report" / "stats.json").read_text())
    fams = stats["labels"]["families"]
    assert fams["families"] == len(set(truth.values()))
    missing = {v["video"]: v for v in fams["fakes_original_missing"]["videos"]}
    for o in c["orphans"]:
        assert missing[o]["family"] == truth[(0, o)]
    assert fams["fakes_of_fakes"] == 1


def test_video_entry_row_is_the_manifest_row_without_stamps(tmp_path):
    """A VideoEntry's videos.parquet row: its ROW_FIELDS (its dataset and description included since issue 24),
    status as written (a plain str), the file's stamps left out."""
    from dfprep.dataset import ROW_FIELDS, file_entry
    from dfprep.formats.work.videos import VIDEO_SCHEMA, video_row

    e = VideoEntry("a.mp4", 3, label="FAKE", original="b.mp4", split="train", path="/r/a.mp4", status="pending",
                   size=10, mtime_ns=5)
    assert e.status is Status.PENDING                            # a string from a caller becomes the member
    row = video_row(e, status=Status.ERROR, error="bad")
    assert list(row) == VIDEO_SCHEMA.names and type(row["status"]) is str and row["status"] == "error"
    assert {k: row[k] for k in ROW_FIELDS} == {**e.row_fields(), "status": "error", "error": "bad"}
    assert "size" not in row and "mtime_ns" not in row and "path" not in row and row["dataset"] == "dfdc"
    f = file_entry(tmp_path / "dfdc_train_part_7" / "x.mp4")
    assert (f.video, f.part, f.dataset, f.status, f.path) == ("x.mp4", 7, "dfdc", Status.PENDING,
                                                             str(tmp_path / "dfdc_train_part_7" / "x.mp4"))
    assert file_entry(tmp_path / "x.mp4").part == 0
