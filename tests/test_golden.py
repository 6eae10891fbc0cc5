"""Outputs stay byte-identical for the same settings, and files an earlier dfprep wrote are still read.

tests/golden/v1 holds a corpus and the WORK and SHARDS that dfprep made of it before the typed-contracts change
(tests/golden/make_golden.py says how), plus the sha256 of every output that is written the same each time.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "v1"
sys.path.insert(0, str(GOLDEN.parent))
from make_golden import INGEST, SHARDS, TRAIN, stable_hashes  # noqa: E402

HASHES = json.loads((GOLDEN / "hashes.json").read_text())
# What the v1 corpus gives in today's formats (issue 24 added dataset and description columns to WORK's files and
# dataset/method to every sample): `make_golden.py --hashes-only tests/golden/v2`, a deliberate format change.
HASHES_V2 = json.loads((GOLDEN.parent / "v2" / "hashes.json").read_text())


def _expected(prefix: str, hashes: dict = HASHES_V2) -> dict[str, str]:
    return {k: v for k, v in hashes.items() if k.startswith(prefix)}


def _index(path: Path, root: Path) -> dict:
    return json.loads(path.read_text().replace(str(root), "GOLDEN"))


@pytest.fixture(scope="module")
def old(tmp_path_factory) -> Path:
    """A copy of the golden WORK and SHARDS (commands must not write into the repository)."""
    root = tmp_path_factory.mktemp("old")
    for name in ("work", "shards"):
        shutil.copytree(GOLDEN / name, root / name)
    return root


def test_ingest_writes_the_same_work(tmp_path):
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    ingest(GOLDEN / "corpus", tmp_path / "work", IngestConfig(**INGEST))
    assert stable_hashes(tmp_path) == _expected("work/")


def test_shards_of_an_old_work_are_the_same(old, tmp_path):
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards

    make_shards(old / "work", tmp_path / "shards", ShardsConfig(**SHARDS))
    # Sample schema 3 gave every sample's json `dataset` and `method`, and families.parquet a `dataset` column: the
    # tars and families.parquet differ from v1's by those alone (tests/test_shards_datasets.py::
    # test_an_old_work_cuts_as_before compares every sample and row); every other byte is the same.
    changed = ("shards/train-", "shards/val-", "shards/test-", "shards/families.parquet")
    got = stable_hashes(tmp_path)
    assert got == _expected("shards/")                  # today's format: what v2 recorded of a fresh ingest
    assert {k: v for k, v in got.items() if not k.startswith(changed)} == \
        {k: v for k, v in _expected("shards/", HASHES).items() if not k.startswith(changed)}
    new = _index(tmp_path / "shards" / "index.json", old)
    ref = _index(GOLDEN / "shards" / "index.json", Path("/nonexistent"))
    assert (new.pop("sample_schema"), ref.pop("sample_schema")) == (3, 2)
    assert new.pop("datasets") == {"dfdc": {s: {"REAL": v["real"], "FAKE": v["fake"]}
                                            for s, v in ref["splits"].items() if v["samples"]}}
    for index in (new, ref):
        for split in index["splits"].values():
            for shard in split["shards"]:
                shard.pop("sha256")
    assert new == ref


def test_train_on_old_shards_gives_the_same_model(old, tmp_path):
    from dfprep.train.config import TrainConfig
    from dfprep.train.run import train

    train(old / "shards", tmp_path / "run", TrainConfig(**TRAIN))
    assert stable_hashes(tmp_path) == _expected("run/", HASHES)


def test_old_work_and_shards_are_read_by_verify_and_analyze(old, tmp_path):
    from dfprep.analysis.run import analyze
    from dfprep.shards.verify import verify_shards

    assert verify_shards(old / "shards", work=old / "work") == []
    stats = analyze(old / "work", tmp_path / "report", shards=old / "shards")
    assert (tmp_path / "report" / "index.html").is_file()
    assert stats["totals"]["videos"] == 12, stats["totals"]
