"""`dfprep analyze`: stats.json against counts computed here independently, the page in headless Chromium,
--metadata-only on the real DFDC part-0 metadata, bad input, and the vectorized cores on hand-made data."""
from __future__ import annotations

import base64
import json
import re
import shutil
import statistics
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from dfprep.analysis.cli import analyze_command
from dfprep.analysis.health import health_stats, reason_key
from dfprep.analysis.load import AnalysisError, FaceColumns
from dfprep.formats.work.names import WorkError
from dfprep.analysis.run import analyze
from dfprep.analysis.similarity import cross_family_duplicates
from dfprep.analysis.summaries import hamming

REAL_META = "dfdc_train_part_0_metadata.json"


@pytest.fixture(scope="module")
def report(ingest_work, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    stats = analyze(ingest_work, out=out)
    return out, stats


def _videos(work: Path) -> list[dict]:
    return pq.read_table(work / "videos.parquet").to_pylist()


def _faces(work: Path) -> list[dict]:
    return pq.read_table(work / "faces.parquet", columns=["video", "part", "frame_idx", "track_id", "phash",
                                                          "jpeg"]).to_pylist()


def _popcount(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def _cli() -> typer.Typer:
    """`dfprep analyze` on an app of its own, through dfprep.cli's one handler as registered."""
    from dfprep.cli import reported

    app = typer.Typer()
    app.command()(reported(analyze_command))
    return app


# ------------------------------------------------------------------------------------ stats.json vs data

def test_stats_json_matches_independent_counts(report, ingest_work, synth_corpus):
    out, returned = report
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"] == returned["totals"]
    videos = _videos(ingest_work)

    by = defaultdict(Counter)
    for v in videos:
        by[v["label"] or "none"][v["status"]] += 1
    assert stats["videos_by_label_status"] == {k: dict(c) for k, c in by.items()}

    for col in ("duration_s", "n_frames"):
        for lab in ("REAL", "FAKE"):
            vals = [v[col] for v in videos if v["label"] == lab and v[col] is not None]
            s = stats["lengths"]["numeric"][col]["by_label"][lab]
            assert s["count"] == len(vals)
            assert s["mean"] == pytest.approx(statistics.mean(vals), rel=1e-3)
            assert s["median"] == pytest.approx(statistics.median(vals), rel=1e-3)
            assert (s["min"], s["max"]) == (pytest.approx(min(vals)), pytest.approx(max(vals)))

    # label counts per part against the generator's own record, not the ingest
    synth = json.loads((synth_corpus / "synth.json").read_text())
    for name, part in synth["parts"].items():
        got = stats["labels"]["per_part"][name.rsplit("_", 1)[1]]
        assert (got["REAL"], got["FAKE"]) == (part["counts"]["REAL"], part["counts"]["FAKE"])
    fams = Counter((v["part"], v["original"]) for v in videos if v["label"] == "FAKE")
    reals = [(v["part"], v["video"]) for v in videos if v["label"] == "REAL"]
    assert stats["labels"]["families"]["originals_without_fakes"]["count"] == sum(1 for r in reals if not fams[r])
    assert stats["labels"]["families"]["largest"][0]["fakes"] == max(fams.values())


def test_face_stats_match_face_store(report, ingest_work, synth_corpus):
    stats = report[1]
    videos, faces = _videos(ingest_work), _faces(ingest_work)
    assert stats["faces"]["face_rows"] == len(faces) > 0
    ok = {(v["part"], v["video"]): v for v in videos if v["status"] == "ok"}
    with_rows = {(f["part"], f["video"]) for f in faces}
    no_face = {(x["part"], x["video"]) for x in stats["faces"]["videos_without_face"]["videos"]}
    assert no_face == set(ok) - with_rows
    synth = json.loads((synth_corpus / "synth.json").read_text())
    for name, part in synth["parts"].items():   # the generator's faceless videos are all reported
        assert {(int(name.rsplit("_", 1)[1]), v) for v in part["no_face"]} <= no_face

    for lab in ("REAL", "FAKE"):
        keys = [k for k, v in ok.items() if v["label"] == lab]
        sampled = sum(len(ok[k]["sampled_frames"]) for k in keys)
        framed = len({(f["part"], f["video"], f["frame_idx"]) for f in faces if (f["part"], f["video"]) in keys})
        got = stats["faces"]["share_frames_with_face"][lab]
        assert (got["sampled_frames"], got["frames_with_face"]) == (sampled, framed)
        per_frame = Counter(Counter((f["part"], f["video"], f["frame_idx"]) for f in faces
                                    if (f["part"], f["video"]) in keys).values())
        for n, c in per_frame.items():
            assert stats["faces"]["faces_per_frame"][str(n)][lab] == c
        tracks = Counter(len({f["track_id"] for f in faces if (f["part"], f["video"]) == k}) for k in keys)
        for n, c in tracks.items():
            assert stats["faces"]["tracks_per_video"][str(n)][lab] == c


def test_similarity_matches_pairwise_hashes(report, ingest_work):
    stats = report[1]
    videos, faces = _videos(ingest_work), _faces(ingest_work)
    # consecutive whole frames, per video mean, then the per-label mean of those
    for lab in ("REAL", "FAKE"):
        means = [statistics.mean(_popcount(a, b) for a, b in zip(v["frame_phash"], v["frame_phash"][1:]))
                 for v in videos if v["label"] == lab and v["status"] == "ok" and len(v["frame_phash"] or []) > 1]
        assert stats["similarity"]["frames_consecutive"]["by_label"][lab]["mean"] == \
            pytest.approx(statistics.mean(means), abs=1e-3)
    # each fake against its original at the same frame and track
    crop = {(f["part"], f["video"], f["frame_idx"], f["track_id"]): f["phash"] for f in faces}
    expected = {}
    for v in videos:
        if v["label"] != "FAKE":
            continue
        d = [_popcount(h, crop[(v["part"], v["original"], fi, t)]) for (p, name, fi, t), h in crop.items()
             if (p, name) == (v["part"], v["video"]) and (p, v["original"], fi, t) in crop]
        if d:
            expected[v["video"]] = (statistics.mean(d), len(d))
    fv = stats["similarity"]["fake_vs_original"]
    assert fv["fakes_with_crop_pairs"] == len(expected) > 0
    listed = {x["video"]: x for x in fv["most_changed"] + fv["least_changed"]}
    assert listed
    for name, x in listed.items():
        assert x["crop_distance"] == pytest.approx(expected[name][0], abs=1e-3)
        assert x["pairs"] == expected[name][1]
    assert stats["similarity"]["cross_family_duplicates"]["hashes"] == 0


def test_outputs_written_and_gallery_crops_come_from_the_store(report, ingest_work):
    out, stats = report
    from PIL import Image

    assert set(stats["figures"]) >= {"labels", "lengths", "faces", "consecutive", "fake_vs_original"}
    for rel in stats["figures"].values():
        with Image.open(out / rel) as im:
            assert im.format == "PNG" and im.width > 200
    assert not list(out.rglob(".tmp-*"))
    page = (out / "index.html").read_text()
    store = {(f["video"], f["frame_idx"], f["track_id"]): f["jpeg"] for f in _faces(ingest_work)}
    items = stats["gallery"]["samples"]["REAL"] + stats["gallery"]["samples"]["FAKE"]
    items += [p[k] for p in stats["gallery"]["pairs"] for k in ("fake", "original")]
    assert stats["gallery"]["samples"]["REAL"] and stats["gallery"]["samples"]["FAKE"] and stats["gallery"]["pairs"]
    for it in items:
        jpeg = store[(it["video"], it["frame_idx"], it["track_id"])]
        assert base64.b64encode(jpeg).decode() in page
    for p in stats["gallery"]["pairs"]:
        assert p["fake"]["label"] == "FAKE" and p["original"]["label"] == "REAL"
        assert p["fake"]["frame_idx"] == p["original"]["frame_idx"]
    aug = stats["gallery"]["augment"]
    assert aug["available"], aug.get("reason")
    assert sum(len(r["outputs"]) for r in aug["rows"]) >= len(aug["augments"])


# ------------------------------------------------------------------------------------- the browser test

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _render(exe: str, page: Path, profile: Path) -> tuple[dict, str, list[str]]:
    """Load the page in headless Chromium; return <body> attributes after load, the DOM, console lines."""
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--window-size=1400,4000",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", proc.stdout)
    assert body, proc.stdout[:500]
    return (dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1))), proc.stdout,
            [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln])


