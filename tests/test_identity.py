"""Identity embeddings and identity-aware splits, on real files: no mocks.

Real footage (../shared/data/real): the FaceForensics++ original 519 and its deepfake 519_515 are one identity
to the embedding (the fake keeps most of the original's face), the two DFDC samples are two different people.
Synthetic: `dfprep synth` renders faces cut from two photographs (with flipped and tinted variants), so several
REAL videos show one person while each is its own family: the leak a family split cannot see.
"""
from __future__ import annotations

import json
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dfprep.dataset import VideoEntry
from dfprep.dataset import family_ids
from dfprep.faces.identity import DEFAULT_IDENTITY_THRESHOLD, IdentityEncoder, distance
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.timeline import StageClock
from dfprep.ingest.video import process_video
from dfprep.shards.groups import components, identity_groups, neighbour_pairs, track_clusters

THR = DEFAULT_IDENTITY_THRESHOLD


# --- identity_groups on hand-made vectors ----------------------------------------------------------------------

def _unit(i: int, scale: float = 1.0) -> np.ndarray:
    v = np.zeros(128, np.float32)
    v[i] = scale
    return v


def test_chain_connects_families_transitively():
    base = _unit(0, 5.0)
    a, b, c = base, base + _unit(1, 0.5), base + _unit(1, 1.0)     # a-b 0.5, b-c 0.5, a-c 1.0
    d = _unit(2, 5.0)                                              # far from all
    fam = {(0, "a.mp4"): "p0/a.mp4", (0, "b.mp4"): "p0/b.mp4", (1, "c.mp4"): "p1/c.mp4", (0, "d.mp4"): "p0/d.mp4"}
    keys = [(0, "a.mp4"), (0, "b.mp4"), (1, "c.mp4"), (0, "d.mp4")]
    g = identity_groups(fam, (keys, np.stack([a, b, c, d])))
    assert g == {"p0/a.mp4": "p0/a.mp4", "p0/b.mp4": "p0/a.mp4", "p1/c.mp4": "p0/a.mp4", "p0/d.mp4": "p0/d.mp4"}
    assert distance(a, c) > THR    # linked only through b


def test_threshold_respected_and_any_track_given_links_families():
    """The core links families through whatever tracks it is given, a FAKE's too; `dfprep shards` gives it only
    REAL tracks (`linking_tracks`), which the synthetic split test covers."""
    real_x, fake_y = _unit(0, 3.0), _unit(0, 3.0) + _unit(1, 0.55)
    # family X: a REAL; family Y: a REAL far away and its FAKE, which wears X's face (0.55 from it)
    fam = {(0, "x.mp4"): "p0/x.mp4", (0, "y.mp4"): "p0/y.mp4", (0, "yf.mp4"): "p0/y.mp4"}
    keys = [(0, "x.mp4"), (0, "y.mp4"), (0, "yf.mp4")]
    vecs = np.stack([real_x, _unit(5, 3.0), fake_y])
    assert identity_groups(fam, (keys, vecs), 0.6) == {"p0/x.mp4": "p0/x.mp4", "p0/y.mp4": "p0/x.mp4"}
    assert identity_groups(fam, (keys, vecs), 0.5) == {"p0/x.mp4": "p0/x.mp4", "p0/y.mp4": "p0/y.mp4"}


def test_group_ids_deterministic_and_families_without_embedding_alone():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 128)).astype(np.float32) * 2
    keys, vecs, fam = [], [], {}
    for i in range(40):                        # 40 videos of 5 people, each video its own family
        key = (i % 3, f"v{i:02d}.mp4")
        fam[key] = f"p{key[0]}/{key[1]}"
        keys.append(key)
        vecs.append(centres[i % 5] + rng.normal(scale=0.01, size=128).astype(np.float32))
    fam[(0, "noface.mp4")] = "p0/noface.mp4"  # no track at all
    keys.append((9, "unknown.mp4"))             # a track of a video outside the mapping: ignored
    vecs.append(centres[0])
    g = identity_groups(fam, (keys, np.stack(vecs)))
    perm = rng.permutation(len(keys))
    assert identity_groups(fam, ([keys[i] for i in perm], np.stack(vecs)[perm])) == g
    assert g["p0/noface.mp4"] == "p0/noface.mp4"
    assert len(set(g.values())) == 6
    for grp in set(g.values()):                # the id is the smallest family id of its group
        assert grp == min(f for f, x in g.items() if x == grp)
    for i in range(40):
        assert g[fam[keys[i]]] == g[fam[keys[i % 5]]]


