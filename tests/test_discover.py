"""Metadata discovery and validation, on the real DFDC part-0 metadata.json and on hostile keys."""
from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from dfprep.dataset import key_problem
from dfprep.ingest.discover import IngestUsageError, discover, find_parts, parse_parts


def test_real_dfdc_part0_metadata(real_data, tmp_path):
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    shutil.copy(real_data / "dfdc_train_part_0_metadata.json", part / "metadata.json")
    entries, problems = discover(tmp_path)
    raw = json.loads((part / "metadata.json").read_text())
    assert len(entries) == len(raw) == 1334
    labels = Counter(e.label for e in entries)
    assert labels == {"FAKE": 1248, "REAL": 86}
    assert {e.status for e in entries} == {"missing"}  # no video files here
    # every fake's original is a REAL of the same part in real DFDC: nothing to warn about
    assert problems == []
    fakes = [e for e in entries if e.label == "FAKE"]
    assert all(e.original == raw[e.video]["original"] for e in fakes)
    assert all(e.original is None for e in entries if e.label == "REAL")


@pytest.mark.parametrize("key,bad", [
    ("abc.mp4", False), ("vidéo à 1.mp4", False), ("..mp4", False),
    ("../escape.mp4", True), ("/etc/passwd.mp4", True), ("sub/dir.mp4", True), ("a\\b.mp4", True),
    ("..", True), (".", True), ("", True), ("C:evil.mp4", True), ("nul\x00.mp4", True),
])
def test_key_validation(key, bad):
    assert (key_problem(key) is not None) == bad


def test_parse_parts():
    assert parse_parts("0,3-5") == {0, 3, 4, 5}
    assert parse_parts(None) is None
    with pytest.raises(IngestUsageError):
        parse_parts("3-1")
    with pytest.raises(IngestUsageError):
        parse_parts("x")


def test_fatal_misuse(tmp_path):
    with pytest.raises(IngestUsageError, match="does not exist"):
        find_parts(tmp_path / "nope")
    with pytest.raises(IngestUsageError, match="no dfdc_train_part"):
        find_parts(tmp_path)
    (tmp_path / "dfdc_train_part_2").mkdir()
    with pytest.raises(IngestUsageError, match="none of the selected parts"):
        find_parts(tmp_path, {7})
    assert list(find_parts(tmp_path, {2, 7})) == [2]


def test_broken_metadata_and_duplicates(tmp_path):
    p0 = tmp_path / "dfdc_train_part_0"
    p0.mkdir()
    (p0 / "metadata.json").write_text("{not json")
    (p0 / "a.mp4").write_bytes(b"x")
    p1 = tmp_path / "dfdc_train_part_1"
    p1.mkdir()
    (p1 / "metadata.json").write_text('{"b.mp4": {"label": "REAL"}, "b.mp4": {"label": "FAKE", "original": "q.mp4"},'
                                      ' "c.mp4": "oops", "d.mp4": {"label": "REAL", "original": "x.mp4"}}')
    entries, problems = discover(tmp_path)
    by = {(e.part, e.video): e for e in entries}
    assert by[(0, "a.mp4")].status == "unlisted"
    assert any("not valid JSON" in p and "dfdc_train_part_0" in p for p in problems)
    assert any("more than once" in p for p in problems)
    assert by[(1, "b.mp4")].label == "FAKE" and "not a REAL entry" in by[(1, "b.mp4")].warning
    assert by[(1, "c.mp4")].status == "rejected"
    assert by[(1, "d.mp4")].original is None and "ignored" in by[(1, "d.mp4")].warning