def test_report_renders_in_headless_chromium(report, tmp_path):
    out, stats = report
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on PATH (install Debian's `chromium` package; scripts/test.sh does)")
    page = (out / "index.html").read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page), "page references the network"
    attrs, dom, console = _render(exe, out / "index.html", tmp_path / "p1")
    n_img = page.count("<img ")
    n_expected = len(stats["figures"]) + sum(len(v) for v in stats["gallery"]["samples"].values()) \
        + 2 * len(stats["gallery"]["pairs"])
    assert n_img >= n_expected > 0
    assert attrs.get("data-ready") == "1", attrs
    assert attrs.get("data-images-total") == str(n_img)
    assert attrs.get("data-images-ok") == str(n_img), "some image did not decode"
    assert attrs.get("data-errors") == "0", re.search(r'<pre id="page-errors"[^>]*>(.*?)</pre>', dom, re.S)
    assert not console, console
    # numbers on the page come from stats.json
    assert f">{stats['totals']['faces']:,}<" in dom and f">{stats['totals']['videos']:,}<" in dom

    # the harness does see a broken image, a network request (blocked by the page's CSP) and an injected inline
    # script, which never runs: its hash is not in the CSP (no 'unsafe-inline'), and the violation is counted
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("</main>", '<img src="data:image/png;base64,AAAA">'
                                              '<img src="https://example.invalid/x.png">'
                                              "<script>document.body.setAttribute('data-injected', '1')</script>"
                                              "</main>"))
    attrs, dom, console = _render(exe, broken, tmp_path / "p2")
    assert int(attrs["data-images-ok"]) == int(attrs["data-images-total"]) - 2
    assert int(attrs["data-errors"]) >= 3 and any("Content Security Policy" in c for c in console)
    assert "data-injected" not in attrs and any("inline script" in c for c in console), console
    assert "script-src" in re.search(r'<pre id="page-errors"[^>]*>(.*?)</pre>', dom, re.S).group(1)


