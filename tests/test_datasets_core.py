"""The dataset core of issue 24: names inside a dataset ROOT, the WORK partition of a dataset, layouts chosen by
evidence, images as one-frame videos, and _state.json's ROOTs per dataset."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dfprep.dataset import (DATASET_PART_BASE, Status, VideoEntry, dataset_part, dataset_problem, is_dfdc_part,
                            video_name_problem)
from dfprep.errors import exit_code
from dfprep.names import relpath_problem


@pytest.mark.parametrize("name, why", [
    ("manipulated_sequences/Deepfakes/c23/videos/000_003.mp4", None),
    ("Celeb-real/id0_0000.mp4", None),
    ("a\\b.mp4", "backslash"), ("/abs/x.mp4", "absolute"), ("../x.mp4", "'..'"), ("a/../x.mp4", "'..'"),
    ("a//x.mp4", "segment ''"), ("s3://bucket/x.mp4", "scheme"), ("a/./x.mp4", "'.'"), ("", "non-empty"),
    ("a/\x00.mp4", "NUL"), ("a/" + "x" * 256, "longer than 255"),
])
def test_a_video_of_a_dataset_is_a_relative_path_that_stays_inside_root(name, why):
    got = relpath_problem(name)
    assert (got is None) if why is None else (why in got), got


def test_dfdc_parts_keep_plain_names_and_other_datasets_get_their_own_part():
    assert is_dfdc_part(0) and is_dfdc_part(49) and not is_dfdc_part(dataset_part("ffpp"))
    assert video_name_problem(0, "a/b.mp4") and video_name_problem(0, "abc.mp4") is None
    assert video_name_problem(dataset_part("ffpp"), "a/b.mp4") is None
    parts = {dataset_part(n) for n in ("ffpp", "dfd", "celebdf-v1", "celebdf-v2", "deeperforensics", "uadfv",
                                       "fakeavceleb", "dfdc-test", "dfdc-preview")}
    assert len(parts) == 9 and all(DATASET_PART_BASE <= p < 2**31 for p in parts)
    assert dataset_part("ffpp") == dataset_part("ffpp") != dataset_part("dfdc", "train_sample_videos")
    assert dataset_problem("celebdf-v2") is None and dataset_problem("Celeb DF") and dataset_problem("")


def test_a_root_that_matches_no_layout_is_one_line_naming_what_was_looked_for(tmp_path):
    from dfprep.datasets.base import LayoutError
    from dfprep.datasets.registry import LAYOUTS, choose_layout

    (tmp_path / "stuff").mkdir()
    with pytest.raises(LayoutError) as err:
        choose_layout(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path) in msg and "matches no dataset layout" in msg
    assert all(name in msg for name, cls in LAYOUTS.items() if cls.auto)
    assert exit_code(err.value) == 2
    with pytest.raises(LayoutError, match="not a known layout"):
        choose_layout(tmp_path, "nosuch")
    with pytest.raises(LayoutError, match="does not exist"):
        choose_layout(tmp_path / "absent")


def test_a_dfdc_root_is_recognised_and_says_why(tmp_path):
    from dfprep.datasets.discover import discover_roots

    part = tmp_path / "dfdc_train_part_3"
    part.mkdir()
    (part / "metadata.json").write_text(json.dumps({"a.mp4": {"label": "REAL", "split": "train"}}))
    finds, entries, problems = discover_roots([tmp_path])
    assert finds[0].layout == "dfdc" and "dfdc_train_part_3" in finds[0].evidence
    assert [(e.dataset, e.part, e.video, e.status) for e in entries] == [("dfdc", 3, "a.mp4", Status.MISSING)]


def _png(path: Path, w: int, h: int, orientation: int | None = None) -> Path:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(path, exif=exif) if orientation else img.save(path)
    return path


def test_an_image_is_a_one_frame_video_with_named_errors(tmp_path):
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.video import process_video

    cfg = IngestConfig(faces=False, max_pixels=640 * 480)
    ok = _png(tmp_path / "a.png", 64, 48)
    row, faces, _ = process_video(VideoEntry("a.png", dataset_part("imgs"), dataset="imgs", path=str(ok)), cfg)
    assert row["status"] == "ok" and row["n_frames"] == 1 and row["sampled_frames"] == [0]
    assert (row["width"], row["height"], row["codec"], row["has_audio"]) == (64, 48, "png", False)
    assert row["fps"] is None and row["duration_s"] is None and row["decoder"] == "pil" and row["dataset"] == "imgs"
    turned = tmp_path / "turned.jpg"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(turned, exif=_exif(6))
    row, _, _ = process_video(VideoEntry("turned.jpg", 1, dataset="imgs", path=str(turned)), cfg)
    assert (row["width"], row["height"], row["rotation"], row["codec"]) == (40, 60, 270, "jpeg")
    big = _png(tmp_path / "big.png", 1000, 1000)
    row, _, _ = process_video(VideoEntry("big.png", 1, dataset="imgs", path=str(big)), cfg)
    assert row["status"] == "error" and "over the pixel budget" in row["error"]
    bomb = tmp_path / "bomb.png"                 # a 20000x20000 header: Pillow's own limit, never decoded
    Image.new("1", (20000, 20000)).save(bomb)
    row, _, _ = process_video(VideoEntry("bomb.png", 1, dataset="imgs", path=str(bomb)),
                              IngestConfig(faces=False, max_pixels=10**9))
    assert row["status"] == "error" and "pixel limit" in row["error"], row["error"]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    row, _, _ = process_video(VideoEntry("bad.jpg", 1, dataset="imgs", path=str(bad)), cfg)
    assert row["status"] == "error" and "image" in row["error"]


def _exif(orientation: int) -> Image.Exif:
    e = Image.Exif()
    e[0x0112] = orientation
    return e


def test_state_records_roots_per_dataset_and_reads_a_state_from_before(tmp_path):
    from dfprep.datasets.base import Found
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.discover import IngestUsageError
    from dfprep.ingest.state import check_state as _check_state

    cfg = IngestConfig()
    work = tmp_path / "work"
    work.mkdir()
    old = {"root": str(tmp_path / "dfdc"), "fingerprint": cfg.fingerprint(), "settings": cfg.output_settings()}
    (work / "_state.json").write_text(json.dumps(old))
    dfdc = Found("dfdc", str(tmp_path / "dfdc"), "", [VideoEntry("a.mp4", 0)])
    ff = Found("ffpp", str(tmp_path / "ff"), "", [VideoEntry("x/y.mp4", dataset_part("ffpp"), dataset="ffpp")])
    state = _check_state(work, [ff], cfg, overwrite=False)          # a new dataset from a new ROOT: grows
    assert [(r["root"], r["datasets"]) for r in state["roots"]] == [(str(tmp_path / "dfdc"), ["dfdc"]),
                                                                     (str(tmp_path / "ff"), ["ffpp"])]
    assert _check_state(work, [dfdc], cfg, overwrite=False)["root"] == str(tmp_path / "dfdc")
    moved = Found("dfdc", str(tmp_path / "elsewhere"), "", [VideoEntry("a.mp4", 0)])
    with pytest.raises(IngestUsageError, match="other settings"):
        _check_state(work, [moved], cfg, overwrite=False)


@pytest.mark.parametrize("name, header", [("manifest.csv", "path,label"), ("labels.csv", "filename,label")])
def test_a_csv_the_csv_module_refuses_is_one_line_naming_the_file(tmp_path, name, header):
    from dfprep.datasets.common import DatasetFileError
    from dfprep.datasets.discover import discover_roots

    (tmp_path / name).write_text(f"{header}\na.mp4,0\n\"{'x' * 200_000}\",1\n")
    with pytest.raises(DatasetFileError) as err:
        discover_roots([tmp_path])
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / name) in msg and "line" in msg and "field larger" in msg


def test_dfdc_parts_from_two_roots_share_a_work_but_one_part_has_one_root(tmp_path):
    from dfprep.datasets.base import LayoutError
    from dfprep.datasets.discover import discover_roots

    for root, n in (("a", 0), ("b", 1), ("c", 1)):
        part = tmp_path / root / f"dfdc_train_part_{n}"
        part.mkdir(parents=True)
        (part / "metadata.json").write_text(json.dumps({f"v{n}.mp4": {"label": "REAL", "split": "train"}}))
    finds, entries, _ = discover_roots([tmp_path / "a", tmp_path / "b"])
    assert [f.parts for f in finds] == [[0], [1]] and {e.dataset for e in entries} == {"dfdc"}
    with pytest.raises(LayoutError, match="DFDC part 1 is found in two ROOTs"):
        discover_roots([tmp_path / "b", tmp_path / "c"])


def test_training_names_a_video_by_its_dataset_too():
    from dfprep.train.data import video_id

    assert video_id({"video": "abc.mp4"}) == video_id({"video": "abc.mp4", "dataset": "dfdc"}) == "abc.mp4"
    assert video_id({"video": "real/0001.mp4", "dataset": "uadfv"}) != video_id({"video": "real/0001.mp4",
                                                                                  "dataset": "mine"})
