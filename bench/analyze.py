"""Issue 4: `dfprep analyze` on a face store of a million rows, made by a generator rather than by decoding.

    python bench/analyze.py make --out /tmp/bench-work [--rows 1000000 --videos 30000]
    python bench/analyze.py time --work /tmp/bench-work [--repeats 3] [--json out.json]

`make` writes WORK/videos.parquet and WORK/faces.parquet in the ingest's exact layout and schemas (part-P
folders, batches of 16 videos, face row groups of 256, zstd), DFDC-like: parts of ~2,400 videos, ~1 REAL per
5 FAKEs in families of 1 to ~30, 32 sampled frames per video, ~1 face per frame (some 0 or 2, a few faceless
videos), 5% error/missing rows. Hashes follow the DFDC story: consecutive frames differ by a few bits, a fake's
whole frames differ from its original's by ~3 bits and its face crops by ~12; 40 crops are duplicated into
other families so the leakage check has something to find. Each `jpeg` is a real small JPEG (one of 64 images,
32x32) with 150-450 random bytes after its end marker, so values are distinct (no dictionary encoding) and
still decode (~0.6 KB a crop; real crops are ~20 KB, but analyze never reads the column except for the gallery).

`time` runs `analyze` in a fresh child process per repeat (imports included, as `dfprep analyze` would pay)
and samples the child's RSS every 0.1 s (bench/common.TreeRSS) besides its ru_maxrss. `process s` is the
child's wall time, `analyze s` the time inside analyze() before writing (phases in the JSON), `CPU s` the
child's user+system CPU time (less sensitive than wall time to other jobs on a shared machine).
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, TreeRSS, loadavg1, machine, machine_line, md_table, write_json  # noqa: E402

FRAMES = 32
PART_VIDEOS = 2400
BATCH = 16


def _jpeg_pool(n: int = 64, seed: int = 0) -> list[bytes]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=50)
        out.append(buf.getvalue())
    return out


def _flip(rng: np.random.Generator, h: np.ndarray, bits: int) -> np.ndarray:
    """Flip ~`bits` random bits of each uint64."""
    mask = np.zeros(h.shape, np.uint64)
    for _ in range(bits):
        mask |= np.uint64(1) << rng.integers(0, 64, h.shape).astype(np.uint64)
    return h ^ mask


def _walk(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    """A sequence of n hashes, each a few bits from the previous one (a slowly changing scene)."""
    h = np.empty(n, np.uint64)
    h[0] = rng.integers(0, 2**63, dtype=np.uint64) * np.uint64(2)
    for i in range(1, n):
        h[i] = _flip(rng, h[i - 1:i], bits)[0]
    return h


def make_videos(n_videos: int, rng: np.random.Generator) -> list[dict]:
    """Video rows with families; per row also the private keys _frame_hash, _faces (per-frame face count)."""
    rows: list[dict] = []
    n_parts = max(1, round(n_videos / PART_VIDEOS))
    per_part = np.full(n_parts, n_videos // n_parts)
    per_part[: n_videos - per_part.sum()] += 1
    sampled = list(range(5, 300, 300 // FRAMES))[:FRAMES]
    for part, count in enumerate(per_part):
        made = 0
        while made < count:
            fam = min(int(rng.integers(1, 30)), count - made - 1)
            orig = f"{rng.integers(0, 26**10):010x}r.mp4"
            base = _walk(rng, FRAMES, 4)
            faces = rng.choice([0, 1, 2], FRAMES, p=[0.03, 0.94, 0.03])
            if rng.random() < 0.02:
                faces[:] = 0
            rows.append(_row(orig, part, "REAL", None, base, faces, sampled, rng))
            for _ in range(fam):
                rows.append(_row(f"{rng.integers(0, 26**10):010x}f.mp4", part, "FAKE", orig, _flip(rng, base, 3),
                                 faces, sampled, rng))
            made += fam + 1
    return rows


def _row(video, part, label, original, fh, faces, sampled, rng) -> dict:
    status = rng.choice(["ok", "error", "missing"], p=[0.95, 0.03, 0.02])
    ok = status == "ok"
    w, h = (1920, 1080) if rng.random() < 0.7 else (1080, 1920)
    return {"video": video, "part": part, "label": label, "original": original, "split": "train",
            "status": str(status), "warning": None,
            "error": None if ok else ("decode failed: invalid data found when processing input"
                                      if status == "error" else "listed in metadata.json but the file is absent"),
            "n_frames": 300 if ok else None, "fps": 29.97 if ok else None, "width": w if ok else None,
            "height": h if ok else None, "duration_s": 10.01 if ok else None, "codec": "h264" if ok else None,
            "has_audio": bool(rng.random() < 0.9) if ok else None,
            "bytes": int(rng.integers(1_000_000, 12_000_000)) if status != "missing" else None,
            "rotation": 0 if ok else None, "decoder": "decord" if ok else None,
            "sampled_frames": sampled if ok else None, "frame_phash": [int(x) for x in fh] if ok else None,
            "n_faces": int(faces.sum()) if ok else None, "frames_with_face": int((faces > 0).sum()) if ok else None,
            "n_tracks": int(faces.max()) if ok else None, "mean_face_prob": 0.99 if ok and faces.sum() else None,
            "_faces": faces if ok else faces * 0}


def make_work(out: Path, n_videos: int, seed: int = 0) -> dict:
    from dfprep.atomic import write_parquet
    from dfprep.formats.work.batches import faces_file, videos_file
    from dfprep.formats.work.faces import FACE_ROW_GROUP, FACE_SCHEMA
    from dfprep.formats.work.names import BatchId
    from dfprep.formats.work.videos import VIDEO_SCHEMA

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    videos = make_videos(n_videos, rng)
    orig_crops: dict[tuple[int, str], np.ndarray] = {}  # (part, original) -> [2 tracks, FRAMES] crop hashes
    pool = _jpeg_pool()
    n_faces = 0
    by_part: dict[int, list[dict]] = {}
    for v in videos:
        by_part.setdefault(v["part"], []).append(v)
    for part, vs in by_part.items():
        vs.sort(key=lambda r: r["video"])
        for b in range(0, len(vs), BATCH):
            batch = vs[b:b + BATCH]
            faces = _batch_faces(batch, part, orig_crops, pool, rng, FACE_SCHEMA)
            n_faces += faces.num_rows
            bid = BatchId(part, b // BATCH)
            write_parquet(faces_file(out, bid), faces, row_group_size=FACE_ROW_GROUP)
            vt = pa.Table.from_pylist([{k: r[k] for k in VIDEO_SCHEMA.names} for r in batch], schema=VIDEO_SCHEMA)
            write_parquet(videos_file(out, bid), vt)
    _inject_leaks(out, 40)
    return {"videos": len(videos), "faces": n_faces, "parts": len(by_part),
            "make_s": round(time.perf_counter() - t0, 1),
            "mb": round(sum(p.stat().st_size for p in out.rglob("*.parquet")) / 2**20, 1)}


def _batch_faces(batch: list[dict], part: int, orig_crops: dict, pool: list[bytes], rng: np.random.Generator,
                 schema: pa.Schema) -> pa.Table:
    """The face rows of one batch of videos, built column-wise (sorted by video, frame, track)."""
    parts = []
    for v in batch:
        key = (part, v["original"] or v["video"])
        if key not in orig_crops:
            orig_crops[key] = np.stack([_walk(rng, FRAMES, 6), _walk(rng, FRAMES, 6)])
        crops = orig_crops[key] if v["label"] == "REAL" else _flip(rng, orig_crops[key], 12)
        k = v["_faces"].astype(np.int64)
        if not k.any():
            continue
        fi = np.repeat(np.arange(FRAMES), k)
        track = np.arange(len(fi)) - np.repeat(np.cumsum(k) - k, k)
        parts.append((v, fi, track, crops[track, fi]))
    n = sum(len(p[1]) for p in parts)
    if n == 0:
        return schema.empty_table()
    names = [p[0]["video"] for p in parts for _ in range(len(p[1]))]
    x1, y1 = rng.uniform(200, 900, n).astype(np.float32), rng.uniform(100, 500, n).astype(np.float32)
    side = rng.uniform(80, 400, n).astype(np.float32)
    lm = np.array([(.3, .4), (.7, .4), (.5, .6), (.35, .8), (.65, .8)], np.float32)
    marks = np.stack([x1[:, None] + side[:, None] * lm[None, :, 0], y1[:, None] + side[:, None] * lm[None, :, 1]],
                     axis=2).reshape(-1)
    tails = rng.integers(0, 256, n * 450, dtype=np.uint8).tobytes()
    lens = rng.integers(150, 450, n)
    pick = rng.integers(0, len(pool), n)
    jpeg = [pool[pick[i]] + tails[i * 450:i * 450 + lens[i]] for i in range(n)]
    cols = {
        "video": pa.array(names, pa.string()), "part": pa.array(np.full(n, part, np.int32)),
        "label": pa.array([p[0]["label"] for p in parts for _ in range(len(p[1]))], pa.string()),
        "original": pa.array([p[0]["original"] for p in parts for _ in range(len(p[1]))], pa.string()),
        "frame_idx": pa.array(np.concatenate([np.asarray(p[0]["sampled_frames"])[p[1]] for p in parts])
                              .astype(np.int32)),
        "track_id": pa.array(np.concatenate([p[2] for p in parts]).astype(np.int32)),
        "prob": pa.array(rng.uniform(0.95, 1.0, n).astype(np.float32)),
        "x1": pa.array(x1), "y1": pa.array(y1), "x2": pa.array(x1 + side), "y2": pa.array(y1 + side * 1.2),
        "landmarks": pa.FixedSizeListArray.from_arrays(pa.FixedSizeListArray.from_arrays(pa.array(marks), 2), 5),
        "jpeg": pa.array(jpeg, pa.binary()),
        "phash": pa.array(np.concatenate([p[3] for p in parts]).astype(np.uint64)),
        "frame_phash": pa.array(np.concatenate([np.asarray(p[0]["frame_phash"], np.uint64)[p[1]] for p in parts])),
    }
    return pa.table([cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema],
                    schema=schema)


def _inject_leaks(out: Path, n: int) -> None:
    """Copy the phash of n crops of part 0's first file onto crops of the last file (other families)."""
    import pyarrow.parquet as pq

    from dfprep.formats.work.faces import face_files
    from dfprep.formats.work.names import faces_dir

    files = face_files(faces_dir(out))
    a, b = pq.read_table(files[0]), pq.read_table(files[-1])
    k = min(n, a.num_rows, b.num_rows)
    ph = b.column("phash").to_numpy().copy()
    ph[:k] = a.column("phash").to_numpy()[:k]
    b = b.set_column(b.schema.get_field_index("phash"), "phash", pa.array(ph, pa.uint64()))
    from dfprep.atomic import write_parquet
    from dfprep.formats.work.faces import FACE_ROW_GROUP

    write_parquet(files[-1], b, row_group_size=FACE_ROW_GROUP)


