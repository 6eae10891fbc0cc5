"""Growing a SHARDS folder with its WORK: the videos it does not hold become a new generation of shards.

`dfprep shards WORK --out SHARDS` on a WORK that has grown since SHARDS was cut (new parts ingested, same ingest
and shards settings) plans only the videos SHARDS does not hold (`layout.make_plan(work, cfg, prior)`). A family
(or, with `--group identity`, an identity group) that SHARDS already holds keeps its split and takes its new
videos there: a new FAKE of an old REAL goes where the REAL is. The other new families are split by the same
rule among themselves, so the shares hold for the new data; the new samples are balanced among themselves and
cut into new shards whose numbers go on after the split's last one. Old shard files are never written again.

What SHARDS holds is read from its own records: index.json (`generations`: one record per run that added
shards) and families.parquet (each video's family, group, split and `generation`). A run is generation g when
SHARDS holds generations 0..g-1; rerunning on the same face store replans its last generation (reusing every
shard whose sha256 still matches, as the first cut always did). Files are read through `read_json` and
`read_rows` only, so another store needs only those.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from dfprep.dataset import DFDC, SPLITS
from dfprep.shards.balance import class_weights
from dfprep.shards.config import ShardsUsageError
from dfprep.formats.shards import INDEX, STATE, family_table, read_families, shard_files, shard_number
from dfprep.shards.index import clear_out
from dfprep.shards.summary import GrowthSummary
from dfprep.storage import as_path

_REFUSE = "; use another --out, or --overwrite to replace them"
SUMMED = ("samples", "real", "fake", "augmented", "bytes")


# --- reading what SHARDS holds (the only file access here) --------------------------------------------------------

def read_json(path: Path) -> dict | None:
    """The JSON object in `path`; None when absent; {"fingerprint": None} when it is not one (never matches)."""
    try:
        data = json.loads(as_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"fingerprint": None}
    return data if isinstance(data, dict) else {"fingerprint": None}


def read_rows(out: Path) -> list[dict]:
    """families.parquet's rows (`generation` 0, `group` the family, `crops_hash` None where the file predates
    them: `formats.shards.read_families`)."""
    try:
        return read_families(out)
    except ShardsUsageError as exc:
        raise ShardsUsageError(f"{exc}, so what SHARDS holds is unknown{_REFUSE}") from None


# --- what SHARDS holds ------------------------------------------------------------------------------------------

def generations_of(index: dict) -> list[dict]:
    """index.json's `generations`; an index written before growth existed is one generation (0)."""
    if isinstance(index.get("generations"), list) and index["generations"]:
        return index["generations"]
    splits = index.get("splits", {})
    return [{"generation": 0, "store": (index.get("fingerprint") or {}).get("store"),
             "videos": index.get("source", {}).get("videos"), "crops": index.get("source", {}).get("crops"),
             "families": {s: splits.get(s, {}).get("families", 0) for s in SPLITS}, "joined": dict.fromkeys(SPLITS, 0),
             "warnings": index.get("warnings", []),
             "splits": {s: {**{k: v for k, v in splits.get(s, {}).items() if k != "shards"},
                            "shards": [e["name"] for e in splits.get(s, {}).get("shards", [])]} for s in SPLITS}}]


