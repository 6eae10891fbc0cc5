"""`dfprep analyze` on a WORK of several datasets: by_dataset / by_method in stats.json against counts computed
here from videos.parquet and faces.parquet, named identities that span official splits, the Datasets section and
figure in headless Chromium, and an old single-dataset WORK that keeps today's page."""
from __future__ import annotations

import json
import shutil
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfprep.analysis.run import analyze
from dfprep.dataset import VideoEntry, dataset_part
from dfprep.formats.work.faces import faces_table
from dfprep.formats.work.videos import video_row, videos_table
from shards_util import crop_jpegs
from test_analysis import _chromium, _render

FFPP, CDF, DFO = "ffpp", "celebdf-v2", "deeperforensics"
YT = "original_sequences/youtube/c23/videos/{}.mp4"
MANIP = "manipulated_sequences/{}/c23/videos/{}_{}.mp4"


def _plan() -> list[tuple[int, VideoEntry, dict]]:
    """(part, entry, probe values) of every video: DFDC part 0, FF++ with two methods, official splits and
    identities (one identity in two splits), Celeb-DF v2, DeeperForensics fakes of FF++ originals (another
    part), one faceless ok video and one decode error."""
    out = []
    probe = {"dfdc": (1920, 1080, 10.0, 300, 29.97), FFPP: (640, 480, 8.0, 200, 25.0),
             CDF: (942, 500, 12.0, 360, 30.0), DFO: (1920, 1080, 6.0, 150, 25.0)}

    def add(part, e, **kw):
        w, h, dur, n, fps = probe[e.dataset]
        vals = dict(status="ok", width=w, height=h, duration_s=dur + 0.5 * (len(out) % 3), n_frames=n, fps=fps)
        vals.update(kw)
        out.append((part, e, vals))

    for i in range(3):
        add(0, VideoEntry(f"r{i}.mp4", 0, label="REAL"))
        for j in range(i + 1):
            add(0, VideoEntry(f"f{i}{j}.mp4", 0, label="FAKE", original=f"r{i}.mp4"))
    p = dataset_part(FFPP)
    ids = {"000": "yt_a", "001": "yt_b", "002": "yt_a", "003": "yt_c"}       # yt_a: train and val
    splits = {"000": "train", "001": "train", "002": "val", "003": "test"}
    pairs = [("000", "001"), ("001", "000"), ("002", "003"), ("003", "002")]
    for t in ids:
        add(p, VideoEntry(YT.format(t), p, label="REAL", split=splits[t], dataset=FFPP, compression="c23",
                          identity=ids[t]))
    for method in ("Deepfakes", "FaceSwap"):
        for t, s in pairs[: 4 if method == "Deepfakes" else 2]:
            add(p, VideoEntry(MANIP.format(method, t, s), p, label="FAKE", original=YT.format(t), split=splits[t],
                              dataset=FFPP, method=method, compression="c23", identity=ids[t],
                              source_identity=ids[s]))
    q = dataset_part(CDF)
    for name, split in (("Celeb-real/id0_0000.mp4", "test"), ("Celeb-real/id1_0000.mp4", "train")):
        add(q, VideoEntry(name, q, label="REAL", split=split, dataset=CDF, identity=name[11:14]))
    add(q, VideoEntry("Celeb-synthesis/id0_id1_0000.mp4", q, label="FAKE", original="Celeb-real/id0_0000.mp4",
                      split="test", dataset=CDF, identity="id0", source_identity="id1"))
    add(q, VideoEntry("Celeb-synthesis/id1_id0_0000.mp4", q, label="FAKE", original="Celeb-real/id1_0000.mp4",
                      split="train", dataset=CDF, identity="id1", source_identity="id0"), n_faces=0)  # faceless
    add(q, VideoEntry("Celeb-synthesis/id1_id0_0001.mp4", q, label="FAKE", original="Celeb-real/id1_0000.mp4",
                      split="train", dataset=CDF), status="error", error="decode failed", width=None, height=None,
        duration_s=None, n_frames=None, fps=None)
    r = dataset_part(DFO)
    for t in ("000", "003"):        # targets are FF++'s people: yt_a (FF++ train, val), yt_c (FF++ test)
        add(r, VideoEntry(f"manipulated_videos/end_to_end/{t}_M004.mp4", r, label="FAKE", original=YT.format(t),
                          split="train", dataset=DFO, method="end_to_end", identity=ids[t]))
    return out