def time_analyze(work: Path, repeats: int) -> dict:
    from dfprep.formats.work.names import report_dir

    runs = []
    for _ in range(repeats):
        out = report_dir(work)
        code = ("import sys, time, json; from pathlib import Path; t=time.perf_counter(); "
                "from dfprep.analysis.run import analyze; s=analyze(Path(sys.argv[1])); "
                "print(json.dumps({'wall_s': time.perf_counter()-t, 'elapsed_s': s['elapsed_s'], "
                "'faces': s['totals']['faces'], 'videos': s['totals']['videos'], "
                "'leak_hashes': s['similarity']['cross_family_duplicates']['hashes']}))")
        la0 = loadavg1()
        t = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = ru0.ru_maxrss
        proc = subprocess.Popen([sys.executable, "-c", code, str(work)], stdout=subprocess.PIPE, text=True,
                                cwd=REPO)
        with TreeRSS(proc.pid, interval=0.1) as rss:
            stdout, _ = proc.communicate()
        wall = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(f"analyze failed (rc {proc.returncode})")
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        maxrss = ru.ru_maxrss
        cpu = (ru.ru_utime + ru.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        res = json.loads(stdout.strip().splitlines()[-1])
        runs.append({**res, "process_s": wall, "cpu_s": cpu, "peak_rss_gb": rss.peak_rss / 2**30,
                     "ru_maxrss_gb": max(maxrss, before) * 1024 / 2**30, "loadavg": [la0, loadavg1()],
                     "html_mb": (out / "index.html").stat().st_size / 2**20})
    return {"runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--rows", type=int, default=1_000_000, help="target face rows (sets videos when given alone)")
    m.add_argument("--videos", type=int, default=None)
    m.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("time")
    t.add_argument("--work", type=Path, required=True)
    t.add_argument("--repeats", type=int, default=3)
    t.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.cmd == "make":
        if any(a.out.glob("*.parquet")):
            raise SystemExit(f"{a.out} already holds a WORK; remove it first")
        # face rows per video: FRAMES x 1.0 face x 95% ok x 98% not faceless
        n_videos = a.videos or round(a.rows / (FRAMES * 0.95 * 0.98))
        print(json.dumps(make_work(a.out, n_videos, a.seed), indent=1))
        return
    info = machine()
    res = time_analyze(a.work, a.repeats)
    runs = res["runs"]
    print(machine_line(info))
    print(md_table(["run", "videos", "face rows", "process s", "analyze s", "CPU s", "peak RSS GB", "ru_maxrss GB",
                    "html MB", "load avg"],
                   [[i + 1, r["videos"], r["faces"], r["process_s"], r["elapsed_s"]["total"], r["cpu_s"],
                     r["peak_rss_gb"],
                     r["ru_maxrss_gb"], r["html_mb"], f"{r['loadavg'][0]}→{r['loadavg'][1]}"]
                    for i, r in enumerate(runs)]))
    print("phases (s) of the last run:", json.dumps(runs[-1]["elapsed_s"]))
    write_json(a.json, {"machine": info, **res})


if __name__ == "__main__":
    main()
