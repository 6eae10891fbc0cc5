"""From the face store to shard specs: families, splits, units, balance, augmentation choice, shard cuts.

Everything here is a deterministic function of (face store, config): the same seed gives the same samples in
the same shards in the same order. Shards are cut from a seeded shuffle of the split's Parquet row groups
(a few random videos each), so a shard mixes many videos and families yet reads only its own row groups.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from dfprep.dataset import DFDC, LABELS, SPLITS, family_ids
from dfprep.shards.balance import balance_by_dataset, balance_split, class_weights
from dfprep.shards.config import (MIN_SHARDS_PER_SPLIT, NothingNew, ShardsConfig, ShardsUsageError, parse_ratio,
                                  parse_size)
from dfprep.formats.shards import family_table, shard_name
from dfprep.shards.datasets import (DatasetContext, check_held_out, dataset_of, held_out_families, held_units,
                                    record_datasets, split_units)
from dfprep.shards.families import split_by_fraction, split_by_parts
from dfprep.shards.grouping import codes as _codes, unit_groups
from dfprep.shards.samples import ShardSpec, clip_units, frame_units
from dfprep.shards.source import StoreCrops, crops_hashes, load_crops
from dfprep.storage import as_path

if TYPE_CHECKING:
    from dfprep.shards.grow import Prior

# Tar cost of a sample beyond its JPEG bytes: a 512-byte header and ~256 bytes of padding per member, + json.
MEMBER_OVERHEAD = 768
JSON_BYTES = 400


@dataclass
class SplitPlan:
    name: str
    units: np.ndarray            # unit index per sample
    repeats: np.ndarray          # 0 = the unit itself, k = its k-th oversampled copy
    augmented: np.ndarray        # bool per sample
    shards: list[np.ndarray] = field(default_factory=list)   # sample positions per shard, in write order
    balance: dict = field(default_factory=dict)


@dataclass
class Plan:
    cfg: ShardsConfig
    files: list[str]             # face-store files, relative to faces.parquet
    crops: dict[str, np.ndarray]  # planning columns, one entry per crop
    video_names: list[tuple[int, str]]   # video code -> (part, video)
    video_family: np.ndarray     # video code -> family code
    video_label: np.ndarray      # video code -> 0/1
    family_names: list[str]      # family code -> id
    family_split: dict[str, str]  # family id -> split
    units: np.ndarray            # [n_units, T] crop indices
    splits: dict[str, SplitPlan]
    warnings: list[str]
    family_group: dict[str, str] = field(default_factory=dict)  # family id -> group kept whole (itself by family)
    grouping: dict = field(default_factory=dict)   # index.json's `grouping`
    generation: int = 0          # 0: a SHARDS folder's first cut; g: its g-th growth (`dfprep.shards.grow`)
    first_shard: dict[str, int] = field(default_factory=dict)   # split -> number of its first shard (growth)
    joined: set[str] = field(default_factory=set)   # families whose split an earlier generation fixed
    crops_hash: dict = field(default_factory=dict)   # (part, video) -> its crop records' hash (families.parquet)
    video_dataset: list[str] = field(default_factory=list)  # video code -> dataset (`dfprep.shards.datasets`)
    video_method: list[str] = field(default_factory=list)   # video code -> manipulation method ("" when none)
    dataset_splits: dict = field(default_factory=dict)      # index.json's `dataset_splits` (what decided splits)

    def name(self, split: str, i: int) -> str:
        """The file name of the split's i-th shard of this plan (numbering goes on after earlier generations')."""
        return shard_name(split, self.first_shard.get(split, 0) + i)

    def unit_video(self, u: np.ndarray) -> np.ndarray:
        return self.crops["video"][self.units[u, 0]]

    def families_parquet(self) -> pa.Table:
        per_video = np.zeros(len(self.video_names), np.int64)
        for sp in self.splits.values():
            np.add.at(per_video, self.unit_video(sp.units), 1)
        n_crops = np.bincount(self.crops["video"], minlength=len(self.video_names))
        rows = [{"video": v, "part": p, "dataset": self.dataset(i), "family": self.family_names[self.video_family[i]],
                 "group": self.family_group.get(self.family_names[self.video_family[i]],
                                                self.family_names[self.video_family[i]]),
                 "split": self.family_split[self.family_names[self.video_family[i]]],
                 "label": LABELS[self.video_label[i]], "n_crops": int(n_crops[i]), "n_samples": int(per_video[i]),
                 "generation": self.generation, "crops_hash": self.crops_hash.get((p, v))}
                for i, (p, v) in enumerate(self.video_names)]
        return family_table(rows)

    def dataset(self, code: int) -> str:
        return self.video_dataset[code] if self.video_dataset else DFDC

    def dataset_counts(self) -> dict:
        """index.json's `datasets`: {dataset: {split: {"REAL": n, "FAKE": n}}}, samples of this plan."""
        names = sorted(set(self.video_dataset)) or [DFDC]
        code = np.array([names.index(self.dataset(i)) for i in range(len(self.video_names))], np.int64)
        out: dict = {}
        for split, sp in self.splits.items():
            v = self.unit_video(sp.units)
            n = np.bincount(code[v] * 2 + self.video_label[v], minlength=2 * len(names)) if len(v) else \
                np.zeros(2 * len(names), np.int64)
            for k, ds in enumerate(names):
                if n[2 * k] or n[2 * k + 1]:
                    out.setdefault(ds, {})[split] = {"REAL": int(n[2 * k]), "FAKE": int(n[2 * k + 1])}
        return out

    def split_summary(self, name: str) -> dict:
        sp = self.splits[name]
        labels = self.video_label[self.unit_video(sp.units)]
        fams = self.video_family[self.unit_video(sp.units)]
        nat = sp.balance.get("natural", {})
        return {"samples": int(len(sp.units)), "real": int((labels == 0).sum()), "fake": int((labels == 1).sum()),
                "families": int(len(np.unique(fams))), "videos": int(len(np.unique(self.unit_video(sp.units)))),
                "augmented": int(sp.augmented.sum()), "balance": sp.balance,
                "class_weights": class_weights(nat.get("real", 0), nat.get("fake", 0))}

    def shard_spec(self, split: str, i: int) -> ShardSpec:
        """Everything the task writing the split's i-th shard needs (`samples.ShardSpec`)."""
        sp = self.splits[split]
        c = self.crops
        pos = sp.shards[i]
        rows = self.units[sp.units[pos]]                         # [n, T] crop indices
        flat = rows.reshape(-1)
        vcodes, local = np.unique(c["video"][rows[:, 0]], return_inverse=True)
        videos = [(*self.video_names[v], self.family_names[self.video_family[v]], LABELS[self.video_label[v]],
                   self.dataset(v), self.video_method[v] if self.video_method else "") for v in vcodes.tolist()]
        groups = np.unique(np.stack([c["file"][flat], c["row_group"][flat]], 1), axis=0) if len(flat) else []
        reads: dict[str, list[int]] = {}
        for f, g in groups:
            reads.setdefault(self.files[f], []).append(int(g))
        return ShardSpec(name=self.name(split, i), split=split, unit=self.cfg.unit, seed=self.cfg.seed,
                         augment_ops=list(self.cfg.augment_ops), augment_p=self.cfg.augment_p,
                         jpeg_quality=self.cfg.jpeg_quality, videos=videos, video=local.reshape(-1),
                         repeat=sp.repeats[pos], augment=sp.augmented[pos], frame_idx=c["frame_idx"][rows],
                         track_id=c["track_id"][rows], prob=c["prob"][rows],
                         box=np.stack([c[b][rows] for b in ("x1", "y1", "x2", "y2")], -1), reads=reads)


