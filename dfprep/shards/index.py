"""SHARDS/index.json: what was written from what, and how to resume.

index.json is written last and atomically: its presence means every shard it lists is complete. While a run
is in progress `_state.json` records the fingerprint of (settings, face store) and every finished shard's
entry, so an interrupted run resumes keeping the shards it finished (when their sha256 still matches), and a
run with other settings refuses to mix its shards with them.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from dfprep.atomic import write_json
from dfprep.dataset import SPLITS
from dfprep.ingest.config import RecordedIngest
from dfprep.shards.config import ShardsUsageError

INDEX = "index.json"
STATE = "_state.json"
FAMILIES = "families.parquet"
FORMAT = "dfprep-shards/1"


def read_index(shards: Path) -> dict:
    """index.json as a plain dict, for this stage's own resume and verify; other stages use `read_shards_index`."""
    path = Path(shards) / INDEX
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
    if unit not in ("frame", "clip"):
        raise ShardsUsageError(f"{path}: key '{layout.where}unit' must be frame or clip, got {unit!r}")
    clip_len = layout.need("clip_len", int) if unit == "clip" else None
    weights = f.opt_sub("class_weights")
    splits = {}
    listed = f.sub("splits")
    for name in SPLITS:
        s = listed.opt_sub(name)
        if s is None:
            continue
        shards_ = tuple(ShardEntry(e.need("name", str), e.need("n_samples", int), e.need("bytes", int),
                                   e.need("sha256", str)) for e in s.items("shards"))
        splits[name] = SplitIndex(name, s.need("samples", int), s.need("real", int), s.need("fake", int),
                                  s.opt("families", int), s.opt("videos", int), shards_)
    source = f.opt_sub("source")
    ingest = f.opt_sub("ingest")
    return ShardsIndex(path, unit, clip_len,
                       {k: weights.opt(k, float) for k in ("REAL", "FAKE")} if weights else None,
                       splits, source.opt("work", str) if source else None,
                       RecordedIngest.from_fields(ingest) if ingest else None)


def run_fingerprint(cfg_fingerprint: str, store_hash: str) -> dict:
    return {"config": cfg_fingerprint, "store": store_hash}


def shard_files(out: Path) -> list[Path]:
    return sorted(p for s in ("train", "val", "test") for p in Path(out).glob(f"{s}-*.tar"))


def previous_shards(out: Path, fingerprint: dict, overwrite: bool) -> dict[str, dict]:
    """Index entries (name -> entry) of an earlier run with the same fingerprint; {} for a fresh OUT.

    A previous run with other settings or another face store is refused unless `overwrite`, which deletes
    its shards, index and state first.
    """
    out = Path(out)
    old = None
    for name in (STATE, INDEX):          # a newer interrupted run's state first
        p = out / name
        if p.is_file():
            try:
                old = json.loads(p.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                old = {"fingerprint": None}
            break
    stale = old is None and bool(shard_files(out))
    if (old is not None and old.get("fingerprint") != fingerprint) or stale:
        if not overwrite:
            what = "shards without an index" if stale else "shards made with other settings or another face store"
            raise ShardsUsageError(f"{out} holds {what}; use another --out, or --overwrite to replace them")
        for p in shard_files(out):
            p.unlink()
        for name in (INDEX, STATE, FAMILIES):
            p = out / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        return {}
    if old is None:
        return {}
    done = old.get("done") or [s for split in old.get("splits", {}).values() for s in split.get("shards", [])]
    return {s["name"]: s for s in done}


def write_state(out: Path, fingerprint: dict, config: dict, done: list[dict]) -> None:
    """The in-progress record: fingerprint and the shards finished so far (name, counts, bytes, sha256)."""
    write_json(Path(out) / STATE, {"fingerprint": fingerprint, "config": config,
                                   "done": sorted(done, key=lambda s: s["name"])})


def write_index(out: Path, index: dict) -> None:
    """Write index.json (last, atomically) and drop the in-progress state."""
    write_json(Path(out) / INDEX, index)
    (Path(out) / STATE).unlink(missing_ok=True)
