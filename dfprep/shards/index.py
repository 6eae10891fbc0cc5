"""The writing stage's own records in SHARDS: the run fingerprint, `_state.json` (resume), `--overwrite`.

While a run is in progress `_state.json` records the fingerprint of (settings, face store) and every finished
shard's entry, so an interrupted run resumes keeping the shards it finished (when their sha256 still matches),
and a run with other settings refuses to mix its shards with them. The files' names, index.json and the rest
of the format are `dfprep.formats.shards`'.
"""
from __future__ import annotations

from pathlib import Path

from dfprep.atomic import write_json
from dfprep.formats.shards import FAMILIES, INDEX, STATE, shard_files, wids_files
from dfprep.storage import as_path, rmtree


def run_fingerprint(cfg_fingerprint: str, store_hash: str) -> dict:
    return {"config": cfg_fingerprint, "store": store_hash}


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
