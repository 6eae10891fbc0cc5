"""Issue 18, item 3: a FAKE whose `original` changed in WORK must not leak its family across the splits of a
grown SHARDS. Before: `dfprep shards` on the changed WORK said "nothing new", exit 0, with the FAKE in train and
its new original in val, and `verify --work` said only "content hash differs". Now every family is re-derived
from the grown WORK: a change that would put a family in two splits is refused in one line naming the videos
(exit 2, nothing written); `--resplit` rewrites every shard with each family in one split (recorded in
index.json), and `verify --work` names a leak as a leak.

Fast tests change a synthetic face store (`shards_util`) as a re-ingest would (the FAKE's `original` in
videos.parquet and faces.parquet); the slow one re-ingests a real synthetic corpus after editing metadata.json.
"""
from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from dfprep.cli import app as dfprep_app
from dfprep.shards.config import ShardsUsageError
from dfprep.shards.run import make_shards
from dfprep.shards.verify import verify_shards
from shards_util import SPS, cfg, families_of, read_samples, shas, write_store

ARGS = ["--samples-per-shard", str(SPS), "--no-progress"]


def _repoint(work: Path, fake: dict, real: dict) -> None:
    """Make `fake` a FAKE of `real` in WORK, in both tables, as re-ingesting it after a metadata.json edit does."""
    for sub in ("videos.parquet", "faces.parquet"):
        for path in sorted((work / sub).rglob("*.parquet")):
            t = pq.read_table(path)
            hit = pc.and_(pc.equal(t["part"], fake["part"]), pc.equal(t["video"], fake["video"]))
            if not pc.any(hit).as_py():
                continue
            original = pc.if_else(hit, pa.scalar(real["video"]), t["original"])
            meta = pq.ParquetFile(path).metadata
            rg = max(meta.row_group(0).num_rows, 1) if meta.num_row_groups else None
            pq.write_table(t.set_column(t.schema.get_field_index("original"), "original", original), path,
                           row_group_size=rg)


def _pick(rows: list[dict], same_split: bool) -> tuple[dict, dict]:
    """A FAKE (not its family's only video) and a REAL of another family, in another split (or the same)."""
    rooted = {r["family"] for r in rows if r["label"] == "REAL"}          # families of a REAL (not orphans)
    fake = next(r for r in rows if r["label"] == "FAKE" and r["split"] == "train" and r["family"] in rooted)
    real = next(r for r in rows if r["label"] == "REAL" and r["part"] == fake["part"] and r["family"] != fake["family"]
                and (r["split"] == "train") == same_split)
    return fake, real


