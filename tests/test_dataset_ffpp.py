"""FaceForensics++ / DFD layout (`dfprep.datasets.ffpp`) on real files: a synthetic FF++ tree (`dfprep synth
--layout ffpp`) read back against its truth, ingested end to end, the identity leak from a conversion dict, the
real FF++ c23 pair 519 / 519_515, and hostile entries."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dfprep.dataset import Status, dataset_part
from dfprep.datasets.base import DiscoverOptions
from dfprep.datasets.discover import discover_roots
from dfprep.datasets.ffpp_data import SHIPPED, identity_leaks, load_tables

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
TRUTH_FIELDS = ("dataset", "label", "original", "method", "compression", "split", "identity", "source_identity")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    """A tiny synthetic FF++ download tree (c23, several methods, masks, a DFD part) and its synth.json."""
    from dfprep.synth.config import SynthConfig
    from dfprep.synth.layouts import WRITERS, layout_names

    layout_names()
    root = tmp_path_factory.mktemp("ffpp")
    WRITERS["ffpp"](root, SynthConfig(layout="ffpp", videos=6, duration=1, fps=8, size="160x120", workers=2))
    return root, json.loads((root / "synth.json").read_text())


def test_discover_reads_back_every_file_as_its_truth(corpus):
    root, synth = corpus
    finds, entries, problems = discover_roots([root])
    truth = synth["videos"]
    assert {e.video for e in entries} == set(truth)
    assert finds[0].layout == "ffpp" and finds[0].datasets == ["dfd", "ffpp"]
    assert "original_sequences/" in finds[0].evidence and "levels read: c23" in finds[0].evidence
    for e in entries:
        t = truth[e.video]
        assert {f: getattr(e, f) for f in TRUTH_FIELDS} == {f: t[f] for f in TRUTH_FIELDS}, e.video
        assert e.status is Status.PENDING and e.path == str(root / e.video)
        assert e.part == dataset_part(e.dataset)
        mask = e.video.replace(f"/{e.compression}/videos/", "/masks/videos/")
        assert e.mask == (mask if e.label == "FAKE" and mask in synth["files"] else None), e.video


def test_splits_follow_the_official_pairs(corpus):
    """The pair rule, from the shipped tables: a real's split is its sequence's, a fake TTT_SSS's is the split
    both TTT and SSS are in; every fake's original is its target's file at its level; DFD has no split."""
    root, synth = corpus
    tab = load_tables(None)
    _, entries, _ = discover_roots([root], "ffpp")
    ffpp = [e for e in entries if e.dataset == "ffpp"]
    assert {e.split for e in ffpp} == {"train", "val", "test"}
    assert "FaceShifter" in {e.method for e in ffpp}
    for e in ffpp:
        stem = e.video.rsplit("/", 1)[1][:-4]
        if e.label == "REAL":
            assert e.split == tab.split_of[stem]
            continue
        target, source = stem.split("_")
        assert e.split == tab.split_of[target] == tab.split_of[source]
        assert sorted((target, source)) in [sorted(p) for p in tab.pairs[e.split]]
        assert e.original == f"original_sequences/youtube/{e.compression}/videos/{target}.mp4"
        assert e.original in {x.video for x in ffpp if x.label == "REAL"}
        assert e.identity == tab.identity(target) and e.source_identity == tab.identity(source)
    assert all(e.split is None for e in entries if e.dataset == "dfd")
    assert any(e.mask for e in entries if e.dataset == "dfd")
    assert not any(e.mask for e in ffpp if e.method == "FaceShifter")


def test_another_compression_level_finds_nothing_and_says_so(corpus):
    root, _ = corpus
    finds, entries, problems = discover_roots([root], opts=DiscoverOptions(compression="c40"))
    assert entries == []
    assert any("no FF++/DFD videos at level c40" in p and "c23" in p for p in problems)
    assert "levels read: none" in finds[0].evidence


def test_each_level_pairs_with_its_own_originals(tmp_path):
    """Two levels in one tree: a fake's original is at its own level; --compression keeps one level."""
    a, b = load_tables(None).pairs["val"][0]
    rels = [f"original_sequences/youtube/{c}/videos/{a}.mp4" for c in ("c23", "c40")] + \
        [f"manipulated_sequences/NeuralTextures/{c}/videos/{a}_{b}.mp4" for c in ("c23", "c40")] + \
        ["manipulated_sequences/NeuralTextures/masks/videos/" + f"{a}_{b}.mp4"]
    for rel in rels:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"not opened")
    # without --compression one level is read (c23): a sequence at two levels would be two families
    finds, entries, _ = discover_roots([tmp_path])
    assert "levels read: c23 (2); also present: c40" in finds[0].evidence
    assert sorted(e.video for e in entries) == sorted(r for r in rels[:4] if "/c23/" in r)
    fakes = {e.compression: e for e in entries if e.label == "FAKE"}
    assert fakes["c23"].original == rels[0] and fakes["c23"].mask == rels[-1]
    assert {e.split for e in entries} == {"val"}
    _, only, _ = discover_roots([tmp_path], opts=DiscoverOptions(compression="c40"))
    assert sorted(e.video for e in only) == sorted(r for r in rels[:4] if "/c40/" in r)
    assert next(e for e in only if e.label == "FAKE").original == rels[1]        # its own level's original
    # a WORK that holds c23 already: reading c40 into it is said
    _, _, problems = discover_roots([tmp_path], opts=DiscoverOptions(compression="c40"),
                                    known={e.video for e in entries})
    assert any("already holds FF++/DFD at level c23" in p for p in problems)
    # several levels and no c23: give --compression
    for rel in rels[:4]:
        if "/c23/" in rel:
            (tmp_path / rel.replace("/c23/", "/raw/")).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).rename(tmp_path / rel.replace("/c23/", "/raw/"))
    from dfprep.datasets.base import LayoutError

    with pytest.raises(LayoutError, match="levels c40, raw are present; give --compression"):
        discover_roots([tmp_path])


