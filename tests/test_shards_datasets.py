"""Shards over a WORK that holds several datasets: every sample says its dataset and method, official splits,
datasets held out whole for test, named identities grouped, balance per dataset, and an old WORK unchanged.

The WORK is built from Parquet rows as tests/shards_util does (real JPEG crops), with the FF++, Celeb-DF,
DFD and DeeperForensics naming rules; shards are read back with the `webdataset` library.
"""
from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfprep.dataset import VideoEntry, dataset_part
from dfprep.formats.shards import read_shards_index
from dfprep.formats.work.faces import faces_table
from dfprep.formats.work.videos import video_row, videos_table
from dfprep.shards.config import ShardsUsageError
from dfprep.shards.run import make_shards
from shards_util import cfg, crop_jpegs, families_of, read_samples

GOLDEN = Path(__file__).parent / "golden" / "v1"
FF = "original_sequences/youtube/c23/videos/{}.mp4"
FFFAKE = "manipulated_sequences/{}/c23/videos/{}_{}.mp4"
# FF++ pairs (a, b) -> official split: fakes a_b and b_a go with the pair. YouTube ids: 008 and 010 show one
# person (as 7 of the real 1000 sequences do) while their pairs sit in train and test: the identity leak.
FF_PAIRS = {("000", "001"): "train", ("002", "003"): "train", ("004", "005"): "val", ("006", "007"): "test",
            ("008", "009"): "train", ("010", "011"): "test", ("012", "013"): "train", ("014", "015"): "val",
            ("016", "017"): "test", ("018", "019"): "train"}
YOUTUBE = {n: f"ffpp:yt{n}" for pair in FF_PAIRS for n in pair} | {"010": "ffpp:yt008"}


def ffpp_rows() -> list[dict]:
    """FF++ c23: each pair's two originals and their Deepfakes/FaceSwap fakes a_b, b_a, in the pair's split;
    one FaceSwap fake 004_005 listed in test while its family is val (a family whose members disagree)."""
    rows = []
    for (a, b), split in FF_PAIRS.items():
        for t, s in ((a, b), (b, a)):
            rows.append(dict(video=FF.format(t), label="REAL", split=split, identity=YOUTUBE[t]))
            for method in ("Deepfakes", "FaceSwap"):
                rows.append(dict(video=FFFAKE.format(method, t, s), label="FAKE", original=FF.format(t),
                                 method=method, split=split, identity=YOUTUBE[t], source_identity=YOUTUBE[s]))
    for r in rows:
        if r["video"] == FFFAKE.format("FaceSwap", "004", "005"):
            r["split"] = "test"
    return rows


CELEB_TEST_OF_TRAIN = "Celeb-synthesis/id5_id6_0000.mp4"


def celebdf_rows() -> list[dict]:
    """Celeb-DF v2: train and test only (no val); fakes idA_idB_NNNN of Celeb-real/idA_NNNN; unbalanced 1:3.
    One fake is listed in test while its Celeb-real original is train (as the official list has)."""
    rows = []
    for i in range(12):
        real = f"Celeb-real/id{i}_0000.mp4"
        split = "test" if i < 3 else "train"
        rows.append(dict(video=real, label="REAL", split=split, identity=f"celebdf:id{i}"))
        for j in range(3):
            rows.append(dict(video=f"Celeb-synthesis/id{i}_id{(i + j + 1) % 12}_0000.mp4", label="FAKE",
                             original=real, split=split, identity=f"celebdf:id{i}", method="celeb-synthesis"))
    for r in rows:
        if r["video"] == CELEB_TEST_OF_TRAIN:
            r["split"] = "test"
    return rows


def dfd_rows() -> list[dict]:
    """DFD: no official split (null); REAL-heavy (3 scenes per actor, one fake of each actor's first)."""
    rows = []
    for a in range(10):
        scenes = [f"original_sequences/actors/c23/videos/{a:02d}__scene{k}.mp4" for k in range(3)]
        rows += [dict(video=v, label="REAL") for v in scenes]
        rows.append(dict(video=f"manipulated_sequences/DeepFakeDetection/c23/videos/{a:02d}_{(a + 1) % 10:02d}"
                               f"__scene0__X{a}.mp4", label="FAKE", original=scenes[0], method="DeepFakeDetection"))
    return rows