@dataclass
class Prior:
    """What SHARDS holds before the generation being planned: its videos' rows, shards and records."""
    out: Path
    generation: int                                  # the generation being planned
    index: dict                                      # index.json as it is
    generations: list[dict]                          # records of generations 0..generation-1
    rows: list[dict]                                 # families.parquet rows of those generations
    entries: dict[str, dict] = field(default_factory=dict)       # shard name -> index entry, those generations
    old: dict[tuple[int, str], dict] = field(default_factory=dict)   # (part, video) -> its row
    first_shard: dict[str, int] = field(default_factory=dict)    # split -> number of its first new shard
    shard_counts: dict[str, int] = field(default_factory=dict)   # split -> shards of those generations

    def __post_init__(self) -> None:
        self.old = {(r["part"], r["video"]): r for r in self.rows}
        names = {n for g in self.generations for s in SPLITS for n in g["splits"].get(s, {}).get("shards", [])}
        self.entries = {e["name"]: e for s in SPLITS for e in self.index["splits"].get(s, {}).get("shards", [])
                        if e["name"] in names}
        for g in self.generations:
            for split, names in ((s, g["splits"].get(s, {}).get("shards", [])) for s in SPLITS):
                self.shard_counts[split] = self.shard_counts.get(split, 0) + len(names)
                for n in names:
                    number = shard_number(n)
                    if number:
                        self.first_shard[split] = max(self.first_shard.get(split, 0), number[1] + 1)

    def changes(self, eligible: list[tuple[int, str]], n_crops, label_of: dict, fam_of: dict[tuple[int, str], str],
                crops_hash: dict[tuple[int, str], str]) -> tuple[list[str], list[str]]:
        """What changed in WORK under the videos SHARDS holds, re-deriving every family from the grown WORK:
        (leaks: families whose videos SHARDS holds would span splits, naming them; changes: videos gone, with
        another label, number of crops or crop records (re-ingested from another file), or in another family).
        A WORK may grow; it may not change. Rows written before `crops_hash` existed are not compared on it."""
        where = {pv: i for i, pv in enumerate(eligible)}
        changed = []
        for pv, r in sorted(self.old.items()):
            i = where.get(pv)
            if i is None:
                changed.append(f"{_pv(pv)} is gone (or no longer usable)")
            elif label_of.get(pv) != r["label"] or int(n_crops[i]) != r["n_crops"]:
                changed.append(f"{_pv(pv)} was {r['label']} with {r['n_crops']} crops, is {label_of.get(pv)} "
                               f"with {int(n_crops[i])}")
            elif r.get("crops_hash") and r["crops_hash"] != crops_hash.get(pv):
                changed.append(f"{_pv(pv)}'s crops differ from those SHARDS holds (ingested again from another "
                               "file?)")
        kept = [pv for pv in sorted(self.old) if pv in where]
        members: dict[str, list[tuple[int, str]]] = {}
        for pv in kept:
            members.setdefault(self.old[pv]["family"], []).append(pv)
        for old_family, pvs in sorted(members.items()):
            # the family SHARDS recorded continues where its root (else its first video) now is; the others moved
            anchor = next((pv for pv in pvs if _pv(pv) == old_family), pvs[0])
            changed += [f"{_pv(pv)} is now in family {fam_of[pv]} (was {old_family})"
                        for pv in pvs if fam_of[pv] != fam_of[anchor]]
        by_family: dict[str, list[tuple[int, str]]] = {}
        for pv in kept:
            by_family.setdefault(fam_of[pv], []).append(pv)
        leaks = [f"family {f} would span {' and '.join(splits)}: " + ", ".join(
                     f"{_pv(pv)} ({self.old[pv]['split']})" for pv in _few(sorted(pvs, key=lambda k: (
                         SPLITS.index(self.old[k]["split"]), k)), splits, self.old))
                 for f, pvs in sorted(by_family.items())
                 if len(splits := sorted({self.old[pv]["split"] for pv in pvs}, key=SPLITS.index)) > 1]
        return leaks, changed

    def refusal(self, leaks: list[str], changed: list[str], keep: dict[str, str],
                unit_of_old: dict[tuple[int, str], str]) -> "WorkChanged":
        """The one-line refusal of a changed WORK, carrying what `--resplit` keeps and moves."""
        head = (f"growing it from WORK would leak: {'; '.join(leaks[:5])}"
                f"{f'; and {len(leaks) - 5} more' if len(leaks) > 5 else ''} (a video it holds changed family: "
                if leaks else "")
        n = len(changed)
        what = f"{n} video(s) it was cut from changed in WORK (e.g. {'; '.join(changed[:3])}" + \
               (f"; and {n - 3} more" if n > 3 else "") + ")"
        text = f"{self.out}: {head}{what}{')' if leaks else ''}; a WORK may grow, not change: --resplit " \
               "rewrites every shard from WORK as it is now (each family keeps its split where it can), or use " \
               "another --out, or --overwrite to cut anew"
        moved = [{"video": _pv(pv), "from": self.old[pv]["split"], "to": keep[u]}
                 for pv, u in sorted(unit_of_old.items()) if u in keep and keep[u] != self.old[pv]["split"]]
        record = {"after_generations": len(self.generations), "leaks": leaks, "changes": changed[:100],
                  "n_changes": n, "moved": moved}
        return WorkChanged(text, keep, record)

    def check_ingest(self, ingest) -> None:
        """The crops of new videos must be cut as the old ones were: the same ingest settings."""
        old = (self.index.get("ingest") or {}).get("fingerprint")
        new = ingest.fingerprint if ingest is not None else None
        if old and new and old != new:
            raise ShardsUsageError(f"{self.out} was cut from a WORK ingested with other settings (ingest fingerprint "
                                   f"{old}, WORK's {new}){_REFUSE}")

    def linked(self, unit_of_old: dict[tuple[int, str], str]) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """Units (families or identity groups, as the grown WORK makes them) that hold old videos: {unit: split
        they keep}, {unit: the group id SHARDS recorded for them}, warnings. A unit whose old videos sit in
        several splits (new videos linked them) keeps the split holding most of their crops."""
        crops: dict[str, dict[str, int]] = {}
        for pv, unit in unit_of_old.items():
            r = self.old[pv]
            crops.setdefault(unit, {}).setdefault(r["split"], 0)
            crops[unit][r["split"]] += r["n_crops"] + 1
        forced = {u: max(by, key=lambda s: (by[s], -SPLITS.index(s))) for u, by in crops.items()}
        label: dict[str, str] = {}
        for pv, unit in sorted(unit_of_old.items()):
            r = self.old[pv]
            if r["split"] == forced[unit]:
                label[unit] = min(label.get(unit, r["group"]), r["group"])
        spanning = sorted(u for u, by in crops.items() if len(by) > 1)
        warnings = []
        if spanning:
            warnings.append(f"{len(spanning)} group(s) of videos SHARDS held in different splits are now linked by "
                            f"new videos (e.g. {spanning[0]}: {sorted(crops[spanning[0]])}): old videos keep their "
                            "split, new ones go to the split holding most of the group's crops; --overwrite "
                            "re-splits everything")
        return forced, label, warnings


