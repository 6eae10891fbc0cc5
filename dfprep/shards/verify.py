"""`verify_shards(SHARDS, WORK)`: reread every shard and list what is wrong (empty list: all good).

index.json is first read as `dfprep train` reads it (`read_shards_index`): a shard name that is not a plain name
inside SHARDS (`../x.tar`, `s3://other/x.tar`, `/abs`: `dfprep.names`) is the one problem, and nothing is
opened; the wids descriptions must list the same plain names. Per shard (in parallel processes): size and sha256 against the index, tar structure read strictly
(`tarstream.iter_members`: only regular members, no symlink or link, no path names such as `../x`, headers
whose checksum and size hold, nothing after the end of the archive; names `key.ext` with ext in the allow-list;
nothing is ever unpickled), then a full read through `webdataset.WebDataset`: every image within the pixel
budget (from its header, before decoding) and decoding, cls and json agree, the video's family and split match
families.parquet. Across shards: counts against the index, unique keys, no family in two splits, the train
ratio within one sample per family, and (with WORK) every crop and label against the face store: an
un-augmented crop must be byte-identical to the face store's JPEG (shards copy them), an augmented one equal
to what re-running its recorded augmentation (seed and p in the sample's json, ops and JPEG quality in
index.json's config) on the face store's crop gives, and WORK's families re-derived as they are now
(`verify_work`: a family in two splits is a leak, named with its videos).
"""
from __future__ import annotations

import hashlib
import io
import json
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import webdataset as wds
from PIL import Image

from dfprep.dataset import LABELS
from dfprep.formats.shards import (CLS, FAMILIES, JSON, ShardEntry, ShardsIndex, read_families, read_shards_index,
                                   shard_files, wids_description, wids_name)
from dfprep.imagesize import MAX_IMAGE_PIXELS, ImageTooLarge, check_pixels
from dfprep.storage import StorageError, as_path, is_remote
from dfprep.shards.config import ShardsUsageError, parse_ratio
from dfprep.shards.samples import STABLE_SCHEMA, KEY_RE, json_problem

MAX_PER_KIND = 20      # problems of one kind listed per shard before "... and N more"