def write_work(work: Path, seed: int = 3) -> Path:
    """videos.parquet and faces.parquet per part, with real JPEG crops and random phashes (fakes differ from
    their originals by a few bits per crop, so the distances are known from the store)."""
    rng = np.random.default_rng(seed)
    jpegs = crop_jpegs(8, rng)
    plan = _plan()
    frames = [0, 10, 20, 30]
    base: dict[tuple[int, str], list[int]] = {}
    vrows, frows = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for part, e, vals in plan:
        ok = vals["status"] == "ok"
        hashes = [int(x) for x in rng.integers(0, 2**63, len(frames), dtype=np.int64)]
        vrows[part].append(video_row(e, **({"sampled_frames": frames, "frame_phash": hashes,
                                            "n_faces": vals.pop("n_faces", len(frames)), "frames_with_face": 0,
                                            "n_tracks": 1} if ok else {}), **vals))
        if not ok or vrows[part][-1]["n_faces"] == 0:
            continue
        crop = [int(x) for x in rng.integers(0, 2**63, len(frames), dtype=np.int64)]
        if e.label == "REAL":
            base[e.video] = crop
        else:                   # a fake's crop: its original's with a few bits flipped
            crop = [h ^ int(rng.integers(1, 2**12)) for h in base[e.original]]
        vrows[part][-1]["frames_with_face"] = len(frames)
        for fi, h in zip(frames, crop):
            for k, v in (("dataset", e.dataset), ("video", e.video), ("part", part), ("label", e.label),
                         ("original", e.original), ("method", e.method), ("frame_idx", fi), ("track_id", 0),
                         ("prob", 0.99), ("x1", 10.0), ("y1", 20.0), ("x2", 110.0), ("y2", 120.0),
                         ("landmarks", None), ("jpeg", jpegs[fi % len(jpegs)]), ("phash", h),
                         ("frame_phash", 0), ("embedding", None)):
                frows[part][k].append(v)
    for part, rows in vrows.items():
        for sub, table in (("videos.parquet", videos_table(rows)),
                           ("faces.parquet", faces_table(frows[part]) if frows[part] else None)):
            if table is None:
                continue
            path = work / sub / f"part-{part}" / "batch-00000.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
    return work


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    work = write_work(tmp_path_factory.mktemp("multi"))
    out = work / "report"
    return work, out, analyze(work, out=out, gallery_size=2, augment_preview=False)


