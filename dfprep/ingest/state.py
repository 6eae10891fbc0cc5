"""WORK/_state.json's guard: one set of output settings per WORK, and each WORK part read from one ROOT.

A WORK grows by parts and datasets (several ROOTs, or one per run); what it must not do is mix outputs of other
settings, or read a part from another ROOT than the one it was read from (the rows would describe other files).
"""
from __future__ import annotations

from pathlib import Path

from dfprep.formats.work.names import INGEST_OUTPUTS, state_path
from dfprep.formats.work.runjson import read_state
from dfprep.ingest.config import IngestConfig
from dfprep.ingest.discover import IngestUsageError
from dfprep.storage import as_path, is_remote, rmtree


def _root_key(root) -> str:
    """How _state.json records a ROOT: a local folder resolved, a URI as given."""
    return str(root) if is_remote(root) else str(Path(root).resolve())


def _recorded_roots(old: dict) -> list[dict]:
    """_state.json's ROOTs ({root, layout, datasets, parts}); a state from before datasets holds one DFDC ROOT
    (and no `parts`: it owns its datasets whole)."""
    if isinstance(old.get("roots"), list):
        return old["roots"]
    return [{"root": old.get("root"), "layout": "dfdc", "datasets": ["dfdc"]}] if old.get("root") else []


def _moved(before: list[dict], roots: list[dict]) -> dict:
    """{what: (recorded ROOT, this run's)} for each WORK part this run reads from another ROOT than the one it
    was read from (a ROOT recorded before parts were: each of its datasets)."""
    part_root = {p: r["root"] for r in before for p in r.get("parts") or []}
    dataset_root = {d: r["root"] for r in before if not r.get("parts") for d in r["datasets"]}
    moved = {}
    for r in roots:
        for p in r["parts"]:
            if p in part_root and part_root[p] != r["root"]:
                moved[f"part {p}"] = (part_root[p], r["root"])
        for d in r["datasets"]:
            if d in dataset_root and dataset_root[d] != r["root"]:
                moved[d] = (dataset_root[d], r["root"])
    return moved


def check_state(work: Path, finds: list, cfg: IngestConfig, overwrite: bool) -> dict:
    """Refuse to mix outputs of different settings in one WORK, or a dataset read from another ROOT than before;
    --overwrite starts afresh. Returns the state to record once the run is known to go ahead (the ROOTs of
    earlier runs kept: a WORK grows by datasets)."""
    roots = [{"root": _root_key(as_path(f.root)), "layout": f.layout, "datasets": f.datasets, "parts": f.parts}
             for f in finds]
    state = {"root": roots[0]["root"], "roots": roots, "fingerprint": cfg.fingerprint(),
             "settings": cfg.output_settings()}
    if overwrite and state_path(work).exists():
        for name in INGEST_OUTPUTS:
            rmtree(work / name)
    elif (old := read_state(work)) is not None:
        same = old.get("fingerprint") == state["fingerprint"] or (         # a WORK from before parts left it
            IngestConfig(**{k: v for k, v in old.get("settings", {}).items()
                            if k in IngestConfig.__dataclass_fields__}).fingerprint() == state["fingerprint"])
        before = _recorded_roots(old)
        moved = _moved(before, roots)
        if not same or moved:
            diff = {k: (old.get("settings", {}).get(k), v) for k, v in state["settings"].items()
                    if old.get("settings", {}).get(k) != v and k != "parts"}
            if moved and len({pair for pair in moved.values()}) == 1:
                diff["root"] = next(iter(moved.values()))        # one ROOT moved: said as before datasets
            else:
                diff.update({f"root of {k}": pair for k, pair in moved.items()})
            raise IngestUsageError(f"{work} holds an ingest made with other settings {diff}; "
                                   "use another --out, or --overwrite to start again")
        merged = {r["root"]: dict(r) for r in before}
        for r in roots:
            m = merged.setdefault(r["root"], {"root": r["root"], "layout": r["layout"], "datasets": [], "parts": []})
            m["datasets"] = sorted(set(m["datasets"]) | set(r["datasets"]))
            m["parts"] = sorted(set(m.get("parts") or []) | set(r["parts"]))
        state["roots"] = list(merged.values())
        state["root"] = state["roots"][0]["root"]
    return state