def _seeds(seed: int, generation: int, *stream: int) -> list[int]:
    """A generator seed per (purpose, split); a growth generation draws its own (the first cut's are unchanged)."""
    return [seed, *stream] + ([generation] if generation else [])


@dataclass
class Growth:
    """What earlier generations fix for the one being planned (`_growth`); a first cut fixes nothing."""
    store: StoreCrops                   # the videos to plan: all usable ones, or those SHARDS does not hold
    forced: dict[str, str] = field(default_factory=dict)        # unit (family or group) -> the split it keeps
    group_label: dict[str, str] = field(default_factory=dict)   # unit -> the group id SHARDS recorded for it
    generation: int = 0
    old_shards: dict[str, int] = field(default_factory=dict)    # split -> shards earlier generations hold
    warnings: list[str] = field(default_factory=list)


def make_plan(work: Path, cfg: ShardsConfig, prior: "Prior | None" = None, keep: dict[str, str] | None = None) -> Plan:
    """The plan of every shard of WORK's face store.

    With `prior` (`dfprep.shards.grow.Prior`: what an existing SHARDS folder already holds), only the videos it
    does not hold are planned: a new generation, whose families and groups keep the split an earlier generation
    gave them, and whose other families are split by the same rule among themselves. NothingNew when there is
    no such video with a crop; `grow.WorkChanged` when WORK changed under SHARDS rather than grew (every family
    is re-derived from WORK: one that would span splits is a leak). `keep` (a re-split, `--resplit`): a first
    cut of all of WORK in which these units (families or identity groups) keep the given split.

    The steps: usable crops -> families and the groups kept whole -> what earlier generations fix -> splits of
    whole groups -> sample units -> per split: balance, augmentation, shard cuts.
    """
    cfg.validate()
    store = load_crops(work)
    if not len(store.video_code):
        raise ShardsUsageError(f"{as_path(work) / 'faces.parquet'}: no usable crop (of a video with status ok, "
                               f"labelled REAL or FAKE); nothing to shard")
    crops_hash = dict(zip(store.eligible, crops_hashes(store.crops, store.video_code, len(store.eligible))))
    rows = {(r["part"], r["video"]): r for r in store.videos}
    held = check_held_out(cfg, store.videos)
    fam_of, spanning = held_out_families(family_ids(store.videos), {pv: dataset_of(r) for pv, r in rows.items()},
                                         held)
    label_of = {(r["part"], r["video"]): r["label"] for r in store.videos}
    family_group, grouping = unit_groups(work, cfg, store.eligible, fam_of, label_of, rows)
    growth = _growth(store, prior, keep, family_group, fam_of, label_of, crops_hash)
    eligible = growth.store.eligible
    c = _planning_columns(growth.store)
    fam_code, fam_names = _codes([fam_of[pv] for pv in eligible])
    vlabel = np.array([LABELS.index(label_of[pv]) for pv in eligible], np.int64)
    warnings = list(growth.warnings)

    group_sizes = _group_sizes(fam_code[c["video"]], fam_names, family_group)
    ds = DatasetContext(rows, held, spanning)
    group_split = _split_groups(cfg, group_sizes, growth, eligible, c["video"], fam_code, fam_names, family_group,
                                warnings, ds)
    family_split = {f: group_split[family_group[f]] for f in fam_names}
    joined = {f for f in fam_names if family_group[f] in growth.forced}
    if cfg.group == "identity":     # a group an earlier generation holds keeps the id it recorded
        family_group = {f: growth.group_label.get(g, g) for f, g in family_group.items()}
    grouping["groups"] = len(group_sizes)
    grouping["families"] = len(fam_names)

    units = frame_units(len(c["video"])) if cfg.unit == "frame" else \
        clip_units(c["part"], c["video"], c["track_id"], c["frame_idx"], cfg.clip_len)
    vdataset = [dataset_of(rows[pv]) for pv in eligible]
    splits = _plan_splits(cfg, c, units, fam_code, vlabel, family_split, fam_names, growth, prior is None, warnings,
                          vdataset)
    return Plan(cfg, growth.store.files, c, eligible, fam_code, vlabel, fam_names, family_split, units, splits,
                warnings, family_group=family_group, grouping=grouping, generation=growth.generation,
                first_shard=prior.first_shard if prior is not None else {}, joined=joined,
                crops_hash={pv: crops_hash[pv] for pv in eligible}, video_dataset=vdataset,
                video_method=[rows[pv].get("method") or "" for pv in eligible], dataset_splits=ds.record)