def _pv(pv: tuple[int, str]) -> str:
    return f"p{pv[0]}/{pv[1]}"


def _few(pvs: list, splits: list[str], old: dict, n: int = 4) -> list:
    """At most `n` videos of each split (a leak message names some of every side, not all of a big family)."""
    out, per = [], dict.fromkeys(splits, 0)
    for pv in pvs:
        per[old[pv]["split"]] += 1
        if per[old[pv]["split"]] <= n:
            out.append(pv)
    return out


class WorkChanged(ShardsUsageError):
    """WORK changed under SHARDS rather than grew. `keep`: the split each unit (family or identity group, as the
    grown WORK makes them) keeps in a re-split; `record`: what it changes (index.json's `resplit`)."""

    def __init__(self, message: str, keep: dict[str, str], record: dict):
        super().__init__(message)
        self.keep, self.record = keep, record


def recorded_resplit(out: Path, fingerprint: dict) -> dict | None:
    """The `--resplit` a run on the same settings and WORK continues: the one an interrupted run was writing
    (_state.json, index.json absent), or the one index.json records (a rerun keeps it: the split of every unit,
    families.parquet's). {keep, record}, or None."""
    out = as_path(out)
    state, index = read_json(out / STATE), read_json(out / INDEX)
    if index is None:
        ok = state is not None and state.get("fingerprint") == fingerprint and isinstance(state.get("resplit"), dict)
        return state["resplit"] if ok else None
    if index.get("resplit") and index.get("fingerprint") == fingerprint and len(generations_of(index)) == 1:
        return {"keep": {r["group"]: r["split"] for r in read_rows(out)}, "record": index["resplit"]}
    return None