def test_group_spanning_parts_goes_with_its_largest_part():
    from dfprep.shards.families import split_by_parts
    from dfprep.shards.layout import _largest_part

    videos = [(1, "a.mp4"), (2, "b.mp4"), (2, "c.mp4"), (3, "d.mp4"), (4, "e.mp4"), (5, "f.mp4")]
    crops = np.array([10, 4, 4, 7, 3, 3])
    group = ["g1", "g1", "g1", "g2", "g3", "g3"]          # g1: part 1 has 10, part 2 has 8; g3: a tie
    parts = _largest_part(crops, videos, group)
    assert parts == {"g1": 1, "g2": 3, "g3": 4}
    assert split_by_parts(parts, {1}, {4}) == {"g1": "val", "g2": "train", "g3": "test"}


def test_chunked_search_and_edge_compaction_agree():
    rng = np.random.default_rng(1)
    x = np.repeat(rng.normal(size=(30, 128)), 7, axis=0) + rng.normal(scale=0.02, size=(210, 128))
    x = x.astype(np.float32)
    pairs = [(i, j) for i, j in combinations(range(len(x)), 2) if np.linalg.norm(x[i] - x[j]) <= THR]
    got = sorted(zip(*map(np.concatenate, zip(*neighbour_pairs(x, THR, chunk=16)))))
    assert got == pairs
    whole = track_clusters(x, THR)
    # many small edge chunks: more than 4n edges are held, so they are compacted along the way
    compacted = components(len(x), ((np.array([i]), np.array([j])) for i, j in pairs * 5))
    assert (whole == compacted).all()
    assert len(np.unique(whole)) == 30 and (whole == np.repeat(np.arange(0, 210, 7), 7)).all()


# --- real footage ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_embeddings(real_data):
    from dfprep.faces.detectors import MTCNNDetector

    det, enc = MTCNNDetector(min_face_size=40), IdentityEncoder()
    out = {}
    for name in ("519.mp4", "519_515.mp4", "brtujopkby.mp4", "lynaeydofd.mp4"):
        e = VideoEntry(name, 0, label="REAL", split="train", path=str(real_data / name))
        clock = StageClock()
        row, faces, _ = process_video(e, IngestConfig(frames=8), det.detect, clock=clock, embed=enc)
        out[name] = (row, faces, clock.spans)
    return out


def test_real_footage_embeddings_on_representative_rows(real_embeddings):
    for name, (row, faces, spans) in real_embeddings.items():
        assert row["status"] == "ok" and faces.num_rows > 0, name
        t = faces.select(["track_id", "prob", "frame_idx", "embedding"]).to_pylist()
        for tid in {r["track_id"] for r in t}:
            rows = [r for r in t if r["track_id"] == tid]
            emb = [r for r in rows if r["embedding"] is not None]
            assert len(emb) == 1, (name, tid)                        # one embedding per track ...
            best = max(rows, key=lambda r: (r["prob"], -r["frame_idx"]))
            assert emb[0]["frame_idx"] == best["frame_idx"]          # ... on its most confident face
            assert len(emb[0]["embedding"]) == 128
        assert "identity" in spans and spans["identity"][1] >= spans["identity"][0]
        print(f"{name}: identity stage {1000 * (spans['identity'][1] - spans['identity'][0]):.0f} ms wall, "
              f"{1000 * spans['identity'][2]:.0f} ms CPU, {row['width']}x{row['height']}, {row['n_tracks']} tracks")


def _track0(real_embeddings, name) -> np.ndarray:
    t = real_embeddings[name][1].select(["track_id", "embedding"]).to_pylist()
    return np.array(next(r["embedding"] for r in t if r["track_id"] == 0 and r["embedding"] is not None))


def test_real_footage_distances(real_embeddings):
    e = {n: _track0(real_embeddings, n) for n in real_embeddings}
    ff = distance(e["519.mp4"], e["519_515.mp4"])
    dfdc = distance(e["brtujopkby.mp4"], e["lynaeydofd.mp4"])
    cross = {f"{a}/{b}": round(distance(e[a], e[b]), 3) for a in ("519.mp4", "519_515.mp4")
             for b in ("brtujopkby.mp4", "lynaeydofd.mp4")}
    msg = f"519/519_515 {ff:.3f}, brtujopkby/lynaeydofd {dfdc:.3f}, FF++/DFDC {cross}, threshold {THR}"
    assert ff < THR, msg
    assert dfdc > THR, msg
    assert ff < dfdc and ff < min(cross.values()), msg


