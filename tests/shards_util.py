"""Shared by the shards tests: a synthetic face store in the faces.parquet format (real JPEG crops of skimage's
astronaut, many families over several parts, orphan fakes, two-track videos; optional identity embeddings),
the test settings, and reading shards back with webdataset."""
from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import webdataset as wds
from PIL import Image

from dfprep.formats.work.faces import faces_table
from dfprep.dataset import VideoEntry
from dfprep.formats.work.videos import video_row, videos_table
from dfprep.shards.config import ShardsConfig

SPS = 48   # samples per shard on the synthetic store: ~20 shards


# ---------------------------------------------------------------- a synthetic face store with many families

def crop_jpegs(n: int, rng: np.random.Generator) -> list[bytes]:
    from skimage import data

    img = data.astronaut()
    out = []
    for _ in range(n):
        y, x = rng.integers(0, 512 - 96, 2)
        crop = Image.fromarray(img[y:y + 96, x:x + 96]).resize((48, 48))
        buf = io.BytesIO()
        crop.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def write_store(work: Path, parts: int = 4, families: int = 15, seed: int = 1, embed: bool = False) -> Path:
    """WORK/videos.parquet + WORK/faces.parquet: per part `families` REALs with 0-5 fakes, 2 orphan fakes.
    `embed`: every REAL's track 0 gets an identity embedding of its own (a random unit vector)."""
    rng = np.random.default_rng(seed)
    jpegs = crop_jpegs(64, rng)
    for part in range(parts):
        write_part(work, part, rng, jpegs, families, people={} if embed else None)
    return work


def write_part(work: Path, part: int, rng: np.random.Generator, jpegs: list[bytes], families: int,
               fakes_of: tuple = (), people: dict | None = None) -> None:
    """One part of `write_store`. `fakes_of`: (old REAL name, n) pairs: n FAKEs of that REAL (of another part:
    found there by name) in this part. `people`: REAL name, or the REAL's number in this part (0, 1, ...) ->
    the embedding to give it (the others get their own)."""
    vrows, frows = [], defaultdict(list)
    names = iter(f"v{part}x{i:04d}.mp4" for i in range(10_000))
    plan = []
    for _ in range(families):
        real = next(names)
        vids = [(real, "REAL", None)] + [(next(names), "FAKE", real) for _ in range(rng.integers(0, 6))]
        plan += vids + ([(next(names), "FAKE", "gone.mp4")] if rng.random() < 0.15 else [])
    plan += [(next(names), "FAKE", original) for original, n in fakes_of for _ in range(n)]
    reals = [v for v, label, _ in plan if label == "REAL"]
    for video, label, original in plan:
        frames = sorted(rng.choice(np.arange(0, 300, 10), rng.integers(4, 9), replace=False).tolist())
        tracks = 2 if rng.random() < 0.2 else 1
        n = 0
        for fi in frames:
            for t in range(tracks):
                emb = None
                if people is not None and label == "REAL" and t == 0 and fi == frames[0]:
                    v = people.get(video, people.get(reals.index(video)))
                    if v is None:
                        v = np.random.default_rng([part, n, len(frows["video"])]).normal(size=128)
                        v = v / np.linalg.norm(v)
                    emb = [float(x) for x in v]
                for k, v in (("video", video), ("part", part), ("label", label), ("original", original),
                             ("frame_idx", fi), ("track_id", t), ("prob", 0.99), ("x1", 10.0 + t),
                             ("y1", 20.0), ("x2", 110.0), ("y2", 120.0), ("landmarks", None),
                             ("jpeg", jpegs[rng.integers(len(jpegs))]), ("phash", 1), ("frame_phash", 2),
                             ("embedding", emb)):
                    frows[k].append(v)
                n += 1
        vrows.append(video_row(VideoEntry(video, part, label=label, original=original, split="train"),
                               status="ok", n_faces=n))
    # Two videos that must never reach a shard: an error, and an ok video without a label.
    vrows.append(video_row(VideoEntry(f"bad{part}.mp4", part, label="FAKE"), status="error", error="decode failed"))
    vrows.append(video_row(VideoEntry(f"unl{part}.mp4", part), status="unlisted"))
    for sub, table, rg in (("videos.parquet", videos_table(vrows), None), ("faces.parquet", None, 64)):
        path = work / sub / f"part-{part}" / "batch-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        if table is None:
            t = faces_table(frows)
            t = t.take(np.lexsort((t["track_id"].to_numpy(), t["frame_idx"].to_numpy(),
                                   np.array(t["video"].to_pylist()))))
            pq.write_table(t, path, row_group_size=rg)
        else:
            pq.write_table(table, path)


def cfg(**kw) -> ShardsConfig:
    base = dict(samples_per_shard=SPS, use_ray=False, progress=False)
    base.update(kw)
    return ShardsConfig(**base)


def read_samples(out: Path, split: str | None = None) -> list[dict]:
    """Every sample through webdataset with its default decoders: json -> dict, cls -> int, jpg raw."""
    urls = sorted(str(p) for p in out.glob(f"{split or '*'}-*.tar"))
    rows = []
    for s in wds.WebDataset(urls, shardshuffle=False, empty_check=False).decode():
        s["meta"] = s["json"]
        rows.append(s)
    return rows


def shas(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.tar"))}


def families_of(out: Path) -> list[dict]:
    return pq.read_table(out / "families.parquet").to_pylist()