def _growth(store: StoreCrops, prior: "Prior | None", keep: dict[str, str] | None, family_group: dict[str, str],
            fam_of: dict, label_of: dict, crops_hash: dict) -> Growth:
    """What earlier generations fix: with `prior`, the units holding old videos keep their split and only new
    videos are planned (a changed WORK refused: `grow.WorkChanged`; nothing new: NothingNew); with `keep` (a
    re-split), the units it names keep its split; else nothing."""
    if prior is None:
        forced = {} if keep is None else {g: s for g, s in keep.items() if g in set(family_group.values())}
        return Growth(store, forced)
    where = set(store.eligible)
    unit_of_old = {pv: family_group[fam_of[pv]] for pv in prior.old if pv in where}
    forced, group_label, linked_warnings = prior.linked(unit_of_old)
    leaks, changed = prior.changes(store.eligible, np.bincount(store.video_code, minlength=len(store.eligible)),
                                   label_of, fam_of, crops_hash)
    if leaks or changed:
        raise prior.refusal(leaks, changed, forced, unit_of_old)
    new = store.without(set(prior.old))
    if not len(new.video_code):
        raise NothingNew(f"{len(new.eligible)} video(s) not in SHARDS yet, none with a usable crop"
                         if new.eligible else "WORK holds no usable video that SHARDS does not already have")
    return Growth(new, forced, group_label, prior.generation, prior.shard_counts, linked_warnings)


