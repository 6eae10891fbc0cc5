"""SHARDS/index.json: what was written from what, and how to resume.

index.json is written last and atomically: its presence means every shard it lists is complete. While a run
is in progress `_state.json` records the fingerprint of (settings, face store) and every finished shard's
entry, so an interrupted run resumes keeping the shards it finished (when their sha256 still matches), and a
run with other settings refuses to mix its shards with them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from dfprep.atomic import write_json
from dfprep.storage import as_path, rmtree
from dfprep.dataset import SPLITS, UNITS
from dfprep.ingest.config import RecordedIngest
from dfprep.shards.config import ShardsUsageError

INDEX = "index.json"
_SHARD_NAME = re.compile(rf"({'|'.join(SPLITS)})-(\d{{6,}})\.tar")
STATE = "_state.json"
FAMILIES = "families.parquet"
FORMAT = "dfprep-shards/1"


def read_index(shards: Path) -> dict:
    """index.json as a plain dict, for this stage's own resume and verify; other stages use `read_shards_index`."""
    path = as_path(shards) / INDEX
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        _refuse_incomplete(shards)
        raise ShardsUsageError(f"{path}: not found; is {shards} the --out folder of `dfprep shards`?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardsUsageError(f"{path}: not valid JSON: {exc}") from None


_OLDER = " (written by an older dfprep? rerun `dfprep shards` into a new --out)"


def _refuse_incomplete(shards: Path) -> None:
    """A SHARDS folder with `_state.json` and no index.json is a run that has not finished (interrupted, or
    still running): say so, with what it finished, instead of a bare "index.json not found"."""
    from dfprep.storage import as_path

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


@dataclass(frozen=True)
class ShardEntry:
    """One shard of a split as index.json lists it."""
    name: str
    n_samples: int
    bytes: int              # size and sha256 of the whole file: the trainer checks both as it streams it
    sha256: str


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

    def counts(self) -> dict:
        return {"samples": self.samples, "real": self.real, "fake": self.fake, "families": self.families,
                "videos": self.videos}


@dataclass(frozen=True)
class ShardsIndex:
    """What other stages read of SHARDS/index.json (`read_shards_index`); the rest of the file is for people
    and for `dfprep shards verify`."""
    path: Path
    unit: str                           # frame | clip
    clip_len: int | None                # clip samples only
    class_weights: dict | None          # {"REAL": w, "FAKE": w} of the natural train split, or None
    splits: dict                        # split name -> SplitIndex, for the splits the index lists
    work: str | None                    # the WORK the shards were cut from (source.work)
    ingest: RecordedIngest | None       # that WORK's ingest settings and fingerprint; None: not recorded


def read_shards_index(shards: Path) -> ShardsIndex:
    """SHARDS/index.json, checked: ShardsUsageError with one line naming the file and the key that is missing
    or of the wrong type. An index written before the ingest settings were recorded has `ingest` None."""
    from dfprep.records import Fields, load_object
    from dfprep.storage import as_path

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
                                   e.need("bytes", int), e.need("sha256", str)) for e in s.items("shards"))
        splits[name] = SplitIndex(name, s.need("samples", int), s.need("real", int), s.need("fake", int),
                                  s.opt("families", int), s.opt("videos", int), shards_)
    source = f.opt_sub("source")
    ingest = f.opt_sub("ingest")
    return ShardsIndex(path, unit, clip_len,
                       {k: weights.opt(k, float) for k in ("REAL", "FAKE")} if weights else None,
                       splits, source.opt("work", str) if source else None,
                       RecordedIngest.from_fields(ingest) if ingest else None)


def _plain_name(name: str, path) -> str:
    """A shard is named by a file name inside SHARDS (`dfprep.names`, the rule of every recorded name): `../x`,
    `a/b`, `/abs`, `s3://other/x.tar` in index.json are refused, local or remote, before anything is opened."""
    from dfprep.names import name_problem

    if why := name_problem(name):
        raise ShardsUsageError(f"{path}: shard name {name!r} {why}: not a plain file name inside SHARDS; "
                               "refused, never opened")
    return name


def shard_name(split: str, i: int) -> str:
    return f"{split}-{i:06d}.tar"


def shard_number(name: str) -> tuple[str, int] | None:
    """(split, number) of a shard file name written by `shard_name`; None for any other name."""
    m = _SHARD_NAME.fullmatch(name)
    return (m.group(1), int(m.group(2))) if m else None


def run_fingerprint(cfg_fingerprint: str, store_hash: str) -> dict:
    return {"config": cfg_fingerprint, "store": store_hash}


def shard_files(out: Path) -> list[Path]:
    return sorted(p for p in as_path(out).glob("*.tar") if shard_number(p.name))


def clear_out(out: Path) -> None:
    """Delete what `dfprep shards` wrote into OUT (for --overwrite): shards, index, wids indexes, state, families."""
    out = as_path(out)
    for p in shard_files(out) + wids_files(out):
        p.unlink()
    for name in (INDEX, STATE, FAMILIES):
        rmtree(out / name)


def write_state(out: Path, fingerprint: dict, config: dict, done: list[dict], generation: int = 0,
                resplit: dict | None = None) -> None:
    """The in-progress record: fingerprint, the generation being written, the shards finished so far (name,
    counts, bytes, sha256), and a `--resplit` being written (the split each unit keeps, what it changes)."""
    state = {"fingerprint": fingerprint, "config": config, "generation": generation,
             "done": sorted(done, key=lambda s: s["name"])}
    if resplit:
        state["resplit"] = resplit
    write_json(as_path(out) / STATE, state)


# --- wids: one dataset description per split, for `wids.ShardListDataset` ---------------------------------------

WIDS_VERSION = 1


def wids_name(split: str) -> str:
    return f"wids-{split}.json"


def wids_files(out: Path) -> list[Path]:
    return sorted(as_path(out).glob("wids-*.json"))


def wids_indexes(index: dict) -> dict[str, dict]:
    """{file name: wids dataset description} for every split with shards. wids (`wids.ShardListDataset(path)`)
    wants `wids_version` 1 and a non-empty `shardlist` of `{url, nsamples}`, urls resolved against the
    description's own folder: plain shard names, so SHARDS can be moved or copied whole."""
    out = {}
    for split in SPLITS:
        shards = index.get("splits", {}).get(split, {}).get("shards", [])
        if shards:
            out[wids_name(split)] = {
                "wids_version": WIDS_VERSION, "name": f"dfprep-{split}",
                "shardlist": [{"url": e["name"], "nsamples": e["n_samples"], "filesize": e["bytes"]} for e in shards]}
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
    """Write the wids indexes, then index.json (last, atomically), and drop the in-progress state. A file that
    already holds what it would be given is left alone."""
    out = as_path(out)
    wids = wids_indexes(index)
    for name, desc in wids.items():
        _write_changed(out / name, desc)
    for p in wids_files(out):
        if p.name not in wids:
            p.unlink()
    _write_changed(out / INDEX, index)
    (out / STATE).unlink(missing_ok=True)
