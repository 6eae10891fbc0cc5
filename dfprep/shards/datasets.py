"""Splits over several datasets: official splits, whole datasets held out for test, named identities.

One WORK may hold FF++, Celeb-DF, DFDC, ...: each video's row says its dataset, its official split (null when
the dataset has none) and the identities it shows (`identity`, `source_identity`: `ffpp:<YouTube id>`).

- `--test-datasets A,B` puts every video of A and B in test. A family spanning a held-out dataset and a
  training one (DeeperForensics fakes of FF++ reals) is cut in two (`held_out_families`): its held-out videos
  form their own family, so the training side keeps its split. That is the literature's cross-dataset
  protocol, not a leak: it is reported (count and examples), never silent.
- `--split official`: a unit kept whole (family or identity group) goes to its videos' official split; one
  whose videos disagree goes whole to the most held-out of them (test > val > train: an official test video
  never leaves test), reported per dataset; units of datasets without an official split are split by the
  shares. A dataset with train but no val (Celeb-DF; DFDC, whose metadata says train throughout) gets a val
  carved from its train, by units; one without test adds no test.
- `--group identity` also unions families that share a named identity (`union_named`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dfprep.dataset import DFDC, SPLITS
from dfprep.shards.config import ShardsConfig, ShardsUsageError
from dfprep.shards.families import split_by_fraction

HELD_OUT_MARK = "#"     # family id of a held-out dataset's side of a family: `{family}#{dataset}`
EXAMPLES = 5


@dataclass
class DatasetContext:
    """What the dataset rules need (`dfprep.shards.datasets`): rows by (part, video), the held-out datasets,
    the families cut between held-out and training datasets; `record` is filled in."""
    rows: dict
    held: tuple[str, ...]
    spanning: list[str]
    record: dict = field(default_factory=dict)


def dataset_of(row: dict) -> str:
    """A videos.parquet row's dataset (an old WORK's null is DFDC)."""
    return row.get("dataset") or DFDC


def check_held_out(cfg: ShardsConfig, rows: list[dict]) -> tuple[str, ...]:
    """The --test-datasets names, each one WORK holds: else a usage error naming the datasets WORK holds."""
    names = cfg.held_out()
    have = sorted({dataset_of(r) for r in rows})
    unknown = [n for n in names if n not in have]
    if unknown:
        raise ShardsUsageError(f"--test-datasets {','.join(unknown)}: not in WORK, which holds "
                               f"{', '.join(have) or 'no video'}")
    return names


def held_out_families(fam_of: dict[tuple[int, str], str], dataset: dict[tuple[int, str], str],
                      held: tuple[str, ...]) -> tuple[dict[tuple[int, str], str], list[str]]:
    """(fam_of with the held-out side of every family that spans a held-out and a training dataset renamed
    `{family}#{dataset}`, those families sorted)."""
    if not held:
        return fam_of, []
    sides: dict[str, set[bool]] = {}
    for pv, f in fam_of.items():
        sides.setdefault(f, set()).add(dataset.get(pv, DFDC) in held)
    spanning = sorted(f for f, s in sides.items() if len(s) == 2)
    cut = set(spanning)
    out = {pv: f"{f}{HELD_OUT_MARK}{dataset.get(pv, DFDC)}" if f in cut and dataset.get(pv, DFDC) in held else f
           for pv, f in fam_of.items()}
    return out, spanning


def union_named(groups: dict[str, str], identities: dict[str, set[str]]) -> tuple[dict[str, str], int]:
    """Groups (family -> group id) merged wherever two families share a named identity; a merged group's id
    is its smallest family id. Returns (groups, how many families changed group)."""
    parent = {f: f for f in groups}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    by_group: dict[str, str] = {}
    for f, g in sorted(groups.items()):
        union(f, by_group.setdefault(g, f))
    holder: dict[str, str] = {}
    for f in sorted(identities):
        if f not in parent:
            continue
        for ident in sorted(identities[f]):
            union(f, holder.setdefault(ident, f))
    members: dict[str, list[str]] = {}
    for f in groups:
        members.setdefault(find(f), []).append(f)
    out = {f: min(ms) for ms in members.values() for f in ms}
    return out, sum(out[f] != groups[f] for f in groups)


def split_units(cfg: ShardsConfig, free: dict[str, int], eligible: list[tuple[int, str]], crop_video: np.ndarray,
                fam_code: np.ndarray, fam_names: list[str], family_group: dict[str, str], ds: DatasetContext,
                seed: list[int]) -> dict[str, str]:
    """{unit: split} of the units of `free` under --split official or --test-datasets (`assign_units`); what
    decided it goes to `ds.record`."""
    units: dict[str, list] = {g: [] for g in free}
    n_crops = np.bincount(crop_video, minlength=len(eligible))
    for i, pv in enumerate(eligible):
        g = family_group[fam_names[fam_code[i]]]
        if g in units:
            units[g].append((pv, int(n_crops[i])))
    out, ds.record = assign_units(cfg, units, ds.rows, ds.held, seed)
    return out


def assign_units(cfg: ShardsConfig, units: dict[str, list[tuple[tuple[int, str], int]]], rows: dict,
                 held: tuple[str, ...], seed: list[int]) -> tuple[dict, dict]:
    """{unit: split} for every unit (family or identity group, with its (video, crops) list), and the record
    of what decided it (index.json's `dataset_splits`). `rows`: (part, video) -> its videos.parquet row."""
    fractions = cfg.fractions()
    size = {u: max(1, sum(n for _, n in vs)) for u, vs in units.items()}
    out: dict[str, str] = {}
    to_test = sorted(u for u, vs in units.items() if any(dataset_of(rows[pv]) in held for pv, _ in vs))
    out.update({u: "test" for u in to_test})
    # an identity group joining a held-out video to training ones goes whole to test: say how many
    mixed = [u for u in to_test if any(dataset_of(rows[pv]) not in held for pv, _ in units[u])]
    record: dict = {"policy": "official" if cfg.official() else "shares", "held_out": list(held),
                    "held_out_units": len(to_test), "pulled_to_test": {"count": len(mixed),
                                                                          "examples": mixed[:EXAMPLES]}}
    free = [u for u in units if u not in out]
    if cfg.official():
        official, conflicts = _official(free, units, rows, cfg.group)
        out.update(official)
        record["conflicts"] = conflicts
        carved = _carve_val(official, {u: units[u] for u in free}, rows, size, fractions, seed)
        out.update(carved["moved"])
        record["carved_val"] = carved["datasets"]
        record["without_official_test"] = carved["without_test"]
        free = [u for u in free if u not in official]
        record["without_official_split"] = len(free)
    out.update(split_by_fraction({u: size[u] for u in free}, fractions, seed))
    return out, record


def _official(free: list[str], units: dict, rows: dict, group: str) -> tuple[dict[str, str], dict]:
    """The units with an official split: each to its videos' split; a unit whose videos disagree goes whole to
    the most held-out of their splits (test > val > train), so an official test video never leaves test.
    Reported: units moved, and per dataset the videos moved `{"train->test": n}`."""
    out: dict[str, str] = {}
    moved: dict[str, int] = {}
    videos: dict[str, dict[str, int]] = {}
    examples = []
    for u in sorted(free):
        crops: dict[str, int] = {}
        for pv, n in units[u]:
            s = rows[pv].get("split")
            if s in SPLITS:
                crops[s] = crops.get(s, 0) + n
        if not crops:
            continue
        out[u] = max(crops, key=SPLITS.index)
        if len(crops) == 1:
            continue
        moved[out[u]] = moved.get(out[u], 0) + 1
        for pv, _ in units[u]:
            s = rows[pv].get("split")
            if s in SPLITS and s != out[u]:
                by = videos.setdefault(dataset_of(rows[pv]), {})
                by[f"{s}->{out[u]}"] = by.get(f"{s}->{out[u]}", 0) + 1
        if len(examples) < EXAMPLES:
            examples.append({"unit": u, "splits": sorted(crops, key=SPLITS.index), "to": out[u]})
    kind = "identity groups" if group == "identity" else "families"
    return out, {"kind": kind, "count": sum(moved.values()), "moved_to": moved, "videos_moved": videos,
                 "examples": examples}


def _unit_dataset(vs: list, rows: dict) -> str:
    """A unit's dataset: its first video's."""
    return dataset_of(rows[min(pv for pv, _ in vs)])


def _carve_val(official: dict[str, str], units: dict, rows: dict, size: dict, fractions: dict,
               seed: list[int]) -> dict:
    """A dataset whose official splits have train but no val (Celeb-DF; DFDC, whose metadata says train
    throughout): val's share of train+val of its train units (a unit's dataset: its first video's; never one
    holding a video of a dataset that has an official val) go to val, by the seeded rule of the shares. Also
    names the datasets without an official test: they add no test."""
    have: dict[str, set[str]] = {}
    for vs in units.values():
        for pv, _ in vs:
            have.setdefault(dataset_of(rows[pv]), set()).add(rows[pv].get("split"))
    owners = {_unit_dataset(units[u], rows) for u in official}
    share = fractions["val"] / max(fractions["train"] + fractions["val"], 1e-12)
    moved: dict[str, str] = {}
    report: dict[str, int] = {}
    for ds in sorted(owners):
        if "val" in have[ds] or "train" not in have[ds] or share <= 0:
            continue
        train = {u: size[u] for u, s in official.items() if s == "train" and _unit_dataset(units[u], rows) == ds
                 and not any("val" in have[dataset_of(rows[pv])] for pv, _ in units[u])}
        got = split_by_fraction(train, {"train": 1 - share, "val": share}, [*seed, 7])
        carved = {u: s for u, s in got.items() if s == "val"}
        moved.update(carved)
        report[ds] = len(carved)
    without_test = sorted(ds for ds in owners if "test" not in have[ds])
    return {"moved": moved, "datasets": report, "without_test": without_test}


def spanning_record(spanning: list[str]) -> dict:
    """index.json's record of families cut between a held-out dataset and a training one."""
    return {"count": len(spanning), "examples": spanning[:EXAMPLES]}


def dataset_warnings(record: dict, spanning: list[str], group: str) -> list[str]:
    """The summary's lines for what the dataset rules did that a user must know."""
    out = []
    if spanning:
        out.append(f"{len(spanning)} family(ies) span a held-out dataset and a training one (e.g. "
                   f"{', '.join(spanning[:3])}): their held-out videos are in test, the others split as asked "
                   "(the cross-dataset protocol, not a leak of this run)")
    pulled = record.get("pulled_to_test") or {}
    if pulled.get("count"):
        out.append(f"{pulled['count']} identity group(s) hold videos of a held-out dataset and of a training one "
                   f"(e.g. {pulled['examples'][0]}): each went whole to test")
    c = record.get("conflicts") or {}
    if c.get("count"):
        where = ", ".join(f"{n} to {s}" for s, n in sorted(c["moved_to"].items(), key=lambda x: SPLITS.index(x[0])))
        eg = c["examples"][0]
        what = ("identity groups span official splits (the official split leaks these identities)"
                if group == "identity" else "families span official splits")
        out.append(f"{c['count']} {what}: each moved whole to its most held-out split ({where}; e.g. "
                   f"{eg['unit']}: {'/'.join(eg['splits'])} -> {eg['to']})")
        for ds, by in sorted((c.get("videos_moved") or {}).items()):
            moves = ", ".join(f"{n} {k.replace('->', ' -> ')}" for k, n in sorted(by.items()))
            out.append(f"{ds}: video(s) moved off their official split to keep {c['kind']} whole: {moves}")
    for ds, n in sorted((record.get("carved_val") or {}).items()):
        out.append(f"{ds}: no official val split; {n} unit(s) of its official train carved to val")
    for ds in record.get("without_official_test") or ():
        out.append(f"{ds}: no official test split; it adds no test (test comes from other datasets, "
                   "--test-datasets, or its public test set such as dfdc-test)")
    return out


def record_datasets(ds: DatasetContext, group: str, warnings: list[str]) -> None:
    """The families cut between held-out and training datasets into `ds.record`, and the summary's warnings."""
    ds.record["spanning_held_out"] = spanning_record(ds.spanning)
    warnings += dataset_warnings(ds.record, ds.spanning, group)


def named_identities(eligible: list[tuple[int, str]], fam_of: dict, rows: dict) -> dict[str, set[str]]:
    """family -> the named identities (`identity`, `source_identity`) its videos show; families naming none
    are absent."""
    named: dict[str, set[str]] = {}
    for pv in eligible:
        ids = {rows[pv].get(k) for k in ("identity", "source_identity")} - {None, ""}
        if ids:
            named.setdefault(fam_of[pv], set()).update(ids)
    return named


def merge_named(groups: dict[str, str], grouping: dict, named: dict[str, set[str]]) -> dict[str, str]:
    """Identity groups merged over the named identities (`union_named`); `grouping` gains `named_identities`
    and the largest groups."""
    groups, changed = union_named(groups, named)
    if named:
        sizes: dict[str, int] = {}
        for g in groups.values():
            sizes[g] = sizes.get(g, 0) + 1
        grouping["named_identities"] = {"families": len(named), "families_regrouped": changed}
        grouping["largest_groups"] = [{"group": g, "families": n} for g, n in
                                      sorted(sizes.items(), key=lambda x: (-x[1], x[0]))[:10] if n > 1]
    return groups


def held_units(free: dict, eligible: list, fam_code: np.ndarray, fam_names: list[str], family_group: dict,
                ds: "DatasetContext") -> set[str]:
    """The units (of `free`) holding a video of a held-out dataset."""
    return {family_group[fam_names[fam_code[i]]] for i, pv in enumerate(eligible)
            if dataset_of(ds.rows[pv]) in ds.held} & set(free)