# ----------------------------------------------------------------------------------------- metadata-only

def test_metadata_only_on_real_part0_metadata(real_data, tmp_path):
    res = CliRunner().invoke(_cli(), ["--metadata-only", str(real_data / REAL_META), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["mode"] == "metadata-only"
    assert stats["labels"]["overall"]["FAKE"] == 1248 and stats["labels"]["overall"]["REAL"] == 86
    assert stats["labels"]["per_part"]["0"]["total"] == 1334   # part from the file name
    raw = json.loads((real_data / REAL_META).read_text())
    fakes_per = Counter(m["original"] for m in raw.values() if m["label"] == "FAKE")
    fam = stats["labels"]["families"]
    assert fam["originals"] == 86 and fam["fakes_per_original"]["max"] == max(fakes_per.values())
    assert fam["largest"][0]["fakes"] == max(fakes_per.values())
    assert fam["fakes_original_missing"]["count"] == 0
    assert "faces" not in stats and (tmp_path / "index.html").is_file()
    assert "1,248" in (tmp_path / "index.html").read_text()


def test_metadata_only_on_a_root(synth_corpus, tmp_path):
    stats = analyze(None, out=tmp_path, metadata_only_root=synth_corpus)
    synth = json.loads((synth_corpus / "synth.json").read_text())
    n = sum(sum(p["counts"].values()) for p in synth["parts"].values())
    assert stats["health"]["by_status"] == {"present": n}
    assert stats["labels"]["overall"]["total"] == n
    assert sorted(stats["figures"]) == ["health", "labels"]


# ---------------------------------------------------------------------------------------------- bad input

def test_missing_work_names_the_file(tmp_path, synth_corpus):
    """A folder that is not a WORK is the WORK format's refusal (WorkError, a usage error: exit 2)."""
    with pytest.raises(WorkError, match=re.escape(str(tmp_path / "nowork" / "videos.parquet"))):
        analyze(tmp_path / "nowork")
    res = CliRunner().invoke(_cli(), [str(tmp_path / "nowork")])
    assert res.exit_code == 2 and "videos.parquet" in res.output
    res = CliRunner().invoke(_cli(), [str(synth_corpus), "--out", str(tmp_path / "r")])   # a ROOT given as WORK
    assert res.exit_code == 2 and "--metadata-only" in res.output


def test_corrupt_or_foreign_parquet_names_the_file(ingest_work, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(ingest_work / "videos.parquet", work / "videos.parquet")
    victim = sorted((work / "videos.parquet").rglob("*.parquet"))[0]
    victim.write_bytes(b"not a parquet file at all")
    with pytest.raises(WorkError, match=re.escape(victim.name)):
        analyze(work)
    other = tmp_path / "other"
    (other / "videos.parquet").mkdir(parents=True)
    pq.write_table(pa.table({"video": ["a.mp4"]}), other / "videos.parquet" / "x.parquet")
    with pytest.raises(WorkError, match=r"missing column\(s\).*'label'"):
        analyze(other)


def test_bad_metadata_json_names_the_file(tmp_path):
    bad = tmp_path / "metadata.json"
    bad.write_text('{"a.mp4": {"label": ')
    with pytest.raises(AnalysisError, match=rf"{re.escape(str(bad))}: .*not valid JSON"):
        analyze(None, out=tmp_path / "r", metadata_only_root=bad)


# -------------------------------------------------------------------------------- cores on hand-made data

def test_hamming_equals_python_popcount():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2**63, 1000, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, 1000, dtype=np.uint64)
    b = rng.integers(0, 2**63, 1000, dtype=np.uint64)
    a[:2], b[:2] = [0, 2**64 - 1], [2**64 - 1, 2**64 - 1]
    assert hamming(a, b).tolist() == [_popcount(int(x), int(y)) for x, y in zip(a, b)]


def test_cross_family_duplicates_flags_only_different_families():
    from dfprep.dataset import table_family_roots

    videos = pa.table({"video": ["r1.mp4", "f1.mp4", "r2.mp4", "f2.mp4"], "part": [0, 0, 0, 0],
                       "label": ["REAL", "FAKE", "REAL", "FAKE"],
                       "original": [None, "r1.mp4", None, "r2.mp4"]})
    shared_in_family, leaked = 0x1234, 0xABCD
    code = np.array([0, 1, 0, 2, 3, 3], np.int32)
    phash = np.array([shared_in_family, shared_in_family, leaked, leaked, leaked, 7], np.uint64)
    n = len(code)
    faces = FaceColumns(code=code, frame_idx=np.arange(n, dtype=np.int32), track_id=np.zeros(n, np.int32),
                        prob=np.ones(n, np.float32), box=np.zeros((n, 4), np.float32), phash=phash,
                        file=np.zeros(n, np.int32), files=["x"])
    d = cross_family_duplicates(videos, faces, table_family_roots(videos))
    assert (d["hashes"], d["crops"], d["families"]) == (1, 3, 2)
    g = d["groups"][0]
    assert g["phash"] == f"{leaked:016x}" and g["families"] == 2
    assert {e["family"] for e in g["examples"]} == {"p0/r1.mp4", "p0/r2.mp4"}


def test_family_anomalies_from_a_hand_made_table():
    from dfprep.analysis.labels import label_stats

    t = pa.table({"video": ["r1.mp4", "r2.mp4", "f1.mp4", "f2.mp4", "f3.mp4", "f4.mp4", "r3.mp4"],
                  "part": [0, 0, 0, 0, 0, 1, 1],
                  "label": ["REAL", "REAL", "FAKE", "FAKE", "FAKE", "FAKE", "REAL"],
                  "original": [None, None, "r1.mp4", "gone.mp4", "r3.mp4", "r3.mp4", None],
                  "split": ["train"] * 7, "status": ["ok", "missing", "ok", "ok", "ok", "ok", "ok"]})
    fam = label_stats(t)["families"]
    # families as dfprep.dataset defines them: f3's original r3.mp4 is only in part 1, so f3 joins it there
    assert fam["originals"] == 3 and fam["fakes_with_original"] == 3 and fam["families"] == 4
    assert fam["fakes_per_original_counts"] == {"0": 1, "1": 1, "2": 1}
    assert fam["originals_without_fakes"]["videos"] == [{"part": 0, "video": "r2.mp4"}]
    missing = {x["video"]: x for x in fam["fakes_original_missing"]["videos"]}
    assert set(missing) == {"f2.mp4"} and missing["f2.mp4"]["family"] == "p0/gone.mp4"
    assert "not in the data" in missing["f2.mp4"]["reason"]
    t2 = t.set_column(5, "status", pa.array(["missing", "ok", "ok", "ok", "ok", "ok", "ok"]))
    assert [x["video"] for x in label_stats(t2)["families"]["fakes_original_unavailable"]["videos"]] == ["f1.mp4"]


def test_report_families_are_computed_over_every_row_as_shards_does():
    """A FAKE whose original exists only as an unlisted file of another part: the report names its family as
    `dfprep shards` does (over every row, the unlisted one included), not from the labelled rows alone."""
    from dfprep.analysis.labels import label_stats
    from dfprep.dataset import family_ids

    t = pa.table({"video": ["f.mp4", "x.mp4"], "part": [1, 2], "label": ["FAKE", None],
                  "original": ["x.mp4", None], "split": ["train", None], "status": ["ok", "unlisted"]})
    orphan = label_stats(t)["families"]["fakes_original_missing"]["videos"][0]
    assert orphan["family"] == family_ids(t.to_pylist())[(1, "f.mp4")] == "p2/x.mp4"


def test_work_without_faces_still_reports(ingest_work, tmp_path):
    """An ingest run with --no-faces: face columns null, no face store; the face sections are left out."""
    work = tmp_path / "work"
    t = pq.read_table(ingest_work / "videos.parquet")
    for col in ("n_faces", "frames_with_face", "n_tracks", "mean_face_prob"):
        field = t.schema.field(col)
        t = t.set_column(t.schema.get_field_index(col), field, pa.nulls(t.num_rows, field.type))
    (work / "videos.parquet" / "part-0").mkdir(parents=True)
    pq.write_table(t, work / "videos.parquet" / "part-0" / "batch-00000.parquet")
    stats = analyze(work)
    assert "faces" not in stats and stats["similarity"]["frames_consecutive"]["videos"] == t.num_rows
    assert (work / "report" / "index.html").is_file()


def test_health_groups_errors_by_reason_with_names():
    t = pa.table({"video": ["a.mp4", "b.mp4", "c.mp4", "d.mp4"], "part": [0, 0, 1, 1],
                  "label": ["FAKE", "FAKE", None, "REAL"], "status": ["error", "error", "unlisted", "ok"],
                  "error": ["decode failed at frame 12", "decode failed at frame 240",
                            "video file present but not listed in metadata.json", None],
                  "warning": [None, "original 'x.mp4' is not a REAL entry of the dataset", None, None]})
    h = health_stats(t)
    assert h["by_status"] == {"error": 2, "ok": 1, "unlisted": 1}
    top = h["errors"][0]
    assert top["count"] == 2 and top["reason"] == reason_key("decode failed at frame 7")
    assert [v["video"] for v in top["videos"]] == ["a.mp4", "b.mp4"]
    assert h["warnings"][0]["videos"][0]["message"].startswith("original 'x.mp4'")