def test_names_off_pattern_are_rejected_and_unknown_folders_reported(tmp_path):
    """Files break no run: a name off its folder's pattern is a rejected entry saying the pattern; a folder that
    is no FF++ method or level is one problem line, unread; a fake of no official pair has no split."""
    tab = load_tables(None)
    train = next(a for a, _ in tab.pairs["train"])
    test = next(a for a, _ in tab.pairs["test"])
    files = {
        "manipulated_sequences/Deepfakes/c23/videos/foo.mp4": "rejected",
        "original_sequences/youtube/c23/videos/12.mp4": "rejected",
        "manipulated_sequences/DeepFakeDetection/c23/videos/01__scene.mp4": "rejected",
        "manipulated_sequences/Deepfakes/c23/foo/000_003.mp4": "rejected",
        f"manipulated_sequences/Face2Face/c23/videos/{train}_{test}.mp4": "pending",
        "manipulated_sequences/FakeMethod/c23/videos/000_003.mp4": None,
        "original_sequences/youtube/c99/videos/000.mp4": None,
        "original_sequences/celebs/c23/videos/000.mp4": None,
    }
    for rel in files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"not opened")
    _, entries, problems = discover_roots([tmp_path])
    got = {e.video: e for e in entries}
    assert set(got) == {r for r, s in files.items() if s}
    for rel, status in files.items():
        if status == "rejected":
            assert got[rel].status is Status.REJECTED and got[rel].path is None
            assert "expected" in got[rel].error and rel in got[rel].error
    assert "TTT_SSS.mp4" in got["manipulated_sequences/Deepfakes/c23/videos/foo.mp4"].error
    assert "<target>_<source>__<scene>__<id>.mp4" in \
        got["manipulated_sequences/DeepFakeDetection/c23/videos/01__scene.mp4"].error
    off = got[f"manipulated_sequences/Face2Face/c23/videos/{train}_{test}.mp4"]
    assert off.split is None and off.label == "FAKE"
    assert any(off.video in p and "not a pair" in p for p in problems)
    assert any(p.startswith("manipulated_sequences/FakeMethod: not a FaceForensics++ method") for p in problems)
    assert any(p.startswith("original_sequences/youtube/c99: not a compression level") for p in problems)
    assert any(p.startswith("original_sequences/celebs: not an FF++ source") for p in problems)


