"""The torch/torchvision pair check: fed versions, against pyproject's pins, and at the start of the real CLI."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

from dfprep.torchpair import PAIRS, TESTED, installed_pair_problem, pair_problem

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("torch_v, vision_v", [
    ("2.14.1", "0.29.1"), ("2.14.0", "0.29.2"), ("2.14.1+cu130", "0.29.1+cu130"), ("2.9.1", "0.24.1"),
    ("2.0.1", "0.15.2"),
    ("2.16.0", "0.31.0"),            # both newer than the table: no claim
    (None, "0.29.1"), ("2.14.1", None),   # one absent: its own import error will say so
])
def test_matching_or_unknown_pairs_pass(torch_v, vision_v):
    assert pair_problem(torch_v, vision_v) is None


@pytest.mark.parametrize("torch_v, vision_v, match", [
    ("2.15.0", "0.29.1", "torchvision 0.29 is built for torch 2.14.*"),     # `pip install -U torch` beside dfprep
    ("2.13.0", "0.29.1", "torch 2.13 needs torchvision 0.28.*"),
    ("2.14.1", "0.30.0", "torch 2.14 needs torchvision 0.29.*"),
    ("2.14.1+cu130", "0.24.1", "torch 2.14 needs torchvision 0.29.*"),
])
def test_mismatched_pairs_are_one_line_naming_both_and_the_match(torch_v, vision_v, match):
    line = pair_problem(torch_v, vision_v)
    assert line is not None and "\n" not in line
    assert f"torch {torch_v} and torchvision {vision_v} do not match" in line and match in line
    assert f"torch=={TESTED[0]} torchvision=={TESTED[1]}" in line


def test_the_table_holds_every_release_pairing_and_the_pins():
    assert PAIRS[(2, 0)] == (0, 15) and PAIRS[(2, 9)] == (0, 24) and PAIRS[(2, 14)] == (0, 29)
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"torch=={TESTED[0]}" in deps and f"torchvision=={TESTED[1]}" in deps
    assert pair_problem(*TESTED) is None


def test_the_installed_pair_matches():
    assert installed_pair_problem() is None, (metadata.version("torch"), metadata.version("torchvision"))


def _fake_dist(where: Path, name: str, version: str) -> None:
    """An installed-package record (dist-info) that importlib.metadata finds first on sys.path."""
    info = where / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


@pytest.mark.parametrize("entry", [["dfprep.cli", "evaluate", "--help"], ["dfprep.train", "--help"]])
def test_cli_refuses_a_mismatched_pair_before_any_work(tmp_path, entry):
    """torch upgraded under dfprep's torchvision: the command stops at once with one line, exit 2."""
    _fake_dist(tmp_path / "site", "torch", "2.15.0")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(REPO)])}
    res = subprocess.run([sys.executable, "-m", *entry], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    vision = metadata.version("torchvision")
    assert res.stderr.strip().splitlines() == [pair_problem("2.15.0", vision).join(("error: ", ""))]
    assert "Usage" not in res.stdout
    ok = subprocess.run([sys.executable, "-m", *entry], env={**os.environ, "PYTHONPATH": str(REPO)},
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "Usage" in ok.stdout, ok.stderr