def _pop(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def test_by_dataset_matches_videos_parquet(multi):
    work, out, _ = multi
    stats = json.loads((out / "stats.json").read_text())
    rows = pq.read_table(work / "videos.parquet").to_pylist()
    by_ds = defaultdict(list)
    for r in rows:
        by_ds[r["dataset"]].append(r)
    assert sorted(stats["by_dataset"]) == sorted(by_ds) == sorted(["dfdc", FFPP, CDF, DFO])
    for ds, rs in by_ds.items():
        got = stats["by_dataset"][ds]
        labels = Counter(r["label"] for r in rs)
        assert (got["labels"]["REAL"], got["labels"]["FAKE"], got["videos"]) == \
            (labels["REAL"], labels["FAKE"], len(rs))
        assert got["status"] == dict(Counter(r["status"] for r in rs))
        splits = Counter(r["split"] or "none" for r in rs)
        assert {k: v["total"] for k, v in got["splits"].items()} == dict(splits)
        durs = [r["duration_s"] for r in rs if r["duration_s"] is not None]
        assert got["lengths"]["duration_s"]["median"] == pytest.approx(statistics.median(durs), abs=1e-3)
        assert got["resolutions"] == dict(Counter(f"{r['width']}x{r['height']}" for r in rs if r["width"]))
        okr = [r for r in rs if r["status"] == "ok"]
        assert got["faces"]["faces_per_video"]["mean"] == pytest.approx(statistics.mean(r["n_faces"] for r in okr))
        no_face = sum(1 for r in okr if r["n_faces"] == 0)
        assert got["faces"]["videos_without_face"] == no_face
        assert got["faces"]["no_face_rate"] == pytest.approx(no_face / len(okr), abs=1e-4)
        assert got["methods"] == dict(Counter(r["method"] or "none" for r in rs if r["label"] == "FAKE"))
    # the faceless Celeb-DF video is counted, and the DFDC rows carry no official split
    assert stats["by_dataset"][CDF]["faces"]["videos_without_face"] == 1
    assert stats["by_dataset"]["dfdc"]["splits"] == {"none": stats["by_dataset"]["dfdc"]["splits"]["none"]}


def test_by_method_and_fake_vs_original_from_the_store(multi):
    work, out, stats = multi
    rows = pq.read_table(work / "videos.parquet").to_pylist()
    faces = pq.read_table(work / "faces.parquet", columns=["video", "frame_idx", "phash"]).to_pylist()
    crop = {(f["video"], f["frame_idx"]): f["phash"] for f in faces}   # video names are unique in this WORK
    ok_real = {r["video"] for r in rows if r["label"] == "REAL" and r["status"] == "ok"}
    assert set(stats["by_method"]) == {FFPP, DFO}           # Celeb-DF and DFDC name no method
    for ds, methods in stats["by_method"].items():
        fakes = [r for r in rows if r["dataset"] == ds and r["label"] == "FAKE"]
        assert {m: g["videos"] for m, g in methods.items()} == dict(Counter(r["method"] for r in fakes))
        for m, g in methods.items():
            mine = [r for r in fakes if r["method"] == m]
            assert g["labels"]["FAKE"] == len(mine) and g["labels"]["REAL"] == 0
            with_orig = [r for r in mine if r["status"] == "ok" and r["original"] in ok_real]
            assert g["fake_vs_original"]["fakes_with_original"] == len(with_orig) > 0
            per_fake = [statistics.mean(_pop(crop[(r["video"], fi)], crop[(r["original"], fi)])
                        for fi in r["sampled_frames"]) for r in with_orig]
            assert g["fake_vs_original"]["crop_distance"]["mean"] == pytest.approx(statistics.mean(per_fake),
                                                                                   abs=1e-3)
            per_frame = [statistics.mean(_pop(a, b) for a, b in zip(
                r["frame_phash"], next(o for o in rows if o["video"] == r["original"])["frame_phash"]))
                for r in with_orig]
            assert g["fake_vs_original"]["frame_distance"]["mean"] == pytest.approx(statistics.mean(per_frame),
                                                                                    abs=1e-3)
    # DeeperForensics fakes name FF++ originals in another part: found there
    assert stats["by_method"][DFO]["end_to_end"]["fake_vs_original"]["fakes_with_original"] == 2


def test_named_identities_spanning_official_splits(multi):
    work, _, stats = multi
    rows = pq.read_table(work / "videos.parquet").to_pylist()
    named = stats["identity"]["named"]
    assert sorted(named["by_dataset"]) == [CDF, DFO, FFPP]
    everywhere = defaultdict(lambda: (set(), set()))
    for ds, got in named["by_dataset"].items():
        splits = defaultdict(set)
        for r in rows:
            if r["dataset"] == ds and r["identity"] is not None:
                splits[r["identity"]].add(r["split"])
                everywhere[r["identity"]][0].add(ds)
                everywhere[r["identity"]][1].add(r["split"])
        assert got["identities"] == len(splits)
        assert got["videos_with_identity"] == sum(1 for r in rows if r["dataset"] == ds and r["identity"])
        spanning = {k for k, v in splits.items() if len(v) > 1}
        assert got["spanning_splits"] == len(spanning)
        assert {e["identity"] for e in got["examples"]} == spanning
    assert named["by_dataset"][FFPP]["by_splits"] == {"train/val": 1}       # yt_a: 000 in train, 002 in val
    assert named["by_dataset"][CDF]["spanning_splits"] == named["by_dataset"][DFO]["spanning_splits"] == 0
    across = named["across_datasets"]
    shared = {k: v for k, v in everywhere.items() if len(v[0]) > 1}
    assert across["shared"] == len(shared) == 2 and across["by_datasets"] == {f"{DFO}+{FFPP}": 2}
    assert across["spanning_splits"] == sum(1 for _, sp in shared.values() if len(sp) > 1) == 2
    assert {e["identity"]: e["splits"] for e in across["examples"]} == {"yt_a": ["train", "val"],
                                                                        "yt_c": ["train", "test"]}


def test_ffpp_official_split_identity_leak_from_the_shipped_tables(tmp_path):
    """FF++'s 1000 originals with the official split and conversion_dict.json's YouTube sources (shipped):
    the report names the identities behind sequences of two splits, as `ffpp_data.identity_leaks` finds them
    (7, as the issue says)."""
    from dfprep.datasets.ffpp_data import identity_leaks, load_tables

    tables = load_tables()
    part = dataset_part(FFPP)
    rows = [video_row(VideoEntry(YT.format(seq), part, label="REAL", split=tables.split_of[seq], dataset=FFPP,
                                 compression="c23", identity=tables.identity(seq)), status="missing")
            for seq in sorted(tables.youtube)]
    path = tmp_path / "work" / "videos.parquet" / f"part-{part}" / "batch-00000.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(videos_table(rows), path)
    stats = analyze(tmp_path / "work", out=tmp_path / "report", augment_preview=False)
    got = stats["identity"]["named"]["by_dataset"][FFPP]
    leaks = identity_leaks(tables)
    assert got["spanning_splits"] == len(leaks) == 7
    assert {e["identity"] for e in got["examples"]} == {tables.identity(seqs[0]) for seqs in leaks.values()}
    assert got["identities"] == len(set(tables.youtube.values())) == 977
    assert "by_dataset" not in stats                # one dataset, no method: no Datasets section
    page = (tmp_path / "report" / "index.html").read_text()
    assert "ffpp: 7 named identities span official splits" in page and 'id="datasets"' not in page


def test_datasets_section_and_figure_render(multi, tmp_path):
    work, out, stats = multi
    from PIL import Image

    assert stats["figures"]["datasets"] == "figures/datasets.png"
    with Image.open(out / "figures" / "datasets.png") as im:
        assert im.format == "PNG" and im.width > 400
    page = (out / "index.html").read_text()
    assert '<section id="datasets"><h2>Datasets</h2>' in page and 'href="#datasets"' in page
    assert page.index('id="datasets"') < page.index('id="labels"')
    assert " style=" not in page and "Identities the datasets name" in page
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on PATH (install Debian's `chromium` package; scripts/test.sh does)")
    attrs, dom, console = _render(exe, out / "index.html", tmp_path / "profile")
    n_img = page.count("<img ")
    assert attrs.get("data-ready") == "1", attrs
    assert attrs.get("data-images-ok") == attrs.get("data-images-total") == str(n_img)
    assert attrs.get("data-errors") == "0" and not console, console
    for ds, g in stats["by_dataset"].items():
        assert f"<td>{ds}</td><td class=\"n\">{g['videos']:,}</td>" in dom


def test_old_single_dataset_work_keeps_todays_page(tmp_path):
    golden = Path(__file__).parent / "golden" / "v1" / "work"
    work = tmp_path / "work"
    shutil.copytree(golden, work)
    stats = analyze(work, out=tmp_path / "report", gallery_size=2, augment_preview=False)
    assert "by_dataset" not in stats and "by_method" not in stats and "datasets" not in stats["figures"]
    assert "named" not in stats.get("identity", {})
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'id="datasets"' not in page and not (tmp_path / "report" / "figures" / "datasets.png").exists()


def test_work_without_faces_still_breaks_down_and_names_identities(tmp_path):
    work = write_work(tmp_path / "work")
    shutil.rmtree(work / "faces.parquet")
    for f in (work / "videos.parquet").rglob("*.parquet"):       # as `ingest --no-faces` writes them
        t = pq.read_table(f)
        for c in ("n_faces", "frames_with_face", "n_tracks"):
            t = t.set_column(t.schema.get_field_index(c), c, pa.nulls(t.num_rows, t.schema.field(c).type))
        pq.write_table(t, f)
    stats = analyze(work, out=tmp_path / "report", gallery_size=2, augment_preview=False)
    g = stats["by_dataset"][FFPP]
    assert "faces" not in g and g["fake_vs_original"]["crop_distance"]["count"] == 0
    assert g["fake_vs_original"]["frame_distance"]["count"] == g["fake_vs_original"]["fakes_with_original"] == 6
    assert not stats["identity"]["available"]
    assert stats["identity"]["named"]["by_dataset"][FFPP]["spanning_splits"] == 1
    page = (tmp_path / "report" / "index.html").read_text()
    assert 'id="datasets"' in page and "ffpp: 1 named identities span official splits" in page