def test_a_tree_in_a_bucket_reads_as_the_local_one(corpus, bucket):
    """The same tree uploaded to S3 (moto): auto-detected from one listing, the same entries at their URIs."""
    import pyarrow.fs as pafs

    root, _ = corpus
    pafs.copy_files(str(root), (bucket / "root").fs_path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=(bucket / "root").fs)
    local = discover_roots([root])
    remote = discover_roots([bucket / "root"])
    assert remote[0][0].evidence == local[0][0].evidence
    strip = [(e.video, e.row_fields(), e.size) for e in local[1]]
    assert [(e.video, e.row_fields(), e.size) for e in remote[1]] == strip
    assert all(e.path == str(bucket / "root" / e.video) for e in remote[1])


def _faceforensics_copy(folder: Path) -> Path:
    """A FaceForensics-like `dataset/` folder: 2/1/1 pairs; YouTube AAA behind 000 (train) and 004 (val), BBB
    behind 003 (train) and 006 (test), every other sequence its own."""
    splits = {"train": [["000", "001"], ["002", "003"]], "val": [["004", "005"]], "test": [["006", "007"]]}
    conv = {f"{i:03d}": f"yt{i:03d} 0" for i in range(8)}
    conv.update({"000": "AAA 0", "004": "AAA 1", "003": "BBB 0", "006": "BBB 1"})
    (folder / "dataset" / "splits").mkdir(parents=True)
    for name, pairs in splits.items():
        (folder / "dataset" / "splits" / f"{name}.json").write_text(json.dumps(pairs))
    (folder / "dataset" / "conversion_dict.json").write_text(json.dumps(conv))
    return folder


