"""SHARDS, the on-disk format `dfprep shards` writes: every file name, the members of a sample, index.json (its
writer and typed reader), the wids descriptions and families.parquet. Every other module goes through here.

```
SHARDS/index.json          what was written from what (written last: its presence means every shard is whole)
SHARDS/{split}-NNNNNN.tar  WebDataset shards; a sample is KEY.jpg (or KEY.000.jpg ..), KEY.cls, KEY.json
SHARDS/wids-{split}.json   a wids dataset description per split with shards
SHARDS/families.parquet    video -> family, group, split (one row per usable video)
SHARDS/_state.json         while a run is in progress only (`dfprep.shards.index.write_state`)
```
docs/formats.md describes each; the sample json's keys are `dfprep.shards.samples`'.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dfprep.atomic import write_json, write_parquet
from dfprep.dataset import DEFAULT_CLIP_LEN, DFDC, SPLITS, UNITS, label_code
from dfprep.ingest.config import RecordedIngest
from dfprep.shards.config import ShardsUsageError
from dfprep.storage import arrow_source, as_path

FORMAT = "dfprep-shards/1"
INDEX = "index.json"
STATE = "_state.json"
FAMILIES = "families.parquet"
WIDS_VERSION = 1
_SHARD_NAME = re.compile(rf"({'|'.join(SPLITS)})-(\d{{6,}})\.tar")
_OLDER = " (written by an older dfprep? rerun `dfprep shards` into a new --out)"


# --- file names -------------------------------------------------------------------------------------------------

def shard_name(split: str, i: int) -> str:
    """`{split}-{i:06d}.tar`: numbered from 0 per split (a growth goes on after the split's last shard)."""
    return f"{split}-{i:06d}.tar"


def shard_number(name: str) -> tuple[str, int] | None:
    """(split, number) of a shard file name written by `shard_name`; None for any other name."""
    m = _SHARD_NAME.fullmatch(name)
    return (m.group(1), int(m.group(2))) if m else None


def shard_files(out: Path) -> list[Path]:
    """The shard files in OUT (by name, sorted), whether index.json lists them or not."""
    return sorted(p for p in as_path(out).glob("*.tar") if shard_number(p.name))


def wids_name(split: str) -> str:
    return f"wids-{split}.json"


def wids_files(out: Path) -> list[Path]:
    return sorted(as_path(out).glob("wids-*.json"))


# --- the members of a sample ------------------------------------------------------------------------------------

CLS, JSON, IMAGE = "cls", "json", "jpg"
CLIP_FRAME = re.compile(r"\d{3}\.jpg")


def image_members(unit: str, clip_len: int) -> list[str]:
    """A sample's image members, in order: `jpg` (frame) or `000.jpg`..`{T-1}.jpg` (clip)."""
    return [IMAGE] if unit == "frame" else [f"{i:03d}.jpg" for i in range(clip_len)]


def member_names(unit: str, clip_len: int) -> list[str]:
    """The fields of every sample: its image members, then `cls` and `json` (index.json's `members`)."""
    return image_members(unit, clip_len) + [CLS, JSON]


def allowed_member(field: str) -> bool:
    """A member extension a reader may decode: `jpg`, `NNN.jpg`, `cls`, `json` (never a pickle)."""
    return field in (IMAGE, CLS, JSON) or CLIP_FRAME.fullmatch(field) is not None


def cls_bytes(label: str) -> bytes:
    """ASCII `0` (REAL) or `1` (FAKE): webdataset's default `.cls` decoder turns it into an int."""
    return str(label_code(label)).encode("ascii")


def sample_members(key: str, images: list, label: str, json_bytes: bytes, clip: bool) -> dict:
    """The sample as a tar writer takes it, {"__key__": key, member: bytes}: `cls`, `json`, then the image
    (`jpg`) or a clip's images (`000.jpg`..), named as `image_members` names them."""
    sample = {"__key__": key, CLS: cls_bytes(label), JSON: json_bytes}
    if clip:
        sample.update({f"{i:03d}.jpg": b for i, b in enumerate(images)})
    else:
        sample[IMAGE] = images[0]
    return sample


# --- index.json: the typed reader --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShardEntry:
    """One shard of a split as index.json lists it."""
    name: str
    n_samples: int
    bytes: int              # size and sha256 of the whole file: the trainer checks both as it streams it
    sha256: str
    n_real: int | None = None       # None: an index that does not record them (hand-written ones)
    n_fake: int | None = None


@dataclass(frozen=True)
class SplitIndex:
    """One split of index.json: the sample counts it promises and its shards."""
    name: str
    samples: int
    real: int
    fake: int
    families: int | None
    videos: int | None
    shards: tuple[ShardEntry, ...]
    natural: tuple[int, int] | None = None      # balance.natural (REAL, FAKE) before balancing; None: absent
    balance_note: str | None = None             # why the split could not be balanced as asked

    def counts(self) -> dict:
        return {"samples": self.samples, "real": self.real, "fake": self.fake, "families": self.families,
                "videos": self.videos}


@dataclass(frozen=True)
class Settings:
    """What verify re-checks of index.json's `config` (the settings that changed what was written)."""
    balance: str                        # undersample | oversample | none
    ratio: str                          # REAL:FAKE target of the train split, e.g. "1:1"
    augment_ops: tuple[str, ...]
    jpeg_quality: int


@dataclass(frozen=True)
class ShardsIndex:
    """SHARDS/index.json as every reader but the writing stage's own resume reads it (`read_shards_index`)."""
    path: Path
    unit: str                           # frame | clip
    clip_len: int | None                # clip samples only
    class_weights: dict | None          # {"REAL": w, "FAKE": w} of the natural train split, or None
    splits: dict                        # split name -> SplitIndex, for the splits the index lists
    work: str | None                    # the WORK the shards were cut from (source.work)
    ingest: RecordedIngest | None       # that WORK's ingest settings and fingerprint; None: not recorded
    members: tuple[str, ...] = ()       # a sample's member names (`member_names`)
    sample_schema: int = 0              # 2: every sample json has the stable schema; 0: older, not promised
    settings: Settings | None = None
    content_hash: str | None = None     # the face store's (source.content_hash)
    partial: bool = False               # cut with --allow-partial from an unfinished ingest
    wids: dict | None = None            # split -> wids file name; None: written before wids descriptions
    identity_threshold: float | None = None     # grouping.threshold when cut with --group identity
    generation_families: tuple[dict, ...] = ()  # per generation: {split: families it split by the rule}
    datasets: dict | None = None        # {dataset: {split: {"REAL": n, "FAKE": n}}} of samples; None: older index
    held_out: tuple[str, ...] = ()      # config.test_datasets: datasets held out whole for test

    def dataset_names(self) -> tuple[str, ...]:
        """The datasets the shards hold (an index written before datasets: DFDC's only)."""
        return tuple(sorted(self.datasets)) if self.datasets is not None else (DFDC,)

    def entries(self) -> list[tuple[str, ShardEntry]]:
        """(split, entry) of every listed shard, splits in SPLITS order."""
        return [(s, e) for s in SPLITS if s in self.splits for e in self.splits[s].shards]


def read_index_record(shards: Path) -> dict:
    """index.json as the plain dict `dfprep shards` itself wrote (its own resume and growth merge it); other
    readers use `read_shards_index`. ShardsUsageError when absent or not JSON."""
    path = as_path(shards) / INDEX
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        _refuse_incomplete(shards)
        raise ShardsUsageError(f"{path}: not found; is {shards} the --out folder of `dfprep shards`?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardsUsageError(f"{path}: not valid JSON: {exc}") from None


def _refuse_incomplete(shards: Path) -> None:
    """A SHARDS folder with `_state.json` and no index.json is a run that has not finished (interrupted, or
    still running): say so, with what it finished, instead of a bare "index.json not found"."""
    state = as_path(shards) / STATE
    if not state.is_file():
        return
    try:
        n = len(json.loads(state.read_text()).get("done") or [])
    except (OSError, ValueError, AttributeError):
        n = "?"
    raise ShardsUsageError(f"{shards}: the `dfprep shards` run that writes it is incomplete (interrupted, or still "
                           f"running): {n} shard(s) finished, no {INDEX} yet; rerun the same `dfprep shards` "
                           "command to finish it")


def read_shards_index(shards: Path) -> ShardsIndex:
    """SHARDS/index.json, checked: ShardsUsageError with one line naming the file and the key that is missing
    or of the wrong type. Keys older folders lack are optional (None, or the older meaning)."""
    from dfprep.records import Fields, load_object

    path = as_path(shards) / INDEX
    if not path.is_file():
        _refuse_incomplete(shards)
    f = Fields(load_object(path, ShardsUsageError, f"is {shards} the --out folder of `dfprep shards`?"), path,
               ShardsUsageError, note=_OLDER)
    fmt = f.need("format", str)
    if fmt != FORMAT:
        raise ShardsUsageError(f"{path}: key 'format' is {fmt!r}; this dfprep reads {FORMAT!r}")
    layout = f if f.has("unit") else f.sub("config")
    unit = layout.need("unit", str)
    if unit not in UNITS:
        raise ShardsUsageError(f"{path}: key '{layout.where}unit' must be frame or clip, got {unit!r}")
    clip_len = layout.need("clip_len", int) if unit == "clip" else None
    weights = f.opt_sub("class_weights")
    splits = {}
    listed = f.sub("splits")
    for name in SPLITS:
        s = listed.opt_sub(name)
        if s is None:
            continue
        shards_ = tuple(ShardEntry(_plain_name(e.need("name", str), path), e.need("n_samples", int),
                                   e.need("bytes", int), e.need("sha256", str), e.opt("n_real", int),
                                   e.opt("n_fake", int)) for e in s.items("shards"))
        balance = s.opt_sub("balance")
        natural = balance.opt_sub("natural") if balance else None
        splits[name] = SplitIndex(name, s.need("samples", int), s.need("real", int), s.need("fake", int),
                                  s.opt("families", int), s.opt("videos", int), shards_,
                                  (natural.opt("real", int, 0), natural.opt("fake", int, 0)) if natural else None,
                                  balance.opt("note", str) if balance else None)
    source = f.opt_sub("source")
    ingest = f.opt_sub("ingest")
    cfg = f.opt_sub("config")
    grouping = f.opt_sub("grouping")
    identity = grouping is not None and grouping.opt("group", str) == "identity"
    wids = f.opt_sub("wids")
    return ShardsIndex(
        path, unit, clip_len, {k: weights.opt(k, float) for k in ("REAL", "FAKE")} if weights else None,
        splits, source.opt("work", str) if source else None,
        RecordedIngest.from_fields(ingest) if ingest else None,
        members=f.strings("members") or tuple(member_names(unit, clip_len or DEFAULT_CLIP_LEN)),
        sample_schema=f.opt("sample_schema", int, 0),
        settings=Settings(cfg.opt("balance", str, "none"), cfg.opt("ratio", str, "1:1"), cfg.strings("augment_ops"),
                          cfg.opt("jpeg_quality", int, 95)) if cfg else None,
        content_hash=source.opt("content_hash", str) if source else None,
        partial=f.opt("partial", bool, False),
        wids={s: wids.need(s, str) for s in SPLITS if wids.has(s)} if wids else None,
        identity_threshold=grouping.opt("threshold", float) if identity else None,
        generation_families=tuple(_generation_families(g) for g in (f.items("generations")
                                                                     if f.has("generations") else [])),
        datasets=_datasets(f.opt_sub("datasets")),
        held_out=tuple(sorted({n.strip() for n in (cfg.opt("test_datasets", str, "") if cfg else "").split(",")
                               if n.strip()})))


def _datasets(d) -> dict | None:
    """index.json's `datasets` ({dataset: {split: {REAL: n, FAKE: n}}}), checked; None when absent."""
    if d is None:
        return None
    out: dict = {}
    for name in sorted(d.data):
        by = d.sub(name)
        out[name] = {s: {lab: by.sub(s).need(lab, int) for lab in ("REAL", "FAKE")} for s in SPLITS if by.has(s)}
    return out


def _generation_families(g) -> dict:
    """{split: families} of one `generations` record (the families each split of that run holds)."""
    splits = g.opt_sub("splits")
    out = {}
    for s in SPLITS:
        sub = splits.opt_sub(s) if splits else None
        out[s] = (sub.opt("families", int, 0) if sub else 0)
    return out


def _plain_name(name: str, path) -> str:
    """A shard is named by a file name inside SHARDS (`dfprep.names`, the rule of every recorded name): `../x`,
    `a/b`, `/abs`, `s3://other/x.tar` in index.json are refused, local or remote, before anything is opened."""
    from dfprep.names import name_problem

    if why := name_problem(name):
        raise ShardsUsageError(f"{path}: shard name {name!r} {why}: not a plain file name inside SHARDS; "
                               "refused, never opened")
    return name


# --- index.json and the wids descriptions: the writer -------------------------------------------------------------

def wids_description(split: str, shards: list[tuple[str, int, int]]) -> dict:
    """The wids dataset description (`wids.ShardListDataset(path)`) of a split's shards, (name, n_samples,
    bytes) each: `wids_version` 1 and a non-empty `shardlist` of `{url, nsamples}`, urls resolved against the
    description's own folder: plain shard names, so SHARDS can be moved or copied whole."""
    return {"wids_version": WIDS_VERSION, "name": f"dfprep-{split}",
            "shardlist": [{"url": n, "nsamples": k, "filesize": b} for n, k, b in shards]}


def wids_indexes(index: dict) -> dict[str, dict]:
    """{file name: wids dataset description} for every split of an index record with shards."""
    out = {}
    for split in SPLITS:
        shards = index.get("splits", {}).get(split, {}).get("shards", [])
        if shards:
            out[wids_name(split)] = wids_description(split, [(e["name"], e["n_samples"], e["bytes"])
                                                             for e in shards])
    return out


def _write_changed(path: Path, obj: dict) -> None:
    """write_json unless `path` already holds the same JSON (a run that adds nothing rewrites nothing)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(obj, default=str)):
            return
    except (OSError, ValueError):
        pass
    write_json(path, obj)


def write_index(out: Path, index: dict) -> None:
    """Write the wids descriptions, then index.json (last, atomically), and drop the in-progress state. A file
    that already holds what it would be given is left alone."""
    out = as_path(out)
    wids = wids_indexes(index)
    for name, desc in wids.items():
        _write_changed(out / name, desc)
    for p in wids_files(out):
        if p.name not in wids:
            p.unlink()
    _write_changed(out / INDEX, index)
    (out / STATE).unlink(missing_ok=True)


# --- families.parquet ---------------------------------------------------------------------------------------------

FAMILY_SCHEMA = pa.schema([
    ("video", pa.string()),
    ("part", pa.int32()),
    ("dataset", pa.string()),       # the video's dataset (absent from files written before datasets: DFDC)
    ("family", pa.string()),
    ("group", pa.string()),         # what the split kept whole: the identity group id (the family by family)
    ("split", pa.string()),
    ("label", pa.string()),
    ("n_crops", pa.int32()),
    ("n_samples", pa.int32()),
    ("generation", pa.int32()),     # the run that sharded the video: 0 the first, g the g-th growth
    ("crops_hash", pa.string()),    # its crop records then (`source.crops_hashes`): a re-ingest that changed them shows
])


def family_table(rows: list[dict]) -> pa.Table:
    """families.parquet: one row per video that contributed crops, sorted by (part, video)."""
    rows = sorted(rows, key=lambda r: (r["part"], r["video"]))
    return pa.Table.from_pylist(rows, schema=FAMILY_SCHEMA)


def write_families(out: Path, table: pa.Table) -> None:
    """SHARDS/families.parquet, unless it already holds this table (a run that adds nothing rewrites nothing)."""
    path = as_path(out) / FAMILIES
    try:
        fs, name = arrow_source(path)
        if pq.read_table(name, filesystem=fs).equals(table):
            return
    except (OSError, pa.ArrowInvalid):
        pass
    write_parquet(path, table)


def read_families(shards: Path, columns: list[str] | None = None) -> list[dict]:
    """families.parquet's rows: only `columns` (those of them the file has) when given; else every column, those
    older files lack filled in (`group` the family, `generation` 0, `crops_hash` None: not compared).
    ShardsUsageError naming the file when it cannot be read."""
    path = as_path(shards) / FAMILIES
    try:
        fs, name = arrow_source(path)
        if columns is not None:
            names = pq.read_schema(name, filesystem=fs).names
            columns = [c for c in columns if c in names]
        rows = pq.read_table(name, columns=columns, filesystem=fs).to_pylist()     # one read of the file
    except (OSError, pa.ArrowInvalid) as exc:
        raise ShardsUsageError(f"{path}: cannot be read ({exc})") from None
    if columns is None:
        for r in rows:
            r.setdefault("generation", 0)
            r.setdefault("group", r["family"])
            r.setdefault("crops_hash", None)
            r.setdefault("dataset", DFDC)
    return rows
