"""Celeb-DF (v1/v2) and UADFV layouts on synthetic corpora of real H.264 files: what discovery reads back is what
the layout's rules say (synth.json's truth), Celeb-DF's test list with its 1 = real convention is checked
against the folders, and an ingest writes those fields into videos.parquet."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dfprep.dataset import Status
from dfprep.datasets.discover import discover_roots
from dfprep.datasets.registry import choose_layout
from layout_util import FIELDS, by_video, ingest_rows, synth_layout

@pytest.fixture(scope="module")
def celeb(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("celeb") / "Celeb-DF-v2"
    return root, synth_layout(root, "celebdf")


def copy_of(celeb, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(celeb[0], dst)
    (dst / "synth.json").unlink()
    return dst


def test_celebdf_discovery_reads_back_the_truth(celeb):
    root, truth = celeb
    finds, entries, problems = discover_roots([root])
    assert problems == []
    assert [f.layout for f in finds] == ["celebdf"] and "Celeb-DF-v2" in finds[0].evidence
    got = by_video(entries)
    assert set(got) == set(truth)
    for rel, t in truth.items():
        e = got[rel]
        assert e.status is Status.PENDING and e.warning is None, rel
        assert {k: getattr(e, k) for k in FIELDS} == {k: t[k] for k in FIELDS}, rel
    # the corpus exercises every rule: both real folders, fakes sharing a target, a test split and a train split
    assert {rel.split("/")[0] for rel in truth} == {"Celeb-real", "YouTube-real", "Celeb-synthesis"}
    assert {t["split"] for t in truth.values()} == {"train", "test"}
    ident = [t["identity"] for t in truth.values() if t["identity"]]
    assert len(ident) > len(set(ident)), "two clips of one celebrity"


def test_celebdf_version_from_the_folder_name_and_forced(celeb, tmp_path):
    v1 = copy_of(celeb, tmp_path, "Celeb-DF")
    layout, evidence = choose_layout(v1)
    assert layout.name == "celebdf" and "celebdf-v1" in evidence
    assert {e.dataset for e in discover_roots([v1])[1]} == {"celebdf-v1"}
    assert {e.dataset for e in discover_roots([v1], "celebdf-v2")[1]} == {"celebdf-v2"}
    plain = copy_of(celeb, tmp_path, "my_copy")
    layout, evidence = choose_layout(plain)
    assert layout.name == "celebdf" and "taken as v2" in evidence
    assert {e.dataset for e in discover_roots([plain], "celebdf-v1")[1]} == {"celebdf-v1"}
    parts = {e.part for e in discover_roots([plain])[1]}
    assert len(parts) == 1 and parts != {e.part for e in discover_roots([v1])[1]}


def test_celebdf_list_one_means_real_and_contradictions_keep_the_folder_label(celeb, tmp_path):
    root = copy_of(celeb, tmp_path, "Celeb-DF-v2")
    lst = root / "List_of_testing_videos.txt"
    lines = lst.read_text().splitlines()
    # read backwards (0 = real), every line contradicts its folder
    lst.write_text("".join(f"{1 - int(ln[0])}{ln[1:]}\n" for ln in lines))
    _, entries, problems = discover_roots([root])
    assert len(problems) == len(lines) and all("folder label kept" in p for p in problems)
    truth = celeb[1]
    for e in entries:
        assert (e.label, e.split) == (truth[e.video]["label"], truth[e.video]["split"])
    # one contradicting line among good ones, a malformed line, a listed file that is absent
    real_line = next(i for i, ln in enumerate(lines) if ln.startswith("1 Celeb-real/"))
    flipped = lines[real_line].split()[1]
    bad = list(lines)
    bad[real_line] = "0 " + flipped
    bad += ["2 Celeb-real/id0_0000.mp4", "Celeb-real/id9_0000.mp4", "1 Celeb-real/id7_0003.mp4"]
    lst.write_text("\n".join(bad) + "\n")
    _, entries, problems = discover_roots([root])
    got = by_video(entries)
    contra = [p for p in problems if flipped in p and "folder label kept" in p]
    assert len(contra) == 1 and f"line {real_line + 1} " in contra[0] and "List_of_testing_videos.txt" in contra[0]
    assert (got[flipped].label, got[flipped].split, got[flipped].status) == ("REAL", "test", Status.PENDING)
    assert "says 0" in got[flipped].warning
    n = len(lines)
    assert sum(f"line {n + 1}:" in p and "not '<1|0> <folder>/<file>'" in p for p in problems) == 1
    assert sum(f"line {n + 2}:" in p and "not '<1|0> <folder>/<file>'" in p for p in problems) == 1
    absent = "Celeb-real/id7_0003.mp4"
    assert any(f"line {n + 3}: {absent} is listed but absent" in p for p in problems)
    assert (got[absent].status, got[absent].label, got[absent].split) == (Status.MISSING, "REAL", "test")
    # a listed file whose whole folder is absent is absent too (not off the pattern)
    shutil.rmtree(root / "YouTube-real")
    youtube = [ln.split()[1] for ln in lines if "YouTube-real/" in ln]
    _, entries, problems = discover_roots([root])
    got = by_video(entries)
    assert youtube and all(got[y].status is Status.MISSING and got[y].label == "REAL" for y in youtube)
    assert all(any(f"{y} is listed but absent" in p for p in problems) for y in youtube)
    # without the list there is no official split, said once
    lst.unlink()
    _, entries, problems = discover_roots([root])
    assert {e.split for e in entries} == {None} and len(problems) == 1 and "absent" in problems[0]


def test_celebdf_names_off_the_pattern_are_rejected_with_it(celeb, tmp_path):
    root = copy_of(celeb, tmp_path, "Celeb-DF-v2")
    some = next(root.glob("Celeb-real/*.mp4"))
    for rel in ("Celeb-real/portrait.mp4", "Celeb-synthesis/id0_0000.mp4", "Celeb-real/sub/id1_0000.mp4",
                "extras/id0_0000.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(some, root / rel)
    _, entries, problems = discover_roots([root])
    got = by_video(entries)
    assert problems == []
    assert "Celeb-real/id{A}_{NNNN}.mp4" in got["Celeb-real/portrait.mp4"].error
    assert "Celeb-synthesis/id{A}_id{B}_{NNNN}.mp4" in got["Celeb-synthesis/id0_0000.mp4"].error
    for rel in ("Celeb-real/portrait.mp4", "Celeb-synthesis/id0_0000.mp4", "Celeb-real/sub/id1_0000.mp4",
                "extras/id0_0000.mp4"):
        assert got[rel].status is Status.REJECTED and got[rel].label is None, rel
    assert sum(e.status is Status.PENDING for e in entries) == len(celeb[1])


def test_celebdf_ingest_writes_the_layout_fields(celeb, tmp_path):
    root, truth = celeb
    rows = ingest_rows(root, tmp_path)
    assert set(rows) == set(truth)
    for rel, t in truth.items():
        r = rows[rel]
        assert r["status"] == "ok", (rel, r["error"])
        assert {k: r[k] for k in FIELDS} == {k: t[k] for k in FIELDS}, rel


# --- UADFV ------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def uadfv(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("uadfv") / "UADFV"
    return root, synth_layout(root, "uadfv", ratio="1:1", videos=6)


def test_uadfv_discovery_reads_back_the_truth_and_rejects_other_names(uadfv, tmp_path):
    root, truth = uadfv
    finds, entries, problems = discover_roots([root])
    assert problems == [] and [f.layout for f in finds] == ["uadfv"]
    got = by_video(entries)
    assert set(got) == set(truth) and {t["label"] for t in truth.values()} == {"REAL", "FAKE"}
    for rel, t in truth.items():
        assert {k: getattr(got[rel], k) for k in FIELDS} == {k: t[k] for k in FIELDS}, rel
        assert got[rel].status is Status.PENDING and got[rel].split is None and got[rel].identity is None
    copy = tmp_path / "UADFV"
    shutil.copytree(root, copy)
    some = next(copy.glob("real/*.mp4"))
    shutil.copy(some, copy / "fake" / "0001.mp4")
    shutil.copy(some, copy / "fake" / "0042_fake.mp4")
    got = by_video(discover_roots([copy])[1])
    assert got["fake/0001.mp4"].status is Status.REJECTED and "fake/NNNN_fake.mp4" in got["fake/0001.mp4"].error
    orphan = got["fake/0042_fake.mp4"]
    assert (orphan.label, orphan.original, orphan.status) == ("FAKE", "real/0042.mp4", Status.PENDING)
    assert "real/0042.mp4" in orphan.warning


def test_uadfv_ingest_writes_the_layout_fields(uadfv, tmp_path):
    root, truth = uadfv
    rows = ingest_rows(root, tmp_path)
    assert set(rows) == set(truth)
    for rel, t in truth.items():
        assert rows[rel]["status"] == "ok", (rel, rows[rel]["error"])
        assert {k: rows[rel][k] for k in FIELDS} == {k: t[k] for k in FIELDS}, rel
