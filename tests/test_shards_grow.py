"""Growing a SHARDS folder: `dfprep shards WORK --out SHARDS` again after WORK gained parts.

Old shard files stay byte-identical and listed, every old family keeps its split, a new FAKE of an old REAL (or
with --group identity a new family of an old person) joins the old split, the new generation is balanced and
split by the rule among its own families, and the grown folder verifies and reads back whole. Fast tests on the
synthetic store of `shards_util`; one slow test grows an ingested WORK by `dfprep ingest --parts`.
"""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dfprep.cli import app as dfprep_app
from dfprep.shards.config import ShardsUsageError, parse_split
from dfprep.formats.shards import read_shards_index
from dfprep.shards.run import make_shards
from dfprep.shards.verify import verify_shards
from shards_util import SPS, cfg, crop_jpegs, families_of, read_samples, shas, write_part, write_store

SETTINGS = dict(balance="oversample")


def _index(out: Path) -> dict:
    return json.loads((out / "index.json").read_text())


def _entries(index: dict) -> dict[str, dict]:
    return {e["name"]: e for s in index["splits"].values() for e in s["shards"]}


def _old_reals(rows: list[dict]) -> dict[str, dict]:
    """One REAL of the first cut per split, to make new FAKEs of."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["label"] == "REAL" and r["n_samples"] > 0:
            out.setdefault(r["split"], r)
    return out


@pytest.fixture(scope="module")
def grown(tmp_path_factory) -> SimpleNamespace:
    """Shards of parts 0-1, then WORK grows by part 2 (12 new families, and 2 new FAKEs of an old REAL of each
    split) and the same command runs again into the same SHARDS."""
    base = tmp_path_factory.mktemp("grow")
    work0, work1, out = base / "work0", base / "work1", base / "shards"
    write_store(work0, parts=2, families=12)
    make_shards(work0, out, cfg(**SETTINGS))
    before = SimpleNamespace(shas=shas(out), rows=families_of(out), index=_index(out))
    before_copy = shutil.copytree(out, base / "before")
    shutil.copytree(work0, work1)
    olds = _old_reals(before.rows)
    rng = np.random.default_rng(7)
    write_part(work1, 2, rng, crop_jpegs(16, rng), 12, fakes_of=tuple((r["video"], 2) for r in olds.values()))
    run = make_shards(work1, out, cfg(**SETTINGS))
    return SimpleNamespace(work0=work0, work1=work1, out=out, before=before, olds=olds, run=run,
                           before_copy=before_copy)


def test_old_shards_stay_byte_identical_and_listed(grown):
    now, index = shas(grown.out), _index(grown.out)
    assert {n: now[n] for n in grown.before.shas} == grown.before.shas
    old_entries, entries = _entries(grown.before.index), _entries(index)
    assert {n: entries[n] for n in old_entries} == old_entries
    assert set(entries) == set(now)                          # the index lists every shard on disk, old and new
    for split, s in index["splits"].items():                 # new shards go on numbering after the old ones
        old_n = len(grown.before.index["splits"][split]["shards"])
        numbers = [int(re.match(rf"{split}-(\d+)\.tar", e["name"]).group(1)) for e in s["shards"]]
        assert numbers == list(range(len(numbers))) and len(numbers) >= old_n
    assert sum(len(s["shards"]) for s in index["splits"].values()) > len(old_entries)
    assert [g["generation"] for g in index["generations"]] == [0, 1]
    assert grown.run.growth.kept == len(old_entries) and grown.run.growth.generation == 1


def test_every_old_family_keeps_its_split_and_none_spans_two(grown):
    rows = families_of(grown.out)
    assert [r for r in rows if r["generation"] == 0] == grown.before.rows
    old_split = {r["family"]: r["split"] for r in grown.before.rows}
    seen: dict[str, set] = defaultdict(set)
    for s in read_samples(grown.out):
        seen[s["meta"]["family"]].add(s["meta"]["split"])
    assert all(len(v) == 1 for v in seen.values())
    assert all(seen[f] == {old_split[f]} for f in seen if f in old_split)
    assert {r["generation"] for r in rows} == {0, 1} and all(r["part"] == 2 for r in rows if r["generation"] == 1)


def test_a_new_fake_of_an_old_real_lands_in_the_reals_split(grown):
    rows = families_of(grown.out)
    assert len(grown.olds) >= 2                              # REALs of at least two splits were given new fakes
    for split, real in grown.olds.items():
        fakes = [r for r in rows if r["generation"] == 1 and r["family"] == real["family"]]
        assert len(fakes) == 2 and all(r["label"] == "FAKE" and r["split"] == split for r in fakes), fakes
        got = [s for s in read_samples(grown.out) if s["meta"]["video"] in {r["video"] for r in fakes}]
        assert got and all(s["meta"]["split"] == split and s["__url__"].rsplit("/", 1)[1].startswith(split)
                           for s in got)
    joined = _index(grown.out)["generations"][1]["joined"]
    assert joined == {s: int(s in grown.olds) for s in joined}


def test_new_generation_is_balanced_and_split_by_the_rule_among_new_families(grown):
    old = set(grown.before.shas)
    new_train = [s for s in read_samples(grown.out, "train") if s["__url__"].rsplit("/", 1)[1] not in old]
    labels = Counter(s["cls"] for s in new_train)
    assert labels[0] and labels[0] == labels[1]               # oversampling reaches 1:1 within the generation
    assert all(s["meta"]["augmentation"]["augmented"] == (s["meta"]["repeat"] > 0) for s in new_train)
    # the new families that no old one holds are split by crops, as a first cut would split them
    rows = [r for r in families_of(grown.out) if r["generation"] == 1]
    joined = {r["family"] for r in grown.olds.values()}
    crops: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if r["family"] not in joined:
            crops[r["family"]][r["split"]] += r["n_crops"]
    per_split = Counter({s: sum(c.get(s, 0) for c in crops.values()) for s in ("train", "val", "test")})
    total, biggest = sum(per_split.values()), max(sum(c.values()) for c in crops.values())
    for split, share in parse_split("0.8,0.1,0.1").items():
        assert abs(per_split[split] - share * total) <= biggest, (split, per_split, total)
    index = _index(grown.out)
    assert sum(index["generations"][1]["families"].values()) == len(crops)


def test_grown_folder_verifies_and_every_reader_sees_all_of_it(grown):
    assert verify_shards(grown.out, grown.work1) == []
    index = _index(grown.out)
    typed = read_shards_index(grown.out)                     # what train reads
    for split, s in index["splits"].items():
        assert typed.splits[split].samples == s["samples"] == len(read_samples(grown.out, split))
        assert [e.name for e in typed.splits[split].shards] == [e["name"] for e in s["shards"]]
        wids = json.loads((grown.out / index["wids"][split]).read_text())
        assert wids["wids_version"] == 1
        assert [(x["url"], x["nsamples"]) for x in wids["shardlist"]] == [(e["name"], e["n_samples"])
                                                                          for e in s["shards"]]
    assert index["samples"] == sum(e["n_samples"] for e in _entries(index).values())
    gens = index["generations"]
    for split in index["splits"]:
        assert index["splits"][split]["samples"] == sum(g["splits"][split]["samples"] for g in gens)


def test_rerun_writes_nothing_and_a_lost_new_shard_is_written_again(grown, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(grown.out, out)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = make_shards(grown.work1, out, cfg(**SETTINGS))
    assert again.written == 0 and again.nothing_new
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps      # not one file rewritten
    new = sorted(set(shas(out)) - set(grown.before.shas))
    want = shas(out)
    (out / new[0]).unlink()
    (out / grown.before.index["splits"]["train"]["shards"][0]["name"]).chmod(0o444)   # old files: never opened
    again = make_shards(grown.work1, out, cfg(**SETTINGS))
    assert again.written == 1 and shas(out) == want
    # WORK grows again by a part without any usable video: nothing new, nothing written, exit 0
    rng = np.random.default_rng(3)
    work2 = tmp_path / "work2"
    shutil.copytree(grown.work1, work2)
    write_part(work2, 3, rng, crop_jpegs(2, rng), 0)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = CliRunner().invoke(dfprep_app, ["shards", str(work2), "--out", str(out), "--samples-per-shard", str(SPS),
                                          "--balance", "oversample", "--no-progress"])
    assert res.exit_code == 0 and "nothing new" in res.output, res.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_a_changed_work_or_other_settings_are_refused(grown, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(grown.out, out)
    with pytest.raises(ShardsUsageError, match=r"changed in WORK \(e\.g\. p2/.* is gone"):
        make_shards(grown.work0, out, cfg(**SETTINGS))          # the WORK before it grew lacks part 2
    res = CliRunner().invoke(dfprep_app, ["shards", str(grown.work1), "--out", str(out), "--samples-per-shard", str(SPS),
                                          "--balance", "undersample", "--no-progress"])
    assert res.exit_code == 2 and "other settings" in res.output and len(res.output.strip().splitlines()) == 1
    assert shas(out) == shas(grown.out)
    index = make_shards(grown.work1, out, cfg(balance="undersample"), overwrite=True).index
    assert len(index["generations"]) == 1 and verify_shards(out, grown.work1) == []
    # --overwrite with SHARDS' own settings on a WORK that grew since: one first cut of all of it
    again = tmp_path / "again"
    shutil.copytree(grown.before_copy, again)
    index = make_shards(grown.work1, again, cfg(**SETTINGS), overwrite=True).index
    assert len(index["generations"]) == 1 and set(shas(again)) == set(_entries(index))
    assert {r["generation"] for r in families_of(again)} == {0} and verify_shards(again, grown.work1) == []


def test_split_by_parts_grows_by_the_part_rule_and_links_win(tmp_path):
    work, out = tmp_path / "work", tmp_path / "shards"
    write_store(work, parts=2, families=8)
    settings = dict(val_parts="1", test_parts="2")
    make_shards(work, out, cfg(**settings))
    before = families_of(out)
    real = next(r for r in before if r["label"] == "REAL" and r["part"] == 0)      # a train REAL
    rng = np.random.default_rng(5)
    write_part(work, 2, rng, crop_jpegs(8, rng), 6, fakes_of=((real["video"], 1),))
    make_shards(work, out, cfg(**settings))
    rows = [r for r in families_of(out) if r["generation"] == 1]
    assert {r["split"] for r in rows if r["family"] == real["family"]} == {"train"}
    assert {r["split"] for r in rows if r["family"] != real["family"]} == {"test"}
    assert verify_shards(out, work) == []


def test_identity_growth_puts_a_known_person_in_their_split(tmp_path):
    work, out = tmp_path / "work", tmp_path / "shards"
    write_store(work, parts=2, families=10, embed=True)
    settings = dict(group="identity", split="0.5,0.25,0.25")
    make_shards(work, out, cfg(**settings))
    before = families_of(out)
    t = pq.read_table(work / "faces.parquet", columns=["part", "video", "label", "embedding"]).to_pylist()
    emb = {(r["part"], r["video"]): r["embedding"] for r in t if r["embedding"] is not None}
    known = {}
    for r in before:                                        # one REAL of val and one of test: the same people again
        if r["label"] == "REAL" and r["split"] != "train" and (r["part"], r["video"]) in emb:
            known.setdefault(r["split"], r)
    assert set(known) == {"val", "test"}
    people = {k: np.array(emb[(r["part"], r["video"])]) for k, r in enumerate(known.values())}
    rng = np.random.default_rng(9)
    write_part(work, 2, rng, crop_jpegs(8, rng), 10, people=people)
    make_shards(work, out, cfg(**settings))
    rows = families_of(out)
    assert [r for r in rows if r["generation"] == 0] == before
    new_reals = [r for r in rows if r["generation"] == 1 and r["label"] == "REAL"]
    for k, old in enumerate(known.values()):
        fam = new_reals[k]["family"]                            # a new family (a new REAL) of a known person
        mine = [r for r in rows if r["family"] == fam]
        assert fam != old["family"] and {(r["split"], r["group"]) for r in mine} == {(old["split"], old["group"])}
    assert verify_shards(out, work) == []


@pytest.mark.slow
def test_growing_an_ingested_work_by_parts(synth_corpus, tmp_path):
    """The real workflow: `ingest --parts 0`, shards, `ingest --parts 0-1` into the same WORK, shards again.
    One FAKE of a part-0 REAL is moved into part 1 first, so the growth brings a new FAKE of an old REAL."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    root, work, out = tmp_path / "corpus", tmp_path / "work", tmp_path / "shards"
    shutil.copytree(synth_corpus, root)
    p0, p1 = root / "dfdc_train_part_0", root / "dfdc_train_part_1"
    m0, m1 = (json.loads((p / "metadata.json").read_text()) for p in (p0, p1))
    moved = next(k for k, v in sorted(m0.items()) if v["label"] == "FAKE" and m0[v["original"]]["label"] == "REAL")
    m1[moved] = m0.pop(moved)
    shutil.move(p0 / moved, p1 / moved)
    (p0 / "metadata.json").write_text(json.dumps(m0))
    (p1 / "metadata.json").write_text(json.dumps(m1))
    args = [str(work), "--out", str(out), "--samples-per-shard", "8", "--split", "1,1,1", "--balance",
            "oversample", "--num-cpus", "2", "--no-progress"]
    runner = CliRunner()
    ingest(root, work, IngestConfig(frames=8, num_cpus=2, progress=False, parts="0"))
    res = runner.invoke(dfprep_app, ["shards", *args])
    assert res.exit_code == 0, res.output
    before, rows0 = shas(out), families_of(out)
    ingest(root, work, IngestConfig(frames=8, num_cpus=2, progress=False, parts="0-1"))
    res = runner.invoke(dfprep_app, ["shards", *args])
    assert res.exit_code == 0 and "generation 1:" in res.output and "old shards kept" in res.output, res.output
    assert {n: shas(out)[n] for n in before} == before
    rows = families_of(out)
    assert [r for r in rows if r["generation"] == 0] == rows0
    real = next(r for r in rows0 if r["video"] == m1[moved]["original"])
    fake = next(r for r in rows if r["video"] == moved)
    assert (fake["part"], fake["generation"], fake["family"], fake["split"]) == (1, 1, real["family"], real["split"])
    res = runner.invoke(dfprep_app, ["shards", "verify", str(out), "--work", str(work)])
    assert res.exit_code == 0 and "ok:" in res.output, res.output
    res = runner.invoke(dfprep_app, ["shards", *args])
    assert res.exit_code == 0 and "nothing new" in res.output, res.output


def test_a_folder_written_before_growth_existed_grows_too(tmp_path):
    """index.json without `generations` (nor `sample_schema`, `wids`), families.parquet without `generation`."""
    work, out = tmp_path / "work", tmp_path / "shards"
    write_store(work, parts=2, families=8)
    make_shards(work, out, cfg())
    index = _index(out)
    for key in ("generations", "sample_schema", "wids"):
        index.pop(key)
    (out / "index.json").write_text(json.dumps(index))
    for p in out.glob("wids-*.json"):
        p.unlink()
    pq.write_table(pq.read_table(out / "families.parquet").drop_columns(["generation"]), out / "families.parquet")
    before = shas(out)
    rng = np.random.default_rng(11)
    write_part(work, 2, rng, crop_jpegs(8, rng), 6)
    grown = make_shards(work, out, cfg()).index
    assert [g["generation"] for g in grown["generations"]] == [0, 1] and grown["generations"][0]["store"]
    assert {n: shas(out)[n] for n in before} == before and len(shas(out)) > len(before)
    assert "sample_schema" not in grown and any("predates the stable schema" in w for w in grown["warnings"])
    assert {r["generation"] for r in families_of(out)} == {0, 1}
    assert verify_shards(out, work) == []