def deeper_rows() -> list[dict]:
    """DeeperForensics: fakes of FF++ c23 originals (the original is an FF++ video, in FF++'s part), showing the
    FF++ target's person."""
    return [dict(video=f"manipulated_videos/end_to_end/{t}_W{k}.mp4", label="FAKE", original=FF.format(t),
                 method="end_to_end", split="test" if k else "train", identity=YOUTUBE[t])
            for k, t in enumerate(("000", "002", "006"))]


DATASETS = {"ffpp": ffpp_rows, "celebdf-v2": celebdf_rows, "dfd": dfd_rows, "deeperforensics": deeper_rows}


def write_dataset(work: Path, dataset: str, rows: list[dict], rng: np.random.Generator, jpegs: list[bytes],
                  part: int | None = None) -> None:
    """One dataset's partition of WORK (or DFDC's training `part`): videos.parquet rows and 3-6 real JPEG crops
    per video in faces.parquet."""
    part = dataset_part(dataset) if part is None else part
    vrows, frows = [], defaultdict(list)
    for r in rows:
        frames = sorted(rng.choice(np.arange(0, 100, 5), rng.integers(3, 7), replace=False).tolist())
        for fi in frames:
            for k, v in (("video", r["video"]), ("part", part), ("label", r["label"]), ("original", r.get("original")),
                         ("frame_idx", fi), ("track_id", 0), ("prob", 0.99), ("x1", 10.0), ("y1", 20.0),
                         ("x2", 110.0), ("y2", 120.0), ("landmarks", None), ("jpeg", jpegs[rng.integers(len(jpegs))]),
                         ("phash", 1), ("frame_phash", 2), ("dataset", dataset), ("method", r.get("method"))):
                frows[k].append(v)
        vrows.append(video_row(VideoEntry(r["video"], part, label=r["label"], original=r.get("original"),
                                          split=r.get("split"), dataset=dataset, method=r.get("method"),
                                          identity=r.get("identity"), source_identity=r.get("source_identity")),
                               status="ok", n_faces=len(frames)))
    for sub, table in (("videos.parquet", videos_table(vrows)), ("faces.parquet", faces_table(frows))):
        path = work / sub / f"part-{part}" / "batch-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        if sub == "faces.parquet":
            table = table.take(np.lexsort((table["frame_idx"].to_numpy(), np.array(table["video"].to_pylist()))))
        pq.write_table(table, path, row_group_size=16)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("multi") / "work"
    rng = np.random.default_rng(3)
    jpegs = crop_jpegs(24, rng)
    for name, rows in DATASETS.items():
        write_dataset(root, name, rows(), rng, jpegs)
    return root


def rows_by_video() -> dict[str, tuple[str, dict]]:
    return {r["video"]: (name, r) for name, make in DATASETS.items() for r in make()}


def cut(work: Path, out: Path, **kw) -> tuple[dict, list[dict]]:
    summary = make_shards(work, out, cfg(balance="none", **kw))
    return summary.index, read_samples(out)


def split_of_videos(samples: list[dict]) -> dict[str, set[str]]:
    where = defaultdict(set)
    for s in samples:
        where[s["meta"]["video"]].add(s["meta"]["split"])
    return where