def test_identity_leak_reported_from_the_users_conversion_dict(tmp_path, monkeypatch):
    copy = _faceforensics_copy(tmp_path / "FaceForensics")
    root = tmp_path / "root"
    for rel in ("original_sequences/youtube/c23/videos/004.mp4", "manipulated_sequences/Deepfakes/c23/videos/004_005.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    monkeypatch.setenv("DFPREP_FFPP_SPLITS", str(copy))
    _, entries, problems = discover_roots([root])
    leak = [p for p in problems if "leaks identities" in p]
    assert len(leak) == 1 and "2 YouTube sources span two splits" in leak[0]
    assert "AAA: 000 train, 004 val" in leak[0] and "BBB: 003 train, 006 test" in leak[0]
    assert "--group identity" in leak[0]
    real, fake = sorted(entries, key=lambda e: e.label != "REAL")
    assert (real.split, real.identity) == ("val", "ffpp:AAA")
    assert (fake.split, fake.identity, fake.source_identity) == ("val", "ffpp:AAA", "ffpp:yt005")

    monkeypatch.delenv("DFPREP_FFPP_SPLITS")              # the same copy given as ingest's --ffpp-splits
    from dfprep.datasets.base import DiscoverOptions

    _, again, problems2 = discover_roots([root], opts=DiscoverOptions(ffpp_splits=str(copy)))
    assert [p for p in problems2 if "leaks identities" in p] == leak and again == entries

    monkeypatch.setenv("DFPREP_FFPP_SPLITS", str(tmp_path / "nowhere"))
    from dfprep.datasets.common import DatasetFileError

    with pytest.raises(DatasetFileError, match="no FaceForensics split files"):
        discover_roots([root])


def test_shipped_tables_leak_seven_youtube_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("DFPREP_FFPP_SPLITS", raising=False)
    tab = load_tables(None)
    leaks = identity_leaks(tab)
    assert len(leaks) == 7
    assert all(len({tab.split_of[s] for s in seqs}) > 1 for seqs in leaks.values())
    rel = tmp_path / "original_sequences/youtube/c40/videos/000.mp4"
    rel.parent.mkdir(parents=True)
    rel.write_bytes(b"x")
    _, _, problems = discover_roots([tmp_path])
    assert any("7 YouTube sources span two splits" in p for p in problems)


@pytest.fixture(scope="module")
def ingested(corpus, tmp_path_factory) -> tuple[Path, dict, str]:
    """The synthetic tree (copied) with a FIFO named like an FF++ real added, ingested without faces."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    src, synth = corpus
    root = tmp_path_factory.mktemp("ffpp_fifo") / "root"
    shutil.copytree(src, root)
    fifo = "original_sequences/youtube/c23/videos/999.mp4"
    assert fifo not in synth["videos"]
    os.mkfifo(root / fifo)
    work = tmp_path_factory.mktemp("ffpp_work")
    ingest(root, work, IngestConfig(faces=False, num_cpus=2, progress=False))
    return work, synth, fifo


def test_ingest_rows_carry_the_truth(ingested):
    from dfprep.formats.work.videos import read_videos

    work, synth, fifo = ingested
    rows = {r["video"]: r for r in read_videos(work).to_pylist()}
    assert set(rows) == set(synth["videos"]) | {fifo}
    for name, t in synth["videos"].items():
        r = rows[name]
        assert r["status"] == "ok", (name, r["error"])
        assert {f: r[f] for f in TRUTH_FIELDS} == {f: t[f] for f in TRUTH_FIELDS}, name
        assert r["part"] == dataset_part(t["dataset"])
    assert {r["dataset"] for r in rows.values()} == {"ffpp", "dfd"}


def test_a_fifo_under_an_ffpp_folder_is_its_own_error_row(ingested):
    from dfprep.formats.work.videos import read_videos

    work, _, fifo = ingested
    row = next(r for r in read_videos(work).to_pylist() if r["video"] == fifo)
    assert row["status"] == "error" and row["dataset"] == "ffpp" and row["label"] == "REAL"
    assert "not a regular file (fifo)" in row["error"]


def test_real_ffpp_c23_pair(tmp_path):
    """FF++'s own 519.mp4 and its Deepfakes fake 519_515.mp4, symlinked into an FF++ tree: labels, original,
    method, level and the official split of pair (519, 515) from the shipped tables; faces found in both."""
    if not all((REAL_DATA / n).is_file() for n in ("519.mp4", "519_515.mp4")):
        pytest.skip(f"needs FF++'s 519.mp4 and 519_515.mp4 in {REAL_DATA} (../shared/data/real beside the "
                    "repository); a clone alone does not have them")
    from dfprep.formats.work.videos import read_videos
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    real, fake = "original_sequences/youtube/c23/videos/519.mp4", "manipulated_sequences/Deepfakes/c23/videos/519_515.mp4"
    root = tmp_path / "FF++"
    for rel, src in ((real, "519.mp4"), (fake, "519_515.mp4")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(REAL_DATA / src)
    _, entries, _ = discover_roots([root])          # symlinks leaving ROOT: rejected unless followed
    assert [e.status for e in entries] == [Status.REJECTED, Status.REJECTED]

    work = tmp_path / "work"
    ingest(root, work, IngestConfig(follow_symlinks=True, frames=4, identity=False, num_cpus=2, progress=False))
    rows = {r["video"]: r for r in read_videos(work).to_pylist()}
    tab = load_tables(None)
    # the pair's split read from the shipped split files themselves, not through the code under test
    shipped = {name: json.loads((SHIPPED / f"{name}.json").read_text()) for name in ("train", "val", "test")}
    split = next(name for name, pairs in shipped.items() if ["519", "515"] in pairs or ["515", "519"] in pairs)
    assert tab.pair_split("519", "515") == split
    assert rows[real]["label"] == "REAL" and rows[real]["split"] == split
    assert rows[fake]["label"] == "FAKE" and rows[fake]["original"] == real and rows[fake]["split"] == split
    assert rows[fake]["method"] == "Deepfakes" and rows[real]["method"] is None
    assert rows[real]["compression"] == rows[fake]["compression"] == "c23"
    assert rows[fake]["identity"] == tab.identity("519") and rows[fake]["source_identity"] == tab.identity("515")
    for r in rows.values():
        assert r["status"] == "ok" and r["dataset"] == "ffpp" and r["n_faces"] > 0, r


def test_two_sequences_of_one_split_that_are_no_pair_give_no_split():
    tab = load_tables(None)
    (a, b), (c, _) = tab.pairs["train"][:2]
    assert tab.pair_split(a, b) == tab.pair_split(b, a) == "train"
    assert tab.split_of[a] == tab.split_of[c] == "train" and tab.pair_split(a, c) is None