def test_predict_path_passes_no_encoder(real_data):
    """Without `embed` (predict, explain) the embedding column is null: no dlib model is run."""
    from dfprep.faces.detectors import DlibDetector

    e = VideoEntry("519.mp4", 0, label="REAL", split="train", path=str(real_data / "519.mp4"))
    row, faces, _ = process_video(e, IngestConfig(frames=2, detector="dlib"), DlibDetector().detect)
    assert faces.num_rows and faces.column("embedding").null_count == faces.num_rows


# --- a synthetic corpus where several REAL videos show one person -------------------------------------------------

@pytest.fixture(scope="module")
def people_work(tmp_path_factory):
    """12 REAL single-face videos (no fakes: a synth fake always wears the other photograph's face, which
    would join the two people into one identity group), faces from two photographs and their variants."""
    from dfprep.ingest.run import ingest
    from dfprep.synth import SynthConfig, make_corpus

    root = tmp_path_factory.mktemp("people")
    make_corpus(root, SynthConfig(parts=1, videos=12, duration=1, fps=8, ratio="1:0", multi_face=0, workers=2))
    work = tmp_path_factory.mktemp("people_work")
    ingest(root, work, IngestConfig(frames=4, num_cpus=2, progress=False))
    return root, work


def _photographs(root: Path) -> dict[tuple[int, str], str]:
    """(part, video) -> the photograph its (single) face was cut from, per synth.json."""
    s = json.loads((root / "synth.json").read_text())
    return {(int(d.rsplit("_", 1)[1]), v): info["identities"][0]["photograph"]
            for d, part in s["parts"].items() for v, info in part["videos"].items() if info["identities"]}


def _store(work: Path):
    """Independently of dfprep.shards: families from videos.parquet, embeddings from faces.parquet."""
    videos = ds.dataset(work / "videos.parquet").to_table(columns=["video", "part", "label", "original"])
    fam = family_ids(videos.to_pylist())
    t = ds.dataset(work / "faces.parquet").to_table(columns=["part", "video", "embedding"])
    rows = [r for r in t.to_pylist() if r["embedding"] is not None]
    return fam, [(r["part"], r["video"]) for r in rows], np.array([r["embedding"] for r in rows], np.float32)


def _brute_groups(fam: dict, keys: list, vecs: np.ndarray) -> dict[str, str]:
    """Family -> group by plain union-find over every pair of tracks within the threshold."""
    parent = {f: f for f in fam.values()}

    def find(f):
        while parent[f] != f:
            f = parent[f]
        return f
    d = np.linalg.norm(vecs[:, None] - vecs[None], axis=2)
    for i, j in zip(*np.nonzero(d <= THR)):
        a, b = find(fam[keys[i]]), find(fam[keys[j]])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {f: find(f) for f in parent}


def test_same_photograph_same_group_different_families(people_work):
    root, work = people_work
    photo = _photographs(root)
    fam, keys, vecs = _store(work)
    groups = identity_groups(fam, (keys, vecs))
    assert groups == _brute_groups(fam, keys, vecs)
    seen = set(keys)
    by_photo: dict[str, set] = {}
    for k in seen:
        by_photo.setdefault(photo[k], set()).add(k)
    assert len(by_photo) == 2 and all(len(v) >= 3 for v in by_photo.values()), by_photo
    for p, vids in by_photo.items():
        assert len({fam[v] for v in vids}) == len(vids)              # each video its own family ...
        assert len({groups[fam[v]] for v in vids}) == 1, (p, vids)   # ... one identity group per photograph
    assert groups[fam[min(by_photo["astronaut"])]] != groups[fam[min(by_photo["grace_hopper"])]]


def _shards(work: Path, out: Path, group: str, seed: int) -> Path:
    from dfprep.shards.config import ShardsConfig
    from dfprep.shards.run import make_shards

    make_shards(work, out, ShardsConfig(group=group, split="0.34,0.33,0.33", seed=seed, use_ray=False,
                                        samples_per_shard=16, balance="none", progress=False))
    return out


SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def people_shards(people_work, tmp_path_factory):
    _, work = people_work
    base = tmp_path_factory.mktemp("people_shards")
    return {(g, s): _shards(work, base / f"{g}-{s}", g, s) for g in ("family", "identity") for s in SEEDS}


