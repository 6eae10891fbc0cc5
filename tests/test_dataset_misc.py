"""FakeAVCeleb, image folders and manifests, on real files from synth: each layout recognised, read back against
synth.json's truth, ingested end to end, and its hostile rows landing as rows."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from dfprep.dataset import Status, dataset_part
from dfprep.datasets.base import LayoutError
from dfprep.datasets.discover import discover_roots
from dfprep.datasets.registry import choose_layout
from dfprep.synth.config import SynthConfig
from layout_util import check_truth, ingest_rows

TINY = dict(videos=6, duration=1, fps=8, size="160x120", workers=2)


def synth(tmp_path_factory, layout: str, folder: str) -> tuple[Path, dict]:
    from dfprep.synth.layouts import WRITERS, layout_names

    layout_names()
    out = tmp_path_factory.mktemp(layout) / folder
    corpus = WRITERS[layout](out, SynthConfig(layout=layout, **TINY))
    assert json.loads((out / "synth.json").read_text())["videos"] == corpus.videos
    return out, corpus.videos


# --- FakeAVCeleb ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def favc(tmp_path_factory):
    return synth(tmp_path_factory, "fakeavceleb", "FakeAVCeleb_v1.2")


def test_fakeavceleb_read_back_against_truth(favc):
    root, truth = favc
    layout, evidence = choose_layout(root)
    assert layout.name == "fakeavceleb" and "RealVideo-RealAudio" in evidence
    _, entries, problems = discover_roots([root])
    assert problems == []
    check_truth({e.video: e for e in entries}, truth, Status.PENDING)
    kinds = {(t["label"], t["audio_label"]) for t in truth.values()}
    assert kinds == {("REAL", "REAL"), ("REAL", "FAKE"), ("FAKE", "REAL"), ("FAKE", "FAKE")}
    assert any(" (East)/" in v for v in truth)                 # the released race folders have spaces
    for t in truth.values():                                   # every fake's original is a real picture+audio
        if t["label"] == "FAKE":
            assert truth[t["original"]]["label"] == "REAL" and truth[t["original"]]["audio_label"] == "REAL"


def test_fakeavceleb_csv_with_a_filename_column(favc, tmp_path):
    """Some copies carry a fixed header (`...,gender,filename,path`): read by name, the same records."""
    src, truth = favc
    root = tmp_path / "favc"
    shutil.copytree(src, root)
    rows = list(csv.reader((root / "meta_data.csv").read_text().splitlines()))
    fixed = [["source", "target1", "target2", "method", "category", "type", "race", "gender", "filename", "path"]]
    (root / "meta_data.csv").write_text("\n".join(",".join(r) for r in fixed + rows[1:]) + "\n")
    _, entries, _ = discover_roots([root])
    check_truth({e.video: e for e in entries}, truth, Status.PENDING)


def test_fakeavceleb_trees_one_folder_down(favc, tmp_path):
    """The CSV's paths start with FakeAVCeleb/: a ROOT holding that folder (the CSV beside it) reads the same,
    its videos named by their paths inside ROOT."""
    src, truth = favc
    root = tmp_path / "download"
    shutil.copytree(src, root / "FakeAVCeleb", ignore=shutil.ignore_patterns("meta_data.csv", "synth.json"))
    shutil.copy(src / "meta_data.csv", root / "meta_data.csv")
    layout, evidence = choose_layout(root)
    assert layout.name == "fakeavceleb" and "FakeAVCeleb/" in evidence
    _, entries, problems = discover_roots([root])
    assert problems == []
    check_truth({e.video: e for e in entries},
                {f"FakeAVCeleb/{v}": {**t, "original": t["original"] and f"FakeAVCeleb/{t['original']}"}
                 for v, t in truth.items()}, Status.PENDING)


def test_fakeavceleb_ingest_with_hostile_rows(favc, tmp_path):
    src, truth = favc
    root = tmp_path / "FakeAVCeleb_v1.2"
    shutil.copytree(src, root)
    a_real = next(v for v, t in truth.items() if t["label"] == "REAL" and t["audio_label"] == "REAL")
    folder = a_real.rsplit("/", 1)[0]
    shutil.copy(root / a_real, root / folder / "99999.mp4")            # on disk, in no CSV row
    with open(root / "meta_data.csv", "a") as f:                       # a row whose file is absent
        f.write(f"id1,-,-,real,A,RealVideo-RealAudio,African,men,00001.mp4,FakeAVCeleb/{folder}\n")
    rows = ingest_rows(str(root), tmp_path)
    check_truth(rows, truth, "ok")
    assert rows[f"{folder}/00001.mp4"]["status"] == "missing"
    assert rows[f"{folder}/99999.mp4"]["status"] == "unlisted"
    assert {r["part"] for r in rows.values()} == {dataset_part("fakeavceleb")}


# --- image folders -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return synth(tmp_path_factory, "images", "Seed Faces v2")


def test_image_folders_read_back_and_ingest_as_one_frame(images, tmp_path):
    root, truth = images
    layout, evidence = choose_layout(root)
    assert layout.name == "images" and "Real/" in evidence
    assert {t["dataset"] for t in truth.values()} == {"seed-faces-v2"}
    assert {t["split"] for t in truth.values()} == {"train", "val", "test"}
    assert {v.rsplit(".", 1)[1] for v in truth} == {"png", "jpg"}
    _, entries, _ = discover_roots([root])
    check_truth({e.video: e for e in entries}, truth, Status.PENDING)
    rows = ingest_rows(str(root), tmp_path)
    check_truth(rows, truth, "ok")
    assert {rows[v]["n_frames"] for v in truth} == {1}


def test_image_outside_class_folders_is_unlisted(images, tmp_path):
    src, truth = images
    root = tmp_path / "imgs"
    shutil.copytree(src, root)
    one = next(iter(truth))
    (root / "misc").mkdir()
    shutil.copy(root / one, root / "misc" / "x.png")
    _, entries, _ = discover_roots([root])
    by = {e.video: e for e in entries}
    assert by["misc/x.png"].status is Status.UNLISTED and by["misc/x.png"].label is None
    assert {e.dataset for e in entries} == {"imgs"}


# --- manifests -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return synth(tmp_path_factory, "manifest", "mydata")


def test_manifest_read_back_against_truth(manifest):
    root, truth = manifest
    layout, evidence = choose_layout(root)
    assert layout.name == "manifest" and "manifest.csv" in evidence
    file_layout, _ = choose_layout(root / "manifest.csv")          # the file itself as ROOT
    assert file_layout.name == "manifest"
    for r in (root, root / "manifest.csv"):
        _, entries, problems = discover_roots([r])
        assert problems == []
        check_truth({e.video: e for e in entries}, truth, Status.PENDING)
    assert any(t["original"] for t in truth.values()) and {t["split"] for t in truth.values()} == {"train", "val",
                                                                                                      "test"}


def test_manifest_jsonl_hostile_rows_and_ingest(manifest, tmp_path):
    src, truth = manifest
    root = tmp_path / "Other Set"
    shutil.copytree(src, root)
    rows = list(csv.DictReader((root / "manifest.csv").read_text().splitlines()))
    (root / "manifest.csv").unlink()
    for r in rows:
        del r["dataset"]                                   # default: the manifest folder's name, sanitised
    real = rows[0]["path"]
    bad = [{"path": "../outside.mp4", "label": "REAL"}, {"path": "/abs/x.mp4", "label": "FAKE"},
           {"path": "s3://bucket/x.mp4", "label": "FAKE"}, {"path": real.replace(".mp4", "_b.mp4"), "label": "maybe"},
           {"label": "REAL"}, {"path": "videos/absent.mp4", "label": "0"},
           {"path": real.replace(".mp4", "_s.mp4"), "label": "1", "split": "holdout"}]
    text = "\n".join(json.dumps(r) for r in rows + bad) + "\nnot json\n"
    (root / "manifest.jsonl").write_text(text)
    got = ingest_rows(str(root), tmp_path)
    check_truth(got, {v: {**t, "dataset": "other-set"} for v, t in truth.items()}, "ok")
    rejected = {r["video"]: r["error"] for r in got.values() if r["status"] == "rejected"}
    assert len(rejected) == 7
    errors = " | ".join(rejected.values())
    for why in ("'../outside.mp4' leaves the manifest's folder", "'/abs/x.mp4' is absolute",
                "'s3://bucket/x.mp4' is a URI", "label 'maybe' is not REAL", "has no path",
                "split 'holdout' is not train", "is not valid JSON"):
        assert why in errors, why
    assert got["videos/absent.mp4"]["status"] == "missing"


def test_manifest_unreadable_is_one_line(tmp_path):
    from dfprep.datasets.common import DatasetFileError

    (tmp_path / "m.csv").write_text("file,class\na.mp4,REAL\n")
    with pytest.raises(DatasetFileError, match=r"m\.csv: the manifest's header has no path and label columns"):
        discover_roots([tmp_path / "m.csv"])
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DatasetFileError, match=r"bin\.jsonl: the manifest cannot be read"):
        discover_roots([tmp_path / "bin.jsonl"])


# --- no layout -----------------------------------------------------------------------------------------------------

def test_a_folder_matching_no_layout_is_one_line_naming_what_was_looked_for(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "clip.mp4").write_bytes(b"")
    with pytest.raises(LayoutError) as err:
        choose_layout(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "matches no dataset layout" in msg
    for name in ("dfdc-folder", "dfdc-test", "dfdc-preview", "fakeavceleb", "images", "manifest"):
        assert f"{name}: " in msg, name
    with pytest.raises(LayoutError, match="not a folder"):
        choose_layout(tmp_path / "nothing.mp4")


def test_manifest_in_object_storage(manifest, bucket):
    """A manifest (file or folder) in a bucket: its rows' files found by one listing, paths as URIs."""
    import pyarrow.fs as pafs

    src, truth = manifest
    pafs.copy_files(str(src), (bucket / "mydata").fs_path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=bucket.fs)
    text = (src / "manifest.csv").read_text() + "videos/real/gone.mp4,REAL,,,,,synth-manifest\n"
    (bucket / "mydata" / "manifest.csv").write_bytes(text.encode())
    for root in (bucket / "mydata", bucket / "mydata" / "manifest.csv"):
        finds, entries, _ = discover_roots([root])
        assert finds[0].layout == "manifest"
        check_truth({e.video: e for e in entries}, truth, Status.PENDING)
        by = {e.video: e for e in entries}
        assert by.pop("videos/real/gone.mp4").status is Status.MISSING
        assert all(e.path == str(bucket / "mydata" / v) for v, e in by.items())
