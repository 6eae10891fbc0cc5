"""`dfprep.formats.shards`' typed index reader on a SHARDS folder an earlier dfprep wrote (tests/golden/v1), on the
index an older one wrote (keys added since removed), and on a mistyped one (one line naming file and key)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dfprep.formats.shards import (FAMILIES, INDEX, member_names, read_families, read_shards_index, shard_name,
                                   shard_number, wids_indexes)
from dfprep.shards.config import ShardsUsageError

GOLDEN = Path(__file__).parent / "golden" / "v1" / "shards"


def test_the_typed_reader_holds_what_the_golden_index_says():
    raw = json.loads((GOLDEN / INDEX).read_text())
    index = read_shards_index(GOLDEN)
    assert index.unit == raw["unit"] and index.members == tuple(raw["members"])
    assert index.sample_schema == raw["sample_schema"] and index.partial is raw["partial"]
    assert index.content_hash == raw["source"]["content_hash"] and index.work == raw["source"]["work"]
    assert index.settings.balance == raw["config"]["balance"] and index.settings.ratio == raw["config"]["ratio"]
    assert index.settings.augment_ops == tuple(raw["config"]["augment_ops"])
    assert index.wids == raw["wids"] and index.identity_threshold is None
    assert [e.name for _, e in index.entries()] == [e["name"] for s in ("train", "val", "test")
                                                     for e in raw["splits"][s]["shards"]]
    for split, s in index.splits.items():
        assert (s.samples, s.real, s.fake) == (raw["splits"][split]["samples"], raw["splits"][split]["real"],
                                               raw["splits"][split]["fake"])
        nat = raw["splits"][split]["balance"]["natural"]
        assert s.natural == (nat["real"], nat["fake"])
        for e, r in zip(s.shards, raw["splits"][split]["shards"]):
            assert (e.n_samples, e.n_real, e.n_fake, e.bytes, e.sha256) == (
                r["n_samples"], r["n_real"], r["n_fake"], r["bytes"], r["sha256"])
            assert shard_number(e.name) is not None and shard_name(*shard_number(e.name)) == e.name
    written = {n: json.loads((GOLDEN / n).read_text()) for n in wids_indexes(raw)}
    assert written and all(json.loads((GOLDEN / n).read_text()) == d for n, d in wids_indexes(raw).items())
    rows = read_families(GOLDEN)
    assert rows and {r["split"] for r in rows} <= {"train", "val", "test"} and all("generation" in r for r in rows)


def test_an_older_index_reads_with_the_older_meaning(tmp_path):
    shutil.copytree(GOLDEN, tmp_path / "s")
    raw = json.loads((tmp_path / "s" / INDEX).read_text())
    for key in ("members", "sample_schema", "wids", "generations", "partial", "grouping", "ingest"):
        raw.pop(key)
    for s in raw["splits"].values():
        for e in s["shards"]:
            del e["n_real"], e["n_fake"]
    (tmp_path / "s" / INDEX).write_text(json.dumps(raw))
    index = read_shards_index(tmp_path / "s")
    assert index.members == tuple(member_names(raw["unit"], 8)) and index.sample_schema == 0
    assert index.wids is None and index.generation_families == () and index.partial is False
    assert index.ingest is None and all(e.n_real is None for _, e in index.entries())


@pytest.mark.parametrize("key, value", [("members", "jpg"), ("sample_schema", "2"), ("partial", "yes")])
def test_a_mistyped_key_is_one_line_naming_file_and_key(tmp_path, key, value):
    shutil.copytree(GOLDEN, tmp_path / "s")
    raw = json.loads((tmp_path / "s" / INDEX).read_text())
    raw[key] = value
    (tmp_path / "s" / INDEX).write_text(json.dumps(raw))
    with pytest.raises(ShardsUsageError) as err:
        read_shards_index(tmp_path / "s")
    assert str(err.value).startswith(f"{tmp_path / 's' / INDEX}: key '{key}'") and "\n" not in str(err.value)


def test_an_unreadable_families_parquet_names_the_file(tmp_path):
    (tmp_path / FAMILIES).write_bytes(b"not parquet")
    with pytest.raises(ShardsUsageError, match=f"{FAMILIES}: cannot be read"):
        read_families(tmp_path)