def resume_point(out: Path, fingerprint: dict, overwrite: bool) -> tuple[Prior | None, dict[str, dict]]:
    """Where a run into OUT starts: (the Prior of the generation to plan, None for a first cut; index entries
    of shards that may be kept, by name). Settings other than OUT's are refused unless `overwrite`; with
    `overwrite`, anything but a rerun on the same settings and face store empties OUT and cuts anew."""
    out = as_path(out)
    state, index = read_json(out / STATE), read_json(out / INDEX)

    def refuse(what: str) -> tuple[None, dict]:
        if not overwrite:
            raise ShardsUsageError(f"{out} holds {what}{_REFUSE}")
        clear_out(out)
        return None, {}

    def done(s: dict | None) -> dict[str, dict]:
        return {e["name"]: e for e in (s or {}).get("done") or []}

    if index is None:                   # nothing finished yet in OUT: a first cut, maybe interrupted
        if state is None:
            return refuse("shards without an index") if shard_files(out) else (None, {})
        if state.get("fingerprint") != fingerprint or state.get("generation", 0):
            return refuse("shards made with other settings or another face store")
        return None, done(state)
    if (index.get("fingerprint") or {}).get("config") != fingerprint["config"]:
        return refuse("shards made with other settings")
    gens = generations_of(index)
    same_store = index["fingerprint"] == fingerprint
    if overwrite and not same_store:    # --overwrite on a grown WORK: one new first cut of all of it
        clear_out(out)
        return None, {}
    g = len(gens) - 1 if same_store else len(gens)      # replan the last generation, or plan a new one
    previous = {} if not same_store else {
        e["name"]: e for s in SPLITS for e in index["splits"].get(s, {}).get("shards", [])
        if e["name"] in set(gens[g]["splits"].get(s, {}).get("shards", []))}
    if state is not None and state.get("fingerprint") == fingerprint and state.get("generation", 0) == g:
        previous.update(done(state))
    if g == 0:
        return None, previous
    rows = [r for r in read_rows(out) if r["generation"] < g]
    return Prior(out, g, index, gens[:g], rows), previous


# --- the records of a generation, and the index of all of them ---------------------------------------------------

def generation_record(plan, splits: dict, source: dict, store: str, warnings: list[str]) -> dict:
    """index.json's record of one generation: what it added, split by split (shard names only)."""
    new: dict[str, set] = {s: set() for s in SPLITS}
    joined: dict[str, set] = {s: set() for s in SPLITS}
    for f, split in plan.family_split.items():
        (joined if f in plan.joined else new)[split].add(f)
    return {"generation": plan.generation, "store": store, "videos": source["videos"], "crops": source["crops"],
            "families": {s: len(new[s]) for s in SPLITS}, "joined": {s: len(joined[s]) for s in SPLITS},
            "warnings": warnings,
            "splits": {s: {**{k: v for k, v in splits[s].items() if k != "shards"},
                           "shards": [e["name"] for e in splits[s]["shards"]]} for s in SPLITS}}