def _planning_columns(store: StoreCrops) -> dict[str, np.ndarray]:
    """The crops' planning columns as numpy arrays, with `video` the crop's video code."""
    c = {name: store.crops[name].to_numpy(zero_copy_only=False) for name in
         ("part", "frame_idx", "track_id", "prob", "x1", "y1", "x2", "y2", "file", "row_group", "jpeg_bytes")}
    c["video"] = store.video_code
    return c


def _group_sizes(crop_family: np.ndarray, fam_names: list[str], family_group: dict[str, str]) -> dict[str, int]:
    """Crops per unit kept whole (family or identity group)."""
    sizes = np.bincount(crop_family, minlength=len(fam_names))
    group_sizes: dict[str, int] = {}
    for f, n in zip(fam_names, sizes):
        group_sizes[family_group[f]] = group_sizes.get(family_group[f], 0) + int(n)
    return group_sizes


def _split_groups(cfg: ShardsConfig, group_sizes: dict[str, int], growth: Growth, eligible: list[tuple[int, str]],
                  crop_video: np.ndarray, fam_code: np.ndarray, fam_names: list[str], family_group: dict[str, str],
                  warnings: list[str], ds: DatasetContext) -> dict[str, str]:
    """{unit: split}: whole families (or, with --group identity, whole identity groups of families), by part or
    by a seeded share of crops; in a growth, units an earlier generation holds keep its split."""
    forced = growth.forced
    free = {g: n for g, n in group_sizes.items() if g not in forced}
    by_parts = cfg.split_parts()
    if by_parts is not None:
        if cfg.group == "identity":
            group_part = _largest_part(np.bincount(crop_video, minlength=len(eligible)), eligible,
                                       [family_group[fam_names[f]] for f in fam_code])
        else:
            group_part = {fam_names[fam_code[i]]: pv[0] for i, pv in enumerate(eligible)}
        group_split = split_by_parts({g: p for g, p in group_part.items() if g in free}, by_parts["val"],
                                     by_parts["test"])
        group_split.update({g: "test" for g in held_units(free, eligible, fam_code, fam_names, family_group, ds)})
    elif cfg.official() or ds.held:
        group_split = split_units(cfg, free, eligible, crop_video, fam_code, fam_names, family_group, ds,
                                  _seeds(cfg.seed, growth.generation))
    else:
        group_split = split_by_fraction(free, cfg.fractions(), _seeds(cfg.seed, growth.generation))
    if cfg.group == "identity" and free and by_parts is None:
        warnings += _crowded_group(free, cfg.fractions())
    if ds.held or cfg.official():
        record_datasets(ds, cfg.group, warnings)
    group_split.update({g: forced[g] for g in group_sizes if g in forced})
    return group_split


def _crowded_group(free: dict[str, int], fractions: dict[str, float]) -> list[str]:
    """A warning when the largest identity group alone outweighs the smallest split's share."""
    big = max(free, key=lambda g: (free[g], g))
    share = free[big] / max(1, sum(free.values()))
    small = min((v for v in fractions.values() if v > 0), default=1.0)
    if share > small:
        return [f"identity group {big} holds {share:.0%} of the crops, more than the smallest split's share "
                f"({small:.0%}): the splits cannot reach their shares"]
    return []