def _decode(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        return None
    except Exception as exc:  # any decoder error is the finding itself
        return f"{type(exc).__name__}: {exc}"


def _member_problem(name: str, allowed: set[str]) -> list[str]:
    """A member name that is not `key.ext` with a plain key and an allowed extension."""
    key, _, ext = name.partition(".")
    out = []
    if not KEY_RE.fullmatch(key):
        out.append(f"member {name!r}: key not in [A-Za-z0-9_-]")
    if ext not in allowed:
        out.append(f"member {name!r}: extension {ext!r} not allowed (allowed: {', '.join(sorted(allowed))}); "
                   "never unpickled")
    return out


def check_shard(path: str, entry: ShardEntry, split: str, members: list[str], families: dict,
                compare: bool = False, schema: tuple[bool, int | None] | None = None) -> tuple[list[str], dict]:
    """One shard's problems and its samples' records (for the checks across shards); with `compare`, the
    records also hold each image's sha256 and the sample's augmentation (to compare with the face store).
    `schema` (clip, clip_len): check every json against the stable schema (`samples.json_problem`).

    The shard is read once, as `dfprep train` reads it, local or streamed from a store: the strict tar reader
    (`tarstream.iter_members`) through a hashing reader, members grouped into samples by webdataset's own
    `group_by_keys`; its size and sha256 are compared with the index at the end (the rest of the file is still
    hashed when parsing stopped early)."""
    from dfprep.shards.tarstream import HashingReader, ShardFormatError, iter_members

    source = as_path(path)
    name = source.name
    rec: dict[str, list] = defaultdict(list)
    if not source.is_file():
        return [f"{name}: missing"], rec
    problems: list[str] = []
    allowed = set(members)
    images = [m for m in members if m.endswith("jpg")]
    kinds: dict[str, int] = defaultdict(int)

    def report(kind: str, text: str) -> None:
        kinds[kind] += 1
        if kinds[kind] <= MAX_PER_KIND:
            problems.append(f"{name}: {text}")

    def files(reader):
        for fname, data in iter_members(reader):
            for text in _member_problem(fname, allowed):
                report("member", text)
            yield {"fname": fname, "data": data, "__url__": name}

    n = n_real = n_fake = 0
    with (source.open_stream() if is_remote(source) else open(source, "rb", buffering=1 << 20)) as fh:
        reader = HashingReader(fh)
        try:
            for s in wds.tariterators.group_by_keys(files(reader)):
                n += 1
                label = _check_sample(s, members, images, schema, families, split, compare, rec, report)
                n_real += label == "REAL"
                n_fake += label == "FAKE"
        except ShardFormatError as exc:     # a lying header, a path name, a symlink, truncation: the read stops
            problems.append(f"{name}: tar: {exc} (read stopped after {n} samples)")
        except StorageError:
            raise
        except Exception as exc:  # noqa: BLE001 - a duplicate member, an unreadable file: the read stops here
            problems.append(f"{name}: read failed after {n} samples: {type(exc).__name__}: {str(exc)[:300]}")
        reader.drain()
    if reader.size != entry.bytes:
        problems.append(f"{name}: {reader.size} bytes, index says {entry.bytes} (truncated or rewritten)")
    if reader.sha.hexdigest() != entry.sha256:
        problems.append(f"{name}: sha256 differs from the index (corrupted or rewritten)")
    for kind, k in kinds.items():
        if k > MAX_PER_KIND:
            problems.append(f"{name}: ... and {k - MAX_PER_KIND} more {kind} problems")
    for what, got, text in (("n_samples", n, "samples"), ("n_real", n_real, "REAL samples"),
                            ("n_fake", n_fake, "FAKE samples")):
        if got != getattr(entry, what):
            problems.append(f"{name}: read {got} {text}, index says {getattr(entry, what)}")
    rec["split"] = [split] * len(rec["key"])
    rec["shard"] = [name] * len(rec["key"])
    return problems, dict(rec)


def _check_sample(s: dict, members: list[str], images: list[str], schema, families: dict, split: str,
                  compare: bool, rec: dict, report) -> str | None:
    """One sample's checks (fields, pixels, cls, json, label, key, family); its record appended to `rec`.
    Returns its label (from cls), None when cls is not 0 or 1."""
    key = s["__key__"]
    fields = {k for k in s if not k.startswith("__")}
    if fields != set(members):
        report("fields", f"sample {key}: fields {sorted(fields)}, expected {members}")
    for m in images:
        if m not in s:
            continue
        try:
            check_pixels(s[m], MAX_IMAGE_PIXELS)
        except ImageTooLarge as exc:
            report("pixels", f"sample {key}: {m}: {exc}")
            continue
        if err := _decode(s[m]):
            report("decode", f"sample {key}: {m} does not decode ({err})")
    cls = s.get(CLS, b"").strip()
    if cls not in (b"0", b"1"):
        report("cls", f"sample {key}: cls {cls[:20]!r} is not 0 or 1")
        return None
    label = LABELS[int(cls)]
    try:
        meta = json.loads(s.get(JSON, b"").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report("json", f"sample {key}: json does not parse ({exc})")
        return label
    if schema is not None and (why := json_problem(meta, *schema)):
        report("schema", f"sample {key}: json {why}")
        if not isinstance(meta, dict):
            return label
    if meta.get("label") != label:
        report("label", f"sample {key}: cls says {label}, json says {meta.get('label')}")
    if meta.get("key") != key:
        report("key", f"sample {key}: json key is {meta.get('key')!r}")
    fam = families.get((meta.get("part"), meta.get("video")))
    if fam is None:
        report("video", f"sample {key}: video p{meta.get('part')}/{meta.get('video')} not in {FAMILIES}")
    elif fam[0] != meta.get("family") or fam[1] != split or fam[2] != label:
        report("family", f"sample {key} in a {split} shard: json family {meta.get('family')}, label "
                         f"{label}; {FAMILIES} says family {fam[0]} in {fam[1]}, label {fam[2]}")
    if fam is not None and fam[3] is not None and "dataset" in meta and meta["dataset"] != fam[3]:
        report("dataset", f"sample {key}: json dataset {meta['dataset']!r}; {FAMILIES} says {fam[3]!r}")
    frames = meta.get("frame_idx")
    frames = frames if isinstance(frames, list) else [frames]
    for col, v in (("key", key), ("part", meta.get("part")), ("video", meta.get("video")),
                   ("family", meta.get("family")), ("label", label), ("frames", frames),
                   ("track_id", meta.get("track_id"))):
        rec[col].append(v)
    if compare:
        rec["images"].append([hashlib.sha256(s[m]).hexdigest() if m in s else None for m in images])
        aug = meta.get("augmentation")
        augmented = isinstance(aug, dict) and aug.get("augmented") is True
        rec["aug"].append(json.dumps(aug, sort_keys=True) if augmented else None)
    return label


def _read_families(shards: Path, problems: list[str]) -> dict:
    """{(part, video): (family, split, label, dataset or None)} of families.parquet; a family or group in two
    splits is a leak."""
    try:
        t = read_families(shards, ["video", "part", "family", "split", "label", "group", "dataset"])
    except ShardsUsageError as exc:
        problems.append(str(exc))
        return {}
    for what in ("family", "group"):          # identity groups (--group identity) are kept whole too
        if t and what not in t[0]:            # folders written before `group` have none
            continue
        splits_of: dict[str, set] = defaultdict(set)
        for r in t:
            splits_of[r[what]].add(r["split"])
        for k, ss in sorted(splits_of.items()):
            if len(ss) > 1:
                problems.append(f"leak: {what} {k} is in splits {sorted(ss)} ({FAMILIES})")
    return {(r["part"], r["video"]): (r["family"], r["split"], r["label"], r.get("dataset")) for r in t}


def _check_wids(shards: Path, index: ShardsIndex) -> list[str]:
    """Each wids description (`wids-{split}.json`) lists the split's shards as index.json does, by plain name."""
    from dfprep.names import name_problem

    out = []
    for split, s in index.splits.items():
        if not s.shards:
            continue
        name = wids_name(split)
        want = wids_description(split, [(e.name, e.n_samples, e.bytes) for e in s.shards])
        path = as_path(shards) / name
        try:
            got = json.loads(path.read_text(encoding="utf-8"))
            urls = [e["url"] for e in got["shardlist"]]
        except FileNotFoundError:
            if index.wids is not None:      # folders written before the wids descriptions have none
                out.append(f"{name}: missing (index.json lists shards of its split)")
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append(f"{name}: cannot be read as a wids description ({type(exc).__name__}: {exc})")
            continue
        bad = [u for u in urls if name_problem(u)]
        if bad:
            out.append(f"{name}: shard url {bad[0]!r} {name_problem(bad[0])}: not a plain name inside SHARDS")
        elif urls != [e["url"] for e in want["shardlist"]]:
            out.append(f"{name}: its shard list differs from index.json's")
    return out


def _check_ratio(index: ShardsIndex, samples: pa.Table, problems: list[str]) -> None:
    """The train split's REAL:FAKE within one sample per family of the target ratio (when it was balanced)."""
    cfg, split = index.settings, index.splits.get("train")
    if cfg is None or cfg.balance == "none" or split is None or split.balance_note:
        return
    if not split.natural or not all(split.natural):
        return
    r, f = parse_ratio(cfg.ratio)
    train = samples.filter(pc.equal(samples["split"], "train"))
    n_real = pc.sum(pc.equal(train["label"], "REAL").cast(pa.int64())).as_py() or 0
    n_fake = train.num_rows - n_real
    n_fam = len(pc.unique(train["family"])) if train.num_rows else 0
    # each generation of a grown folder is balanced on its own: within one sample per family of that generation
    n_fam = max(n_fam, sum(g["train"] for g in index.generation_families))
    off = min(abs(n_fake - n_real * f / r), abs(n_real - n_fake * r / f))
    if off > max(n_fam, 1):
        problems.append(f"train ratio REAL:FAKE = {n_real}:{n_fake}, target {cfg.ratio} "
                        f"({cfg.balance}); off by {off:.1f} samples, more than one per family ({n_fam})")


def verify_shards(shards: Path, work: Path | None = None, workers: int = 1) -> list[str]:
    """Everything wrong with SHARDS, and against the face store; [] when all is well.

    The face store is WORK's, or when WORK is None the one recorded in index.json if it still exists.
    """
    shards = as_path(shards)
    try:        # as `dfprep train` reads it: a shard name that is not a plain name inside SHARDS is refused
        index = read_shards_index(shards)
    except ShardsUsageError as exc:
        return [str(exc)]
    if work is None and index.work is not None:
        from dfprep.formats.work.names import faces_dir

        try:        # the WORK index.json names, when it is still there (a store that refuses: not checked)
            recorded = as_path(index.work)
            work = recorded if faces_dir(recorded).is_dir() else None
        except (OSError, ValueError):
            work = None
    problems: list[str] = []
    families = _read_families(shards, problems)
    members = list(index.members)
    clip = index.unit == "clip"
    schema = (clip, index.clip_len, index.sample_schema) if index.sample_schema >= STABLE_SCHEMA else None
    jobs = [(str(shards / e.name), e, split, members, families, work is not None, schema)
            for split, e in index.entries()]
    listed = {as_path(j[0]).name for j in jobs}
    problems += [f"{p.name}: on disk but not in index.json" for p in shard_files(shards) if p.name not in listed]
    problems += _check_wids(shards, index)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(check_shard, *zip(*jobs)))
    else:
        results = [check_shard(*j) for j in jobs]
    cols = ("key", "part", "video", "family", "label", "frames", "track_id", "split")
    parts, crops = [], []
    for probs, rec in results:
        problems += probs
        if rec.get("key"):
            parts.append(pa.table({c: rec[c] for c in cols}))
            if "images" in rec and len(rec["images"]) == len(rec["key"]):
                crops += zip(rec["shard"], rec["key"], rec["part"], rec["video"], rec["frames"], rec["track_id"],
                             rec["images"], rec["aug"])
    samples = pa.concat_tables(parts) if parts else pa.table({c: pa.array([], pa.string()) for c in cols[:5]} | {
        "frames": pa.array([], pa.list_(pa.int64())), "track_id": pa.array([], pa.int64()),
        "split": pa.array([], pa.string())})

    dup = samples.group_by("key").aggregate([("key", "count")]).filter(pc.greater(pc.field("key_count"), 1))
    for r in dup.slice(0, MAX_PER_KIND).to_pylist():
        problems.append(f"key {r['key']} appears {r['key_count']} times across the shards")
    fam_splits = samples.group_by(["family", "split"]).aggregate([]).group_by("family").aggregate(
        [("split", "list")])
    for r in fam_splits.filter(pc.greater(pc.list_value_length(fam_splits["split_list"]), 1)).to_pylist():
        problems.append(f"leak: family {r['family']} has samples in splits {sorted(r['split_list'])}")
    for split, s in index.splits.items():
        promised = s.counts()
        own = samples.filter(pc.equal(samples["split"], split))
        n_real = pc.sum(pc.equal(own["label"], "REAL").cast(pa.int64())).as_py() or 0
        got = {"samples": own.num_rows, "real": n_real, "fake": own.num_rows - n_real,
               "families": len(pc.unique(own["family"])) if own.num_rows else 0}
        for k, v in got.items():
            if promised[k] is not None and promised[k] != v:
                problems.append(f"{split}: read {v} {k}, index says {promised[k]}")
    _check_ratio(index, samples, problems)
    if work is not None:
        from dfprep.formats.work.names import WorkError
        from dfprep.ingest.completion import unfinished_ingest
        from dfprep.shards.verify_work import check_against_work

        try:
            partial = unfinished_ingest(as_path(work))    # WORK mid-ingest: its store is not what the index says
        except WorkError as exc:
            partial = str(exc)
        if partial and not index.partial:
            problems.append(f"{work}: the ingest is unfinished ({partial}); these shards were not cut with "
                            "--allow-partial")
        check_against_work(as_path(work), index, families, members, samples, crops, problems)
    return problems