def _merge_balance(parts: list[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    natural = {k: sum(p.get("natural", {}).get(k, 0) for p in parts) for k in ("real", "fake")}
    targets = [p.get("target") for p in parts if p.get("target")]
    same = targets and len({t["class"] for t in targets}) == 1
    notes = [f"generation {g}: {p['note']}" for g, p in enumerate(parts) if p.get("note")]
    return {"mode": parts[-1].get("mode"), "natural": natural, "note": "; ".join(notes) or None,
            "target": {"class": targets[0]["class"], "samples": sum(t["samples"] for t in targets)} if same else None}


def _datasets_of(rows: list[dict]) -> dict:
    """index.json's `datasets` over every generation, from families.parquet's rows (`n_samples` per video; a
    folder cut before datasets reads as DFDC's)."""
    out: dict = {}
    for r in rows:
        if r["n_samples"]:
            d = out.setdefault(r.get("dataset") or DFDC, {}).setdefault(r["split"], {"REAL": 0, "FAKE": 0})
            d[r["label"]] += r["n_samples"]
    return {ds: {s: by[s] for s in SPLITS if s in by} for ds, by in sorted(out.items())}


def merged(prior: Prior, index: dict, families: pa.Table) -> tuple[dict, pa.Table]:
    """The index and families table of SHARDS grown by the generation `index` describes (built from its plan
    alone, with its record last in `generations`)."""
    rows = prior.rows + families.to_pylist()
    table = family_table(rows)
    gens = prior.generations + index["generations"][-1:]
    if "sample_schema" not in prior.index:      # older shards' json: the merged folder cannot promise the schema
        gens[-1]["warnings"].append("the earlier generations' sample json predates the stable schema (null "
                                    "`augmentation`): readers that infer one schema for all shards (HuggingFace "
                                    "datasets) cannot read old and new shards together; --overwrite re-cuts all")
    entries = dict(prior.entries)
    for s in SPLITS:
        entries.update({e["name"]: e for e in index["splits"][s]["shards"]})
    splits = {}
    for s in SPLITS:
        parts = [g["splits"][s] for g in gens]
        sampled = [r for r in rows if r["split"] == s and r["n_samples"] > 0]
        merged_split = {k: sum(p.get(k, 0) for p in parts) for k in SUMMED}
        balance = _merge_balance([p.get("balance", {}) for p in parts])
        merged_split.update(families=len({r["family"] for r in sampled}), videos=len(sampled), balance=balance,
                            class_weights=class_weights(balance["natural"].get("real", 0),
                                                        balance["natural"].get("fake", 0)),
                            shards=[entries[n] for p in parts for n in p["shards"]])
        splits[s] = merged_split
    natural = splits["train"]["balance"]["natural"]
    out = dict(index)
    out.update(splits=splits, generations=gens, samples=sum(v["samples"] for v in splits.values()),
               bytes=sum(v["bytes"] for v in splits.values()),
               class_weights=class_weights(natural.get("real", 0), natural.get("fake", 0)),
               warnings=[w for g in gens for w in ([f"generation {g['generation']}: {x}" for x in g["warnings"]]
                                                   if g["generation"] else g["warnings"])])
    out["source"] = {**index["source"], "crops": sum(g["crops"] or 0 for g in gens),
                     "videos": sum(g["videos"] or 0 for g in gens)}
    out["grouping"] = {**index["grouping"], "families": len({r["family"] for r in rows}),
                       "groups": len({r["group"] for r in rows})}
    if "sample_schema" not in prior.index:
        out.pop("sample_schema", None)
    else:                                       # the oldest generation's json is what every shard promises
        out["sample_schema"] = min(prior.index["sample_schema"], out.get("sample_schema", 0))
    out["datasets"] = _datasets_of(rows)
    if "resplit" in prior.index:                # what re-cut the first generation stays on record
        out["resplit"] = prior.index["resplit"]
    return out, table


def growth_summary(prior: Prior | None, plan) -> GrowthSummary:
    """What a run added, for its summary (`ShardsSummary.growth`) and the CLI's summary line."""
    new, joined = dict.fromkeys(SPLITS, 0), dict.fromkeys(SPLITS, 0)
    for f, split in plan.family_split.items():
        (joined if f in plan.joined else new)[split] += 1
    return GrowthSummary(plan.generation, len(prior.entries) if prior else 0, new, joined,
                         {s: len(plan.splits[s].shards) for s in SPLITS})

