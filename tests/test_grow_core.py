"""Shard growth's plain core, without Ray and without writing a shard: `layout.make_plan` given a `grow.Prior`
built from a first cut's own records (its index.json and families.parquet rows, as `run.build_index` and
`Plan.families_parquet` make them), on synthetic face stores of real JPEG crops.

What a grown WORK adds (only its new videos, a new FAKE of an old REAL where the REAL is, shard numbers going on),
which changes are refused (a video gone, relabelled, moved to another family; a family spanning splits) and
what a re-split (`keep`) keeps.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dfprep.dataset import SPLITS
from dfprep.formats.shards import shard_name
from dfprep.shards.config import NothingNew
from dfprep.shards.grow import Prior, WorkChanged, merged
from dfprep.shards.layout import Plan, make_plan
from dfprep.shards.run import build_index
from shards_util import cfg, crop_jpegs, write_part, write_store

SETTINGS = dict(balance="oversample", samples_per_shard=16)


def _records(plan: Plan, work: Path) -> tuple[dict, list[dict]]:
    """The index.json and families.parquet rows a run of `plan` writes (shard entries stand in for files)."""
    done = {plan.name(s, i): {"name": plan.name(s, i), "n_samples": len(pos), "n_real": 0, "n_fake": 0,
                              "bytes": 1, "sha256": f"{s}{i}"}
            for s in SPLITS for i, pos in enumerate(plan.splits[s].shards)}
    index = build_index(plan, done, work, f"store{plan.generation}", {"config": "c", "store": "s"})
    return index, plan.families_parquet().to_pylist()


def _prior(first: SimpleNamespace, rows: list[dict] | None = None) -> Prior:
    return Prior(first.base / "shards", 1, first.index, first.index["generations"], rows or first.rows)


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> SimpleNamespace:
    """A first cut of parts 0-1, and the same WORK grown by part 2: 5 new families and 2 new FAKEs of one old
    REAL of each split."""
    base = tmp_path_factory.mktemp("grow_core")
    work0 = write_store(base / "work0", parts=2, families=8)
    plan = make_plan(work0, cfg(**SETTINGS))
    index, rows = _records(plan, work0)
    olds = {}
    for r in rows:
        if r["label"] == "REAL" and r["n_samples"] > 0:
            olds.setdefault(r["split"], r)
    work1 = Path(shutil.copytree(work0, base / "work1"))
    rng = np.random.default_rng(11)
    write_part(work1, 2, rng, crop_jpegs(8, rng), 5, fakes_of=tuple((r["video"], 2) for r in olds.values()))
    return SimpleNamespace(base=base, work0=work0, work1=work1, plan=plan, index=index, rows=rows, olds=olds)


def test_a_grown_work_plans_only_its_new_videos_and_joined_families_keep_their_split(first):
    assert set(first.olds) == set(SPLITS)                   # an old REAL in every split to grow from
    prior = _prior(first)
    plan = make_plan(first.work1, cfg(**SETTINGS), prior)
    assert plan.generation == 1
    planned = set(plan.video_names)
    assert planned and not planned & set(prior.old) and {p for p, _ in planned} == {2}
    family_of = {pv: plan.family_names[plan.video_family[i]] for i, pv in enumerate(plan.video_names)}
    for split, real in first.olds.items():                  # the new FAKEs of an old REAL go where it is
        fakes = [pv for pv, f in family_of.items() if f == real["family"]]
        assert len(fakes) == 2
        assert plan.family_split[real["family"]] == split and real["family"] in plan.joined
    assert set(plan.joined) == {r["family"] for r in first.olds.values()}
    assert not set(plan.family_split) - plan.joined & set(first.plan.family_split)   # the others are new
    for s in SPLITS:                                        # numbering goes on after the first cut's shards
        if plan.splits[s].shards:
            assert plan.name(s, 0) == shard_name(s, len(first.plan.splits[s].shards))
    again = make_plan(first.work1, cfg(**SETTINGS), _prior(first))           # the same plan every time
    for s in SPLITS:
        assert [x.tolist() for x in again.splits[s].shards] == [x.tolist() for x in plan.splits[s].shards]

    index, rows = _records(plan, first.work1)
    grown, table = merged(prior, index, plan.families_parquet())
    assert [g["generation"] for g in grown["generations"]] == [0, 1]
    assert table.num_rows == len(first.rows) + len(rows)
    for s in SPLITS:                                        # old shards first, unchanged, then the new ones
        names = [e["name"] for e in grown["splits"][s]["shards"]]
        old = [e["name"] for e in first.index["splits"][s]["shards"]]
        assert names[:len(old)] == old and len(names) == len(old) + len(plan.splits[s].shards)
        assert grown["splits"][s]["samples"] == (first.index["splits"][s]["samples"]
                                                 + index["splits"][s]["samples"])


def test_nothing_new_when_work_did_not_grow(first):
    with pytest.raises(NothingNew, match="no usable video that SHARDS does not already have"):
        make_plan(first.work0, cfg(**SETTINGS), _prior(first))


def test_a_changed_work_is_refused_and_a_resplit_keeps_what_it_can(first):
    rows = [dict(r) for r in first.rows]
    relabelled = next(r for r in rows if r["label"] == "FAKE" and r["n_samples"] > 0)
    relabelled["label"] = "REAL"                            # SHARDS recorded it otherwise than WORK says
    def minority(f: str) -> dict | None:      # a FAKE holding fewer crops than the rest of its train family
        members = [r for r in rows if r["family"] == f]
        fakes = [r for r in members if r["label"] == "FAKE" and r is not relabelled]
        small = min(fakes, key=lambda r: r["n_crops"], default=None)
        return small if small and 2 * small["n_crops"] + 2 < sum(r["n_crops"] + 1 for r in members) else None

    family = next(f for f, s in sorted(first.plan.family_split.items()) if s == "train" and minority(f))
    moved = minority(family)
    moved["split"] = "val"                                  # one family in two splits: a leak
    with pytest.raises(WorkChanged) as err:
        make_plan(first.work1, cfg(**SETTINGS), _prior(first, rows))
    text = str(err.value)
    assert f"p{relabelled['part']}/{relabelled['video']} was REAL" in text and "is FAKE" in text
    assert f"family {family} would span train and val" in text and "\n" not in text
    keep, record = err.value.keep, err.value.record
    assert keep[family] == "train"                          # the split holding most of the family's crops
    assert {"video": f"p{moved['part']}/{moved['video']}", "from": "val", "to": "train"} in record["moved"]
    assert record["n_changes"] == 1 and record["leaks"] and record["after_generations"] == 1

    resplit = make_plan(first.work1, cfg(**SETTINGS), None, keep=err.value.keep)     # all of WORK, cut anew
    assert resplit.generation == 0 and {p for p, _ in resplit.video_names} == {0, 1, 2}
    for unit, split in keep.items():
        assert resplit.family_split[unit] == split