def _cut(tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    work, out = tmp_path / "work", tmp_path / "shards"
    write_store(work, parts=2, families=12)
    make_shards(work, out, cfg())
    return work, out, families_of(out)


def test_a_changed_original_across_splits_is_refused_then_resplit(tmp_path):
    work, out, rows = _cut(tmp_path)
    fake, real = _pick(rows, same_split=False)
    _repoint(work, fake, real)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    res = CliRunner().invoke(dfprep_app, ["shards", str(work), "--out", str(out), *ARGS])
    line = res.output.strip()
    assert res.exit_code == 2 and len(line.splitlines()) == 1, res.output
    assert "would leak" in line and f"family {real['family']} would span" in line
    assert f"p{fake['part']}/{fake['video']} (train)" in line and f"p{real['part']}/{real['video']} ({real['split']})" in line
    assert "--resplit" in line and "nothing new" not in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before          # nothing written
    with pytest.raises(ShardsUsageError, match="would leak"):
        make_shards(work, out, cfg())

    # verify --work against the changed WORK names the leak as a leak, with its videos
    problems = verify_shards(out, work)
    leak = [p for p in problems if p.startswith(f"leak: family {real['family']}")]
    assert leak and f"p{fake['part']}/{fake['video']} (train)" in leak[0] and f"({real['split']})" in leak[0], problems

    # --resplit: every shard rewritten, every family in one split, the move recorded
    res = CliRunner().invoke(dfprep_app, ["shards", str(work), "--out", str(out), *ARGS, "--resplit"])
    assert res.exit_code == 0 and "re-split:" in res.output, res.output
    assert verify_shards(out, work) == []
    now = families_of(out)
    splits = defaultdict(set)
    for r in now:
        splits[r["family"]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values())
    moved = next(r for r in now if r["video"] == fake["video"] and r["part"] == fake["part"])
    assert moved["family"] == real["family"] and {r["generation"] for r in now} == {0}
    seen = defaultdict(set)
    for s in read_samples(out):                                                # the samples, through webdataset
        seen[s["meta"]["family"]].add(s["meta"]["split"])
        assert s["__url__"].rsplit("/", 1)[1].startswith(s["meta"]["split"])
    assert all(len(v) == 1 for v in seen.values()) and seen[real["family"]] == {moved["split"]}
    index = json.loads((out / "index.json").read_text())
    keep_split = moved["split"]
    assert index["resplit"]["leaks"] and index["resplit"]["n_changes"] >= 1
    assert {"video": f"p{fake['part']}/{fake['video']}", "from": "train", "to": keep_split} in index["resplit"]["moved"] \
        or keep_split == "train"
    untouched = {(r["part"], r["video"]): r["split"] for r in rows if r["family"] not in (fake["family"], real["family"])}
    assert all(untouched[(r["part"], r["video"])] == r["split"] for r in now if (r["part"], r["video"]) in untouched)
    # the same command again: nothing new, nothing written
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    res = CliRunner().invoke(dfprep_app, ["shards", str(work), "--out", str(out), *ARGS, "--resplit"])
    assert res.exit_code == 0 and "nothing new" in res.output, res.output
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_a_changed_original_within_a_split_is_not_nothing_new(tmp_path):
    work, out, rows = _cut(tmp_path)
    fake, real = _pick(rows, same_split=True)
    _repoint(work, fake, real)
    before = shas(out)
    res = CliRunner().invoke(dfprep_app, ["shards", str(work), "--out", str(out), *ARGS])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert f"p{fake['part']}/{fake['video']} is now in family {real['family']} (was {fake['family']})" in res.output
    assert "would leak" not in res.output and shas(out) == before


def test_an_interrupted_resplit_resumes_to_the_same_folder(tmp_path, monkeypatch):
    work, out, rows = _cut(tmp_path)
    fake, real = _pick(rows, same_split=False)
    _repoint(work, fake, real)
    base = tmp_path / "copy"
    shutil.copytree(out, base)
    make_shards(work, out, cfg(resplit=True))
    want = shas(out)
    # interrupted: a resplit that finished some shards, then stopped before index.json (as a kill leaves it)
    from dfprep.shards import run as run_mod

    calls = {"n": 0}
    real_write = run_mod.write_shard

    def stop_after_three(spec, w, path):     # Ctrl-C after the third shard was written
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return real_write(spec, w, path)

    monkeypatch.setattr(run_mod, "write_shard", stop_after_three)
    with pytest.raises(KeyboardInterrupt):
        make_shards(work, base, cfg(resplit=True))
    monkeypatch.undo()
    state = json.loads((base / "_state.json").read_text())
    assert not (base / "index.json").exists() and state["resplit"]["keep"] and len(state["done"]) == 3
    again = make_shards(work, base, cfg())          # the rerun finishes the same re-split, even without --resplit
    assert again.reused == 3 and shas(base) == want and verify_shards(base, work) == []


@pytest.mark.slow
def test_reingesting_a_changed_original_is_refused_then_resplit(synth_corpus, tmp_path):
    """The workflow of the issue: ingest, shards, metadata.json edited so a FAKE in train names a REAL of a
    family in another split as its original, ingest again (the FAKE is redone), shards again."""
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    root, work, out = tmp_path / "corpus", tmp_path / "work", tmp_path / "shards"
    shutil.copytree(synth_corpus, root)
    icfg = IngestConfig(frames=8, num_cpus=1, progress=False)
    ingest(root, work, icfg)
    settings = dict(samples_per_shard=8, split="0.6,0.2,0.2", balance="none")
    make_shards(work, out, cfg(**settings))
    rows = families_of(out)
    split_of = {r["family"]: r["split"] for r in rows}
    fakes = [r for r in rows if r["label"] == "FAKE" and r["n_samples"] and split_of[r["family"]] == "train"]
    reals = [r for r in rows if r["label"] == "REAL" and r["n_samples"] and r["split"] != "train"]
    names = [r["video"] for r in rows]
    fake, real = next(((f, r) for f in fakes for r in reals if names.count(r["video"]) == 1), (None, rows))
    assert fake is not None, rows
    meta_path = root / f"dfdc_train_part_{fake['part']}" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta[fake["video"]]["original"] = real["video"]
    meta_path.write_text(json.dumps(meta))
    summary = ingest(root, work, icfg)
    assert summary.changed == 1, summary
    before = shas(out)

    res = CliRunner().invoke(dfprep_app, ["shards", str(work), "--out", str(out), "--samples-per-shard", "8", "--split",
                                          "0.6,0.2,0.2", "--balance", "none", "--no-progress"])
    line = res.output.strip()
    assert res.exit_code == 2 and len(line.splitlines()) == 1, res.output
    assert f"family {real['family']} would span train and {real['split']}" in line
    assert f"p{fake['part']}/{fake['video']} (train)" in line and "nothing new" not in line
    assert shas(out) == before
    assert any(p.startswith(f"leak: family {real['family']}") for p in verify_shards(out, work))

    index = make_shards(work, out, cfg(resplit=True, **settings)).index
    assert index["resplit"]["leaks"] and verify_shards(out, work) == []
    now = families_of(out)
    assert len({r["split"] for r in now if r["family"] == real["family"]}) == 1
    assert next(r for r in now if r["video"] == fake["video"])["family"] == real["family"]
    seen = defaultdict(set)
    for s in read_samples(out):
        seen[s["meta"]["family"]].add(s["meta"]["split"])
    assert all(len(v) == 1 for v in seen.values())


def test_a_video_ingested_again_with_other_crops_is_not_nothing_new(tmp_path):
    """A video SHARDS holds whose crops changed in WORK (ingested again from another file: other boxes, the same
    number of crops) is refused, not "nothing new"; --resplit writes its new crops."""
    work, out, rows = _cut(tmp_path)
    video = next(r for r in rows if r["n_samples"] and r["label"] == "FAKE")
    for path in sorted((work / "faces.parquet").rglob("*.parquet")):
        t = pq.read_table(path)
        hit = pc.and_(pc.equal(t["part"], video["part"]), pc.equal(t["video"], video["video"]))
        if pc.any(hit).as_py():
            x1 = pc.if_else(hit, pc.add(t["x1"], pa.scalar(3.0, t["x1"].type)), t["x1"])
            pq.write_table(t.set_column(t.schema.get_field_index("x1"), "x1", x1), path, row_group_size=64)
    before = shas(out)
    res = CliRunner().invoke(dfprep_app, ["shards", str(work), "--out", str(out), *ARGS])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert f"p{video['part']}/{video['video']}'s crops differ from those SHARDS holds" in res.output
    assert shas(out) == before
    index = make_shards(work, out, cfg(resplit=True)).index
    assert index["resplit"]["moved"] == [] and index["resplit"]["n_changes"] == 1
    assert verify_shards(out, work) == []
    got = [s["meta"] for s in read_samples(out) if s["meta"]["video"] == video["video"]]
    assert got and all(m["box"][0] == 13.0 + m["track_id"] for m in got)     # the new boxes (10 + track + 3)