def test_every_sample_says_its_dataset_and_method(work, tmp_path):
    index, samples = cut(work, tmp_path / "s")
    truth = rows_by_video()
    assert {s["meta"]["dataset"] for s in samples} == set(DATASETS)
    keys = [s["__key__"] for s in samples]
    assert len(keys) == len(set(keys)) and not any("." in k or "/" in k for k in keys)
    counts: dict = {}
    for s in samples:
        name, row = truth[s["meta"]["video"]]
        assert s["meta"]["dataset"] == name and s["meta"]["method"] == (row.get("method") or "")
        assert s["meta"]["part"] == dataset_part(name) and s["__key__"].startswith(f"p{dataset_part(name)}_")
        assert s["cls"] == (row["label"] == "FAKE")
        by = counts.setdefault(name, {}).setdefault(s["meta"]["split"], {"REAL": 0, "FAKE": 0})
        by[row["label"]] += 1
    # the flattened path stays readable in the key: FF++'s method folder and the file's name
    ff = next(s for s in samples if s["meta"]["video"] == FFFAKE.format("Deepfakes", "000", "001"))
    assert "Deepfakes_c23_videos_000_001" in ff["__key__"]
    assert index["datasets"] == counts
    assert read_shards_index(tmp_path / "s").datasets == counts
    fams = families_of(tmp_path / "s")
    assert {(r["video"], r["dataset"]) for r in fams} == {(v, n) for v, (n, _) in truth.items()}


def test_official_split_is_honoured_with_families_whole(work, tmp_path):
    index, samples = cut(work, tmp_path / "s", split="official")
    truth = rows_by_video()
    where = split_of_videos(samples)
    assert all(len(s) == 1 for s in where.values())
    # a family whose members' official splits disagree goes whole to the most held-out of them
    members = defaultdict(set)
    for video, (_, row) in truth.items():
        members[row.get("original") or video].add(row.get("split"))
    rank = {"train": 0, "val": 1, "test": 2}
    for video, splits in where.items():
        official = members[truth[video][1].get("original") or video] - {None}
        expected = {max(official, key=rank.get)} if official else None
        if expected == {"train"} and truth[video][0] == "celebdf-v2":     # no official val: val carved from train
            expected = splits & {"train", "val"} or expected
        if official:
            assert splits == expected, video
        if truth[video][1].get("split") == "test":      # an official test video never leaves test
            assert splits == {"test"}, video
    assert where[FFFAKE.format("FaceSwap", "004", "005")] == where[FF.format("004")] == {"test"}
    # DeeperForensics 002_W1 (test) is a fake of FF++ 002 (train): the family follows it to test
    assert where[FF.format("002")] == where["manipulated_videos/end_to_end/002_W1.mp4"] == {"test"}
    assert where[CELEB_TEST_OF_TRAIN] == where["Celeb-real/id5_0000.mp4"] == {"test"}
    conflicts = index["dataset_splits"]["conflicts"]
    # FF++ 004 (val; its FaceSwap 004_005 test), FF++ 002 (train; DeeperForensics 002_W1 test), Celeb-DF id5
    assert conflicts["kind"] == "families" and conflicts["moved_to"] == {"test": 3}
    assert conflicts["videos_moved"] == {"ffpp": {"val->test": 2, "train->test": 3},
                                         "celebdf-v2": {"train->test": 3}}
    assert all(e["to"] == "test" for e in conflicts["examples"])
    assert any("families span official splits" in w for w in index["warnings"])
    assert "ffpp: video(s) moved off their official split to keep families whole: 3 train -> test, " \
           "2 val -> test" in index["warnings"]
    assert "celebdf-v2: video(s) moved off their official split to keep families whole: 3 train -> test" \
           in index["warnings"]
    # Celeb-DF: its official test stays test; a val is carved from its train, by families
    celeb = {v: s for v, s in where.items() if truth[v][0] == "celebdf-v2"}
    assert all(s == {"test"} for v, s in celeb.items() if truth[v][1]["split"] == "test")
    carved = index["dataset_splits"]["carved_val"]["celebdf-v2"]
    assert carved >= 1 and sum(s == {"val"} for v, s in celeb.items() if "Celeb-real" in v) == carved
    assert any("celebdf-v2: no official val split" in w for w in index["warnings"])
    # DFD has no official split: its families are split by the shares, whole
    fams = families_of(tmp_path / "s")
    by_family = defaultdict(set)
    for r in fams:
        by_family[r["family"]].add(r["split"])
    assert all(len(s) == 1 for s in by_family.values())
    dfd = {r["split"] for r in fams if r["dataset"] == "dfd"}
    assert len(dfd) >= 2 and index["dataset_splits"]["without_official_split"] > 0
    assert index["dataset_splits"]["without_official_test"] == []