def _plan_splits(cfg: ShardsConfig, c: dict, units: np.ndarray, fam_code: np.ndarray, vlabel: np.ndarray,
                 family_split: dict[str, str], fam_names: list[str], growth: Growth, first_cut: bool,
                 warnings: list[str], vdataset: list[str]) -> dict[str, SplitPlan]:
    """Per split: its units balanced (train, or every split with --balance-eval), the copies to augment, and
    the samples cut into shards; warnings for a split without samples or with too few shards."""
    uvideo = c["video"][units[:, 0]] if len(units) else np.zeros(0, np.int64)
    family_split_code = np.array([SPLITS.index(family_split[f]) for f in fam_names], np.int64)
    usplit = family_split_code[fam_code[uvideo]] if len(uvideo) else np.zeros(0, np.int64)
    ratio = parse_ratio(cfg.ratio)
    per_sample_bytes = (c["jpeg_bytes"][units].sum(axis=1) + MEMBER_OVERHEAD * (units.shape[1] + 2) + JSON_BYTES
                        if len(units) else np.zeros(0))
    by_parts = cfg.split_parts()
    generation = growth.generation
    splits: dict[str, SplitPlan] = {}
    for si, name in enumerate(SPLITS):
        own = np.flatnonzero(usplit == si)
        mode = cfg.balance if name == "train" or cfg.balance_eval else "none"
        rng = np.random.default_rng(_seeds(cfg.seed, generation, 1, si))
        if cfg.balance_scope == "dataset":
            idx, rep, info = balance_by_dataset(vlabel, fam_code, uvideo, own, mode, ratio, rng, vdataset)
        else:
            idx, rep, info = balance_split(vlabel[uvideo[own]], fam_code[uvideo[own]], uvideo[own], mode, ratio, rng)
        if info.get("note"):
            warnings.append(f"{name}: {info['note']}")
        for d, dinfo in sorted(info.get("datasets", {}).items()):
            if dinfo.get("note"):
                warnings.append(f"{name}, dataset {d}: {dinfo['note']}")
        sel = own[idx]
        aug = (rep > 0) & (cfg.augment != "off")
        if cfg.augment == "all" and name == "train":
            aug[:] = True
        if not len(own) and by_parts is None and cfg.fractions()[name] > 0 and first_cut:
            warnings.append(f"{name}: no sample for a {cfg.fractions()[name]:.0%} share "
                            f"({len(fam_names)} families in all; too few to split)")
        sp = SplitPlan(name, sel, rep, aug, balance=info)
        sp.shards = _cut_shards(c, units, sel, rep, per_sample_bytes[sel], vlabel[uvideo[sel]], cfg,
                                np.random.default_rng(_seeds(cfg.seed, generation, 2, si)))
        n_shards = len(sp.shards) + growth.old_shards.get(name, 0)
        if 0 < n_shards < MIN_SHARDS_PER_SPLIT:
            warnings.append(f"{name}: only {n_shards} shard(s); readers want many more shards than "
                            f"workers (lower --shard-size or set --samples-per-shard)")
        splits[name] = sp
    return splits


def _largest_part(video_crops: np.ndarray, videos: list[tuple[int, str]], video_group: list[str]) -> dict[str, int]:
    """Group -> the DFDC part holding most of its crops (ties: the lowest part): where a group spanning parts
    goes when splitting by part."""
    per: dict[str, dict[int, int]] = {}
    for n, (part, _), g in zip(video_crops.tolist(), videos, video_group):
        per.setdefault(g, {}).setdefault(part, 0)
        per[g][part] += n
    return {g: max(parts, key=lambda p: (parts[p], -p)) for g, parts in per.items()}


def _cut_shards(c: dict, units: np.ndarray, sel: np.ndarray, rep: np.ndarray, est: np.ndarray, labels: np.ndarray,
                cfg: ShardsConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """Cut the split into equal shards that each hold the split's REAL:FAKE ratio.

    The split's (row group, repeat) groups are shuffled, so a shard reads few row groups; then each class's
    samples, in that order, are dealt into the shards in equal runs, so every shard holds its share of each
    class to within one sample (a reader shuffling within a buffer never sees long one-class runs); last, each
    shard is shuffled.
    """
    n = len(sel)
    if n == 0:
        return []
    if cfg.samples_per_shard:
        n_shards = math.ceil(n / cfg.samples_per_shard)
    else:
        n_shards = max(1, math.ceil(float(est.sum()) / parse_size(cfg.shard_size)))
    n_shards = min(n_shards, n)
    first = units[sel, 0]
    group = np.stack([c["file"][first].astype(np.int64), c["row_group"][first].astype(np.int64), rep], axis=1)
    _, gcode = np.unique(group, axis=0, return_inverse=True)
    gcode = gcode.reshape(-1)
    grank = rng.permutation(gcode.max() + 1)[gcode]
    order = np.lexsort((rng.random(n), grank))     # groups in random order, samples shuffled within a group
    per_class = [np.array_split(order[labels[order] == k], n_shards) for k in np.unique(labels)]
    shards = [np.concatenate([chunks[i] for chunks in per_class]) for i in range(n_shards)]
    return [s[rng.permutation(len(s))] for s in shards]
