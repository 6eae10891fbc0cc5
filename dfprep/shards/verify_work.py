"""`dfprep shards verify SHARDS --work WORK`: the checks of SHARDS against the WORK it was cut from.

Families re-derived from WORK's videos.parquet as it is now (a family in two splits is a leak, named with its
videos); every sample's crops and label against the face store; every image against the face store's crop
(byte-identical, or its recorded augmentation re-run). `dfprep.shards.verify` reads the shards once and hands
over what these need.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from dfprep.dataset import SPLITS
from dfprep.formats.shards import ShardsIndex
from dfprep.shards.samples import augmentation_record
from dfprep.shards.config import ShardsUsageError
from dfprep.formats.work.faces import store_hash
from dfprep.formats.work.names import faces_dir
from dfprep.storage import dataset as open_dataset

MAX_PER_KIND = 20      # problems of one kind listed before "... and N more"


def check_against_work(work: Path, index: ShardsIndex, families: dict, members: list[str], samples: pa.Table,
                       crops: list, problems: list[str]) -> None:
    """Every check against WORK, appended to `problems`."""
    _check_work_families(work, families, problems, index.held_out)
    _check_store(work, index, samples, problems)
    _check_pixels_match_store(work, index, members, crops, problems)


def _check_work_families(work: Path, families: dict, problems: list[str], held: tuple[str, ...] = ()) -> None:
    """Families re-derived from WORK's videos.parquet as it is now (a FAKE's `original` may have changed since
    SHARDS was cut): a family whose videos sit in two splits of SHARDS is a leak, named with its videos. The
    held-out side of a family spanning a held-out dataset (`held`) is its own family, as the cut made it."""
    from dfprep.dataset import family_ids
    from dfprep.shards.datasets import dataset_of, held_out_families
    from dfprep.shards.source import read_videos

    from dfprep.formats.work.names import videos_dir

    videos = videos_dir(work)
    if not videos.is_dir():
        problems.append(f"{videos}: not found; cannot re-derive the families of WORK")
        return
    try:
        rows = read_videos(work).to_pylist()
        datasets = {(r["part"], r["video"]): dataset_of(r) for r in rows}
        fam_of, _ = held_out_families(family_ids(rows), datasets, held)
    except ShardsUsageError as exc:
        problems.append(str(exc))
        return
    members: dict[str, list] = defaultdict(list)
    for pv, (_, split, *_) in sorted(families.items()):
        if pv in fam_of:
            members[fam_of[pv]].append((SPLITS.index(split) if split in SPLITS else 9, split, pv))
    for fam, held in sorted(members.items()):
        splits = sorted({s for _, s, _ in held}, key=lambda s: SPLITS.index(s) if s in SPLITS else 9)
        if len(splits) > 1:
            shown = ", ".join(f"p{p}/{v} ({s})" for _, s, (p, v) in sorted(held)[:12])
            more = f" and {len(held) - 12} more" if len(held) > 12 else ""
            problems.append(f"leak: family {fam} (as WORK's videos.parquet derives it now) spans "
                            f"{' and '.join(splits)}: videos {shown}{more}")


def _check_store(work: Path, index: ShardsIndex, samples: pa.Table, problems: list[str]) -> None:
    """Every sample's crops exist in the face store with the sample's label."""
    faces = faces_dir(work)
    if not faces.is_dir():
        problems.append(f"{faces}: not found; cannot check labels against the face store")
        return
    if store_hash(faces) != index.content_hash:
        problems.append(f"{faces}: content hash differs from index.json's: the face store changed since")
    store = open_dataset(faces, format="parquet").to_table(columns=["part", "video", "frame_idx", "track_id", "label"])
    store = store.rename_columns(["part", "video", "frame_idx", "track_id", "store_label"])
    parent = pc.list_parent_indices(samples["frames"])
    refs = pa.table({"key": samples["key"].take(parent), "part": samples["part"].take(parent).cast(pa.int32()),
                     "video": samples["video"].take(parent), "label": samples["label"].take(parent),
                     "frame_idx": pc.list_flatten(samples["frames"]).cast(pa.int32()),
                     "track_id": samples["track_id"].take(parent).cast(pa.int32())})
    joined = refs.join(store, ["part", "video", "frame_idx", "track_id"], join_type="left outer")
    missing = joined.filter(pc.is_null(joined["store_label"]))
    wrong = joined.filter(pc.and_(pc.is_valid(joined["store_label"]),
                                  pc.not_equal(joined["store_label"], joined["label"])))
    for r in missing.slice(0, MAX_PER_KIND).to_pylist():
        problems.append(f"sample {r['key']}: crop p{r['part']}/{r['video']} frame {r['frame_idx']} track "
                        f"{r['track_id']} is not in the face store")
    for r in wrong.slice(0, MAX_PER_KIND).to_pylist():
        problems.append(f"sample {r['key']}: label {r['label']}, the face store says {r['store_label']}")
    for what, t in (("missing crops", missing), ("label mismatches", wrong)):
        if t.num_rows > MAX_PER_KIND:
            problems.append(f"... and {t.num_rows - MAX_PER_KIND} more {what}")


def _check_pixels_match_store(work: Path, index: ShardsIndex, members: list[str], crops: list, problems: list[str]) -> None:
    """Every image of every sample against the face store's crop it was cut from: byte-identical when the
    sample is not augmented (shards copy the store's JPEG bytes); else equal to the recorded augmentation
    re-run on the store's crop (`writer.augment_jpegs`: the json's seed and p, the config's ops and quality)."""
    from dfprep.shards.writer import _single_thread, augment_jpegs

    faces = faces_dir(work)
    if not faces.is_dir() or not crops:
        return
    images = [m for m in members if m.endswith("jpg")]
    ops = list(index.settings.augment_ops) if index.settings else []
    quality = index.settings.jpeg_quality if index.settings else 95
    wanted: dict[tuple, list] = defaultdict(list)
    for shard, key, part, video, frames, track, shas, aug in crops:
        for j, frame in enumerate(frames):
            if j < len(shas) and j < len(images) and shas[j] is not None:
                wanted[(part, video, frame, track)].append((shard, key, images[j], shas[j], aug))
    n_bad: dict[str, int] = defaultdict(int)         # per shard: MAX_PER_KIND listed, then a count

    def bad(text: str) -> None:
        shard = text.split(":", 1)[0]
        n_bad[shard] += 1
        if n_bad[shard] <= MAX_PER_KIND:
            problems.append(text)

    cols = ["part", "video", "frame_idx", "track_id", "jpeg"]
    videos = pa.array(sorted({k[1] for k in wanted}), pa.string())
    batches = open_dataset(faces, format="parquet").to_batches(columns=cols, filter=pc.field("video").isin(videos))
    for batch in batches:
        d = batch.to_pydict()
        for part, video, frame, track, jpeg in zip(*(d[c] for c in cols)):
            uses = wanted.get((part, video, frame, track))
            if not uses:
                continue
            where = f"the face store's crop p{part}/{video} frame {frame} track {track}"
            for shard, key, member, sha, aug in uses:
                if aug is None:
                    if hashlib.sha256(jpeg).hexdigest() != sha:
                        bad(f"{shard}: sample {key}: {member} is not byte-identical to {where}")
                    continue
                a = json.loads(aug)
                try:
                    with _single_thread():      # as the writer ran it
                        (again,), params = augment_jpegs([jpeg], int(a["seed"]), ops, float(a["p"]), quality)
                except (KeyError, TypeError, ValueError, OSError) as exc:
                    bad(f"{shard}: sample {key}: cannot re-run its recorded augmentation on {where} ({exc})")
                    continue
                again_rec = augmentation_record(params)
                if again_rec != a:
                    diff = sorted(k for k in again_rec.keys() | a.keys() if again_rec.get(k) != a.get(k))
                    bad(f"{shard}: sample {key}: json records augmentation {diff} as "
                        f"{[a.get(k) for k in diff]}, re-running seed {a['seed']} gives "
                        f"{[again_rec.get(k) for k in diff]}")
                elif hashlib.sha256(again).hexdigest() != sha:
                    bad(f"{shard}: sample {key}: {member} differs from its recorded augmentation (seed "
                        f"{a['seed']}) re-run on {where}")
    for shard, k in sorted(n_bad.items()):
        if k > MAX_PER_KIND:
            problems.append(f"{shard}: ... and {k - MAX_PER_KIND} more crops that differ from the face store")