def dfdc_rows(part: int) -> list[dict]:
    """A DFDC training part: metadata.json says `split: train` for every video; two fakes per REAL."""
    rows = []
    for i in range(8):
        real = f"p{part}real{i}.mp4"
        rows.append(dict(video=real, label="REAL", split="train"))
        rows += [dict(video=f"p{part}fake{i}{k}.mp4", label="FAKE", original=real, split="train") for k in range(2)]
    return rows


def test_official_dfdc_gets_a_carved_val_and_its_test_from_the_public_test_set(tmp_path):
    from dfprep.shards.verify import verify_shards

    work = tmp_path / "work"
    rng = np.random.default_rng(5)
    jpegs = crop_jpegs(12, rng)
    for part in (0, 1):
        write_dataset(work, "dfdc", dfdc_rows(part), rng, jpegs, part=part)
    public = [dict(video=f"test{i:02d}.mp4", label="FAKE" if i % 2 else "REAL", split="test") for i in range(6)]
    write_dataset(work, "dfdc-test", public, rng, jpegs)
    index, samples = cut(work, tmp_path / "s", split="official")
    by_dataset = defaultdict(set)
    for s in samples:
        by_dataset[s["meta"]["dataset"]].add(s["meta"]["split"])
    assert by_dataset == {"dfdc": {"train", "val"}, "dfdc-test": {"test"}}
    rec = index["dataset_splits"]
    fams = families_of(tmp_path / "s")
    val_families = {r["family"] for r in fams if r["dataset"] == "dfdc" and r["split"] == "val"}
    assert rec["carved_val"] == {"dfdc": len(val_families)} and val_families
    assert rec["without_official_test"] == ["dfdc"] and rec["conflicts"]["count"] == 0
    assert "dfdc: no official val split; {} unit(s) of its official train carved to val".format(
        len(val_families)) in index["warnings"]
    assert any(w.startswith("dfdc: no official test split; it adds no test") for w in index["warnings"])
    by_family = defaultdict(set)
    for r in fams:
        by_family[r["family"]].add(r["split"])
    assert all(len(s) == 1 for s in by_family.values())
    assert verify_shards(tmp_path / "s", work=work) == []


def test_held_out_datasets_go_wholly_to_test(work, tmp_path):
    from dfprep.shards.verify import verify_shards

    index, samples = cut(work, tmp_path / "s", split="0.8,0.2", test_datasets="celebdf-v2,deeperforensics")
    truth = rows_by_video()
    for s in samples:
        held = truth[s["meta"]["video"]][0] in ("celebdf-v2", "deeperforensics")
        assert (s["meta"]["split"] == "test") == held, s["meta"]["video"]
    assert {truth[v][0] for v in split_of_videos(samples)} == set(DATASETS)
    # the three FF++ families with DeeperForensics fakes span the held-out and a training dataset: reported
    span = index["dataset_splits"]["spanning_held_out"]
    assert span["count"] == 3 and all(e.startswith(f"p{dataset_part('ffpp')}/original_sequences")
                                      for e in span["examples"])
    assert any("3 family(ies) span a held-out dataset" in w for w in index["warnings"])
    ff_reals = {s["meta"]["split"] for s in samples if s["meta"]["video"] in (FF.format("000"), FF.format("002"))}
    assert "test" not in ff_reals       # the FF++ side keeps training splits
    assert verify_shards(tmp_path / "s", work=work) == []
    fams = pq.read_table(tmp_path / "s" / "families.parquet")      # verify reads each sample's dataset back
    wrong = ["dfd" if v == FF.format("000") else d
             for v, d in zip(fams["video"].to_pylist(), fams["dataset"].to_pylist())]
    pq.write_table(fams.set_column(fams.schema.get_field_index("dataset"), "dataset", pa.array(wrong)),
                   tmp_path / "s" / "families.parquet")
    problems = verify_shards(tmp_path / "s")
    assert problems and all("json dataset 'ffpp'; families.parquet says 'dfd'" in p for p in problems), problems
    assert read_shards_index(tmp_path / "s").held_out == ("celebdf-v2", "deeperforensics")


