"""SHARDS/index.json: what was written from what, and how to resume.

index.json is written last and atomically: its presence means every shard it lists is complete. While a run
is in progress `_state.json` records the fingerprint of (settings, face store) and every finished shard's
entry, so an interrupted run resumes keeping the shards it finished (when their sha256 still matches), and a
run with other settings refuses to mix its shards with them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from dfprep.atomic import write_json
from dfprep.shards.config import ShardsUsageError

INDEX = "index.json"
STATE = "_state.json"
FAMILIES = "families.parquet"
FORMAT = "dfprep-shards/1"


def read_index(shards: Path) -> dict:
    path = Path(shards) / INDEX
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ShardsUsageError(f"{path}: not found; is {shards} the --out folder of `dfprep shards`?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShardsUsageError(f"{path}: not valid JSON: {exc}") from None


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