def test_identity_groups_never_span_splits(people_work, people_shards):
    from dfprep.shards.verify import verify_shards

    root, work = people_work
    fam, keys, vecs = _store(work)
    truth = _brute_groups(fam, keys, vecs)
    for seed in SEEDS:
        out = people_shards[("identity", seed)]
        rows = pq.read_table(out / "families.parquet").to_pylist()
        splits: dict[str, set] = {}
        for r in rows:
            assert r["group"] == truth[r["family"]], r
            splits.setdefault(truth[r["family"]], set()).add(r["split"])
        assert all(len(s) == 1 for s in splits.values()), (seed, splits)
        index = json.loads((out / "index.json").read_text())
        assert index["grouping"]["group"] == "identity" and index["grouping"]["groups"] == len(splits)
        assert index["config"]["group"] == "identity"
        assert verify_shards(out, work) == []


def test_family_split_leaks_one_person_into_two_splits(people_work, people_shards):
    root, _ = people_work
    photo = _photographs(root)
    leaks = {}
    for seed in SEEDS:
        rows = pq.read_table(people_shards[("family", seed)] / "families.parquet").to_pylist()
        assert all(r["group"] == r["family"] for r in rows)
        per_photo: dict[str, set] = {}
        for r in rows:
            if r["n_crops"]:                   # families.parquet also lists the no-face video (0 crops)
                per_photo.setdefault(photo[(r["part"], r["video"])], set()).add(r["split"])
        leaks[seed] = {p: sorted(s) for p, s in per_photo.items() if len(s) > 1}
    assert any(leaks.values()), leaks


def test_report_identity_leakage(people_work, people_shards, tmp_path):
    from dfprep.analysis.run import analyze

    _, work = people_work
    fam_out = people_shards[("family", SEEDS[0])]
    leaky = analyze(work, tmp_path / "r1", shards=fam_out, gallery_size=1, augment_preview=False)["identity"]
    clean = analyze(work, tmp_path / "r2", shards=people_shards[("identity", SEEDS[0])], gallery_size=1,
                    augment_preview=False)["identity"]
    assert leaky["clusters"] == clean["clusters"] == 2
    assert leaky["leakage"]["leaking_clusters"] > 0 and sum(leaky["leakage"]["by_split_pair"].values()) > 0
    assert clean["leakage"]["leaking_clusters"] == 0 and clean["leakage"]["clusters_in_shards"] == 2
    stats = json.loads((tmp_path / "r1" / "stats.json").read_text())
    assert stats["identity"]["leakage"]["leaking_clusters"] == leaky["leakage"]["leaking_clusters"]
    assert 'id="identity"' in (tmp_path / "r1" / "index.html").read_text()


def test_store_without_embeddings(people_work, tmp_path):
    """An older face store (no embedding column): the report says so in one line; --group identity refuses."""
    from dfprep.analysis.identity import identity_stats
    from dfprep.shards.config import ShardsConfig, ShardsUsageError
    from dfprep.shards.layout import make_plan

    _, work = people_work
    old = tmp_path / "old"
    shutil.copytree(work / "videos.parquet", old / "videos.parquet")
    for p in sorted((work / "faces.parquet").rglob("*.parquet")):
        dest = old / p.relative_to(work)
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pq.read_table(p).drop_columns(["embedding"]), dest)
    videos = ds.dataset(old / "videos.parquet").to_table()
    s = identity_stats(old, videos)
    assert s["available"] is False and "no identity embedding" in s["note"]
    with pytest.raises(ShardsUsageError, match="no identity embedding"):
        make_plan(old, ShardsConfig(group="identity", use_ray=False, progress=False))
    with pytest.raises(ShardsUsageError, match="--group"):
        ShardsConfig(group="person").validate()


def test_report_checks_leakage_at_the_threshold_the_shards_were_cut_with(tmp_path):
    """`analyze --shards` clusters identities at SHARDS' own --identity-threshold (index.json `grouping`), not at
    dlib's default: a split cut at 0.45 is not reported as leaking by links only 0.6 would make."""
    from dfprep.analysis.identity import _shards_threshold

    from dfprep.formats.shards import FORMAT

    def index(grouping: dict) -> str:      # the least index.json the typed reader takes, with this `grouping`
        return json.dumps({"format": FORMAT, "unit": "frame", "splits": {}, "grouping": grouping})

    (tmp_path / "identity").mkdir()
    (tmp_path / "identity" / "index.json").write_text(index({"group": "identity", "threshold": 0.45}))
    (tmp_path / "family").mkdir()
    (tmp_path / "family" / "index.json").write_text(index({"group": "family"}))
    assert _shards_threshold(tmp_path / "identity") == 0.45
    assert _shards_threshold(tmp_path / "family") is None
    assert _shards_threshold(tmp_path / "absent") is None