def test_test_datasets_are_normalised_for_the_fingerprint_and_verify(work, tmp_path):
    """Spaces and order in --test-datasets change neither the settings nor what verify re-derives."""
    from dfprep.shards.verify import verify_shards

    spaced = make_shards(work, tmp_path / "a", cfg(balance="none", split="0.8,0.2",
                                                  test_datasets=" deeperforensics , celebdf-v2"))
    assert spaced.index["config"]["test_datasets"] == "celebdf-v2,deeperforensics"
    assert cfg(test_datasets="deeperforensics,  celebdf-v2,").fingerprint() == \
        cfg(test_datasets="celebdf-v2,deeperforensics").fingerprint()
    assert read_shards_index(tmp_path / "a").held_out == ("celebdf-v2", "deeperforensics")
    assert verify_shards(tmp_path / "a", work=work) == []
    # an index.json written with the raw form (before the fix) reads the same
    path = tmp_path / "a" / "index.json"
    raw = json.loads(path.read_text())
    raw["config"]["test_datasets"] = " deeperforensics, celebdf-v2"
    path.write_text(json.dumps(raw))
    assert read_shards_index(tmp_path / "a").held_out == ("celebdf-v2", "deeperforensics")
    assert verify_shards(tmp_path / "a", work=work) == []


def test_an_unknown_test_dataset_names_what_work_holds(work, tmp_path):
    with pytest.raises(ShardsUsageError, match=r"--test-datasets celebdf-v1: not in WORK, which holds "
                                               r"celebdf-v2, deeperforensics, dfd, ffpp"):
        make_shards(work, tmp_path / "s", cfg(test_datasets="celebdf-v1,dfd"))
    assert not (tmp_path / "s" / "index.json").exists()


def test_identity_groups_spanning_official_splits_are_reported_and_moved(work, tmp_path):
    index, samples = cut(work, tmp_path / "s", split="official", group="identity")
    where = split_of_videos(samples)
    # 008 (train) and 010 (test) are one YouTube person: their pairs (008-009, 010-011) are one group, one split
    group = [v for v in where if any(f"/{n}" in v or f"/{n}_" in v for n in ("008", "009", "010", "011"))
             and v.startswith(("original", "manipulated_sequences/"))]
    assert len(group) == 12 and set().union(*(where[v] for v in group)) == {"test"}     # the most held-out
    c = index["dataset_splits"]["conflicts"]
    assert c["kind"] == "identity groups" and c["count"] >= 1
    assert any(e["splits"] == ["train", "test"] for e in c["examples"])
    assert any("official split leaks these identities" in w for w in index["warnings"])
    assert index["grouping"]["named_identities"]["families_regrouped"] > 0
    fams = families_of(tmp_path / "s")
    groups = defaultdict(set)
    for r in fams:
        groups[r["group"]].add(r["split"])
    assert all(len(s) == 1 for s in groups.values())


def test_an_identity_group_with_a_held_out_video_goes_whole_to_test(work, tmp_path):
    index, samples = cut(work, tmp_path / "s", split="0.8,0.2", group="identity", test_datasets="deeperforensics")
    where = split_of_videos(samples)
    # DeeperForensics 000/002/006 show FF++ 000/002/006's people: those FF++ pairs' groups go to test with them
    pulled = index["dataset_splits"]["pulled_to_test"]
    assert pulled["count"] == 3
    for n in ("000", "001", "002", "003", "006", "007"):
        assert where[FF.format(n)] == {"test"}, n
    truth = rows_by_video()
    rest = [v for v in where if truth[v][0] == "ffpp" and v.rsplit("/", 1)[1][:3] not in ("000", "001", "002",
                                                                                         "003", "006", "007")]
    assert rest and all("test" not in where[v] for v in rest)      # --split 0.8,0.2: no test but the held out
    assert any("3 identity group(s) hold videos of a held-out dataset" in w for w in index["warnings"])


def _train_counts(samples: list[dict]) -> dict[str, list[int]]:
    n = defaultdict(lambda: [0, 0])
    for s in samples:
        if s["meta"]["split"] == "train":
            n[s["meta"]["dataset"]][s["cls"]] += 1
    return n


