"""DFDC beyond its training parts, on real H.264 files from synth: a folder holding a metadata.json
(train_sample_videos), the public test set (labels.csv, 1 = FAKE), and the preview (dataset.json)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dfprep.dataset import Status, dataset_part
from dfprep.datasets.discover import discover_roots
from dfprep.datasets.registry import choose_layout
from dfprep.synth.config import SynthConfig
from layout_util import check_truth, ingest_rows

TINY = dict(videos=6, duration=1, fps=8, size="160x120", workers=2)


@pytest.fixture(scope="module")
def dfdc_part(tmp_path_factory) -> Path:
    from dfprep.synth import make_corpus

    root = tmp_path_factory.mktemp("dfdc")
    make_corpus(root, SynthConfig(parts=1, **TINY))
    return root / "dfdc_train_part_0"


def test_train_sample_videos_folder_is_ingested(dfdc_part, tmp_path):
    root = tmp_path / "train_sample_videos"
    shutil.copytree(dfdc_part, root)
    meta = json.loads((root / "metadata.json").read_text())
    layout, evidence = choose_layout(root)
    assert layout.name == "dfdc-folder" and "metadata.json" in evidence
    # hostile rows: a listed file that is absent, a bad label, a video no metadata lists
    first = next(iter(meta))
    shutil.copy(root / first, root / "zzunlisted.mp4")
    meta2 = {**meta, "absent.mp4": {"label": "REAL", "split": "train"},
             "badlabel.mp4": {"label": "MAYBE", "split": "train"}}
    shutil.copy(root / first, root / "badlabel.mp4")
    (root / "metadata.json").write_text(json.dumps(meta2))

    finds, entries, problems = discover_roots([root])
    assert finds[0].layout == "dfdc-folder"
    part = dataset_part("dfdc", "train_sample_videos")
    assert {e.part for e in entries} == {part} and {e.dataset for e in entries} == {"dfdc"}
    rows = ingest_rows(str(root), tmp_path)
    for name, m in meta.items():
        r = rows[name]
        assert (r["status"], r["label"], r["original"], r["dataset"], r["part"]) == \
            ("ok", m["label"], m.get("original"), "dfdc", part), name
    assert rows["absent.mp4"]["status"] == "missing"
    assert rows["badlabel.mp4"]["status"] == "rejected" and "MAYBE" in rows["badlabel.mp4"]["error"]
    assert rows["zzunlisted.mp4"]["status"] == "unlisted"


def test_dfdc_parts_root_still_reads_as_parts(dfdc_part):
    layout, evidence = choose_layout(dfdc_part.parent)
    assert layout.name == "dfdc" and "dfdc_train_part_0" in evidence


def test_one_part_folder_given_alone_keeps_its_part_number(dfdc_part):
    layout, _ = choose_layout(dfdc_part)
    assert layout.name == "dfdc-folder"
    _, alone, _ = discover_roots([dfdc_part])
    _, whole, _ = discover_roots([dfdc_part.parent])
    key = (lambda es: sorted((e.part, e.video, e.label, e.original, e.status.value) for e in es))
    assert key(alone) == key(whole) and {e.part for e in alone} == {0}


def _test_set(dfdc_part: Path, base: Path) -> tuple[Path, dict]:
    """A public-test-set tree base/test/{videos/*.mp4, labels.csv} from a synthetic part; {video: label}."""
    meta = json.loads((dfdc_part / "metadata.json").read_text())
    videos = base / "test" / "videos"
    videos.mkdir(parents=True)
    lines, want = ["filename,label"], {}
    for name, m in meta.items():
        shutil.copy(dfdc_part / name, videos / name)
        lines.append(f"{name},{1 if m['label'] == 'FAKE' else 0}")
        want[f"test/videos/{name}"] = m["label"]
    first = next(iter(meta))
    shutil.copy(dfdc_part / first, videos / "badlabel.mp4")
    shutil.copy(dfdc_part / first, videos / "notinlabels.mp4")
    lines += ["absent.mp4,1", "badlabel.mp4,FAKE"]
    (base / "test" / "labels.csv").write_text("\n".join(lines) + "\n")
    return base, want


def test_dfdc_public_test_set(dfdc_part, tmp_path):
    root, want = _test_set(dfdc_part, tmp_path / "dfdc_test")
    layout, evidence = choose_layout(root)
    assert layout.name == "dfdc-test" and "labels.csv" in evidence
    assert choose_layout(root / "test")[0].name == "dfdc-test"
    rows = ingest_rows(str(root), tmp_path)
    for video, label in want.items():
        r = rows[video]
        assert (r["status"], r["label"], r["split"], r["original"], r["dataset"]) == \
            ("ok", label, "test", None, "dfdc-test"), video
    assert rows["test/videos/absent.mp4"]["status"] == "missing"
    bad = rows["test/videos/badlabel.mp4"]
    assert bad["status"] == "rejected" and "'FAKE' is not 0 (REAL) or 1 (FAKE)" in bad["error"]
    assert rows["test/videos/notinlabels.mp4"]["status"] == "unlisted"
    assert {r["part"] for r in rows.values()} == {dataset_part("dfdc-test")}


def test_dfdc_test_labels_without_columns_is_one_line(dfdc_part, tmp_path):
    from dfprep.datasets.common import DatasetFileError

    root, _ = _test_set(dfdc_part, tmp_path / "t")
    (root / "test" / "labels.csv").write_text("name,fake\na.mp4,1\n")
    with pytest.raises(DatasetFileError, match=r"labels\.csv has no filename and label columns"):
        discover_roots([root], "dfdc-test")


@pytest.fixture(scope="module")
def preview(tmp_path_factory) -> tuple[Path, dict]:
    from dfprep.synth.layouts import WRITERS, layout_names

    layout_names()
    out = tmp_path_factory.mktemp("preview") / "dfdc_preview_set"
    corpus = WRITERS["dfdc-preview"](out, SynthConfig(layout="dfdc-preview", **TINY))
    return out, corpus.videos


def test_dfdc_preview_read_back_against_truth(preview):
    root, truth = preview
    layout, evidence = choose_layout(root)
    assert layout.name == "dfdc-preview" and "dataset.json" in evidence and "method_A/" in evidence
    finds, entries, problems = discover_roots([root])
    assert problems == []
    check_truth({e.video: e for e in entries}, truth, Status.PENDING)
    labels = {t["label"] for t in truth.values()}
    methods = {t["method"] for t in truth.values()} - {None}
    assert labels == {"REAL", "FAKE"} and methods == {"method_A", "method_B"}
    assert {e.original for e in entries} == {None}          # the preview names no original


def test_dfdc_preview_ingest_with_hostile_entries(preview, tmp_path):
    src, truth = preview
    root = tmp_path / "dfdc_preview_set"
    shutil.copytree(src, root)
    meta = json.loads((root / "dataset.json").read_text())
    a_real = next(k for k, v in meta.items() if v["label"] == "real")
    shutil.copy(root / a_real, root / "original_videos" / "stray.mp4")
    shutil.copy(root / a_real, root / "method_A" / "bad.mp4")
    meta["method_B/gone/gone_A/gone.mp4"] = {"label": "fake", "set": "test", "target_id": "1", "swapped_id": "2"}
    meta["method_A/bad.mp4"] = {"label": "unknown", "set": "train"}
    (root / "dataset.json").write_text(json.dumps(meta))
    rows = ingest_rows(str(root), tmp_path)
    check_truth(rows, truth, "ok")
    assert rows["method_B/gone/gone_A/gone.mp4"]["status"] == "missing"
    assert rows["method_A/bad.mp4"]["status"] == "rejected" and "'unknown'" in rows["method_A/bad.mp4"]["error"]
    assert rows["original_videos/stray.mp4"]["status"] == "unlisted"