def test_balance_per_dataset(work, tmp_path):
    kw = dict(split="0.8,0.2", samples_per_shard=48, use_ray=False, progress=False)
    make_shards(work, tmp_path / "o", cfg(balance="undersample", **kw))
    make_shards(work, tmp_path / "d", cfg(balance="undersample", balance_scope="dataset", **kw))
    overall, per = _train_counts(read_samples(tmp_path / "o")), _train_counts(read_samples(tmp_path / "d"))
    fams = families_of(tmp_path / "d")
    for ds, (real, fake) in per.items():
        if real and fake:       # undersampling keeps a sample of every family: the ratio holds to one per family
            n_fam = len({r["family"] for r in fams if r["dataset"] == ds and r["split"] == "train"})
            assert abs(real - fake) <= n_fam, (ds, real, fake)
    # as a whole the train split is balanced either way, but not each dataset: DFD is REAL-heavy, Celeb-DF FAKE
    assert abs(sum(r for r, _ in overall.values()) - sum(f for _, f in overall.values())) <= 30
    assert overall["dfd"][0] > 2 * overall["dfd"][1] or overall["celebdf-v2"][1] > 2 * overall["celebdf-v2"][0]
    info = json.loads((tmp_path / "d" / "index.json").read_text())["splits"]["train"]["balance"]
    assert info["scope"] == "dataset" and set(info["datasets"]) == set(per)


def test_an_old_work_cuts_as_before(tmp_path):
    """The golden WORK (written before datasets) gives the golden shards' samples, pixels and splits; their json
    only gains dataset "dfdc" and method ""."""
    import sys

    import webdataset as wds

    sys.path.insert(0, str(GOLDEN.parent))
    from make_golden import SHARDS

    shutil.copytree(GOLDEN / "work", tmp_path / "work")
    make_shards(tmp_path / "work", tmp_path / "s", cfg(**{**SHARDS, "samples_per_shard": None}))

    def samples(folder: Path) -> dict[str, dict]:
        urls = sorted(str(p) for p in folder.glob("*.tar"))
        return {s["__key__"]: s for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False)}

    old, new = samples(GOLDEN / "shards"), samples(tmp_path / "s")
    assert old.keys() == new.keys() and old
    for k, s in new.items():
        meta = json.loads(s["json"])
        assert (meta.pop("dataset"), meta.pop("method")) == ("dfdc", "")
        assert meta == json.loads(old[k]["json"]) and s["jpg"] == old[k]["jpg"] and s["cls"] == old[k]["cls"]
    fams = pq.read_table(tmp_path / "s" / "families.parquet")
    assert set(fams["dataset"].to_pylist()) == {"dfdc"}
    assert fams.drop(["dataset"]).equals(pq.read_table(GOLDEN / "shards" / "families.parquet"))
    index = read_shards_index(tmp_path / "s")
    assert index.datasets == {"dfdc": {s: {"REAL": v.real, "FAKE": v.fake}
                                       for s, v in index.splits.items() if v.samples}}


def test_the_cli_holds_datasets_out_and_prints_each(work, tmp_path):
    from rich.console import Console
    from typer.testing import CliRunner

    from dfprep.cli import app
    from dfprep.shards.cli import print_summary

    res = CliRunner().invoke(app, ["shards", str(work), "--out", str(tmp_path / "x"), "--test-datasets", "nope",
                                   "--no-progress"])
    assert res.exit_code == 2 and "--test-datasets nope: not in WORK" in res.output, res.output
    summary = make_shards(work, tmp_path / "s", cfg(split="official", test_datasets="dfd"))
    console = Console(record=True, width=200)
    print_summary(console, summary)
    text = console.export_text()
    n = summary.index["datasets"]["dfd"]["test"]
    assert f"dfd: test {n['REAL']} REAL / {n['FAKE']} FAKE" in text
    assert set(summary.index["datasets"]["dfd"]) == {"test"}
    assert "family(ies) span a held-out dataset" not in text       # DFD's families are its own
