"""FaceForensics++ and DeepFakeDetection (DFD): one download tree, two datasets.

FF++'s download script writes `original_sequences/{youtube,actors}/<level>/videos/` and
`manipulated_sequences/<method>/<level>/videos/`, masks in `manipulated_sequences/<method>/masks/videos/`. The
names say everything: a youtube sequence `NNN.mp4` is REAL; a fake `TTT_SSS.mp4` puts sequence SSS's face on
target TTT, so its original is `TTT.mp4` at the same level. DFD's actors are `<actor>__<scene>.mp4`, its fakes
`<target>_<source>__<scene>__<id>.mp4`. FF++'s official split is a list of pairs (`dfprep.datasets.ffpp_data`):
a fake takes its pair's split. The tables are the shipped ones, or a user's FaceForensics copy (`dfprep ingest
--ffpp-splits DIR`, or the environment variable DFPREP_FFPP_SPLITS).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from dfprep.dataset import COMPRESSIONS, VIDEO_EXTS, Status, VideoEntry, dataset_part
from dfprep.datasets.base import DiscoverOptions, Found, Layout, LayoutError
from dfprep.datasets.common import Tree, list_tree
from dfprep.datasets.ffpp_data import SHIPPED, FfppTables, identity_leaks, load_tables
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries

ORIGINALS, MANIPULATED = "original_sequences", "manipulated_sequences"
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
DFD_METHOD = "DeepFakeDetection"
SOURCES = {"youtube": "ffpp", "actors": "dfd"}     # original_sequences/<source> -> dataset
SPLITS_ENV = "DFPREP_FFPP_SPLITS"                  # a user's FaceForensics copy (its dataset/splits/)
DFD_PREFIX = "dfd:"
# The level read when several are present and --compression is not given: the literature's (DeepfakeBench's)
# c23. One level per WORK: a sequence at two levels is one video twice.
DEFAULT_LEVEL = "c23"

# (dataset, REAL or FAKE) -> (file-name pattern, what the rejection says was expected)
PATTERNS = {
    ("ffpp", "REAL"): (re.compile(r"^(\d{3})\.mp4$"), "NNN.mp4 (a three-digit sequence)"),
    ("ffpp", "FAKE"): (re.compile(r"^(\d{3})_(\d{3})\.mp4$"), "TTT_SSS.mp4 (target_source sequences)"),
    ("dfd", "REAL"): (re.compile(r"^([A-Za-z0-9]+)__((?:(?!__)[A-Za-z0-9_-])+)\.mp4$"), "<actor>__<scene>.mp4"),
    ("dfd", "FAKE"): (re.compile(r"^([A-Za-z0-9]+)_([A-Za-z0-9]+)__((?:(?!__)[A-Za-z0-9_-])+)__([A-Za-z0-9]+)"
                                 r"\.mp4$"), "<target>_<source>__<scene>__<id>.mp4"),
}


def tables(given: str | None = None) -> FfppTables:
    """The official split and conversion_dict: the FaceForensics copy given (--ffpp-splits), else
    DFPREP_FFPP_SPLITS's when set, else the shipped ones."""
    folder = given or os.environ.get(SPLITS_ENV)
    return load_tables(Path(folder) if folder else None)


def original_path(dataset: str, level: str, name: str) -> str:
    """Where the REAL `name` (a sequence or actor__scene, without .mp4) lies inside ROOT at `level`."""
    source = "youtube" if dataset == "ffpp" else "actors"
    return f"{ORIGINALS}/{source}/{level}/videos/{name}.mp4"


def mask_path(method: str, file: str) -> str:
    return f"{MANIPULATED}/{method}/masks/videos/{file}"


@register
class FaceForensics(Layout):
    name = "ffpp"
    title = "FaceForensics++ and DeepFakeDetection (DFD)"
    reads = ("original_sequences/{youtube,actors}/<c>/videos/*.mp4, manipulated_sequences/<method>/<c>/videos/"
             "*.mp4, masks")
    splits = ("FF++: the official 360/70/70 pairs (a fake goes with its pair; shipped, or DFPREP_FFPP_SPLITS); "
              "DFD: none")
    identities = "FF++: the YouTube source of each sequence (conversion_dict.json); DFD: the actor numbers"

    def match(self, root) -> str | None:
        root = as_path(root)
        seen = []
        for folder, is_dir in entries(root):
            if is_dir and folder.name in (ORIGINALS, MANIPULATED):
                subs = [p.name for p, d in entries(folder) if d and not p.name.startswith(".")]
                seen.append(f"{folder.name}/{{{','.join(sorted(subs))}}}" if subs else f"{folder.name}/")
        return ", ".join(sorted(seen, reverse=True)) or None

    def discover(self, root, opts: DiscoverOptions) -> Found:
        tab = tables(opts.ffpp_splits)
        found = Found(self.name, str(root), "")
        levels: dict[str, int] = {}          # level -> videos read at it
        skipped: set[str] = set()            # levels present but not asked for
        masks: set[str] = set()
        candidates: list[tuple[Tree, str, str, str, str | None]] = []   # (tree, rel, dataset, level, method)
        for top in (ORIGINALS, MANIPULATED):
            tree = list_tree(root, VIDEO_EXTS, opts.follow_symlinks, under=top)
            found.problems += tree.problems
            for rel in tree.files:
                where = self._place(rel, found.problems)
                if where is None:
                    continue
                if where == "mask":
                    masks.add(rel)
                    continue
                dataset, level, method = where
                if opts.compression and level != opts.compression:
                    skipped.add(level)
                    continue
                candidates.append((tree, rel, dataset, level, method))
        present = sorted({c[3] for c in candidates})
        if not opts.compression and len(present) > 1:
            # one sequence at two levels is one video twice, in two families: shards could split the copies
            if DEFAULT_LEVEL not in present:
                raise LayoutError(f"{root}: FF++/DFD levels {', '.join(present)} are present; give --compression "
                                  "to read one (copies of a sequence at two levels would land in different "
                                  "splits)")
            skipped.update(lv for lv in present if lv != DEFAULT_LEVEL)
            candidates = [c for c in candidates if c[3] == DEFAULT_LEVEL]
        for tree, rel, dataset, level, method in candidates:     # masks are all known now
            found.entries.append(self._entry(tree, rel, dataset, level, method, masks, tab, found.problems))
            levels[level] = levels.get(level, 0) + 1
        found.problems += _missing_originals(found.entries)
        read = ", ".join(f"{lv} ({n})" for lv, n in sorted(levels.items())) or "none"
        asked = (f"; --compression {opts.compression} asked" if opts.compression else
                 f"; also present: {', '.join(sorted(skipped))} (--compression picks another level)" if skipped
                 else "")
        found.evidence = f"{self.match(root) or 'no FF++ folders'}; levels read: {read}{asked}"
        if opts.compression and not levels:
            present = ", ".join(sorted(skipped)) or "none"
            found.problems.append(f"{root}: no FF++/DFD videos at level {opts.compression} (levels present: "
                                  f"{present})")
        if any(e.dataset == "ffpp" for e in found.entries):
            found.problems.append(_leak_line(tab))
        return found

    def link(self, found: Found, others: list[Found], known: set[str]) -> list[str]:
        """A WORK that already holds FF++/DFD at another level than this run's: one warning (the copies of a
        sequence at two levels are in different families)."""
        mine = {e.compression for e in found.entries if e.compression}
        levels = {v.split("/")[2] for v in known if v.startswith(ORIGINALS + "/") and v.count("/") >= 3}
        other = sorted((levels & set(COMPRESSIONS)) - mine)
        if not mine or not other:
            return []
        return [f"{found.root}: WORK already holds FF++/DFD at level {', '.join(other)} and this run reads "
                f"{', '.join(sorted(mine))}: copies of one sequence at two levels are different families, so "
                "`dfprep shards` may put them in different splits; keep one level per WORK"]

    @staticmethod
    def _place(rel: str, problems: list[str]) -> tuple[str, str, str | None] | str | None:
        """(dataset, level, method or None for a REAL) of a file by its folders, "mask" for a mask video, or
        None when its folder is not FF++'s (a problem line, once per folder)."""
        parts = rel.split("/")
        top, kind = parts[0], parts[1]
        if len(parts) < 3:
            return _folder_problem(problems, rel, f"not inside a {top}/<source or method>/<level>/videos folder")
        if top == ORIGINALS:
            dataset, method = SOURCES.get(kind), None
            if dataset is None:
                return _folder_problem(problems, f"{top}/{kind}", f"not an FF++ source (expected "
                                       f"{' or '.join(SOURCES)})")
        else:
            method = kind
            if kind in FFPP_METHODS:
                dataset = "ffpp"
            elif kind == DFD_METHOD:
                dataset = "dfd"
            else:
                return _folder_problem(problems, f"{top}/{kind}", "not a FaceForensics++ method (expected one "
                                       f"of {', '.join(FFPP_METHODS + (DFD_METHOD,))})")
            if len(parts) > 3 and parts[2] == "masks":
                return "mask" if parts[3] == "videos" and len(parts) == 5 else None
        level = parts[2] if len(parts) > 3 else ""
        if level not in COMPRESSIONS:
            return _folder_problem(problems, "/".join(parts[:3]) if len(parts) > 3 else rel,
                                   f"not a compression level folder (expected {', '.join(COMPRESSIONS)})")
        return dataset, level, method

    @staticmethod
    def _entry(tree: Tree, rel: str, dataset: str, level: str, method: str | None, masks: set[str],
               tab: FfppTables, problems: list[str]) -> VideoEntry:
        """One file's entry: what its name says (label, original, identities, split, mask), or rejected when the
        name does not follow its folder's pattern."""
        label = "REAL" if method is None else "FAKE"
        parts = rel.split("/")
        pattern, expected = PATTERNS[(dataset, label)]
        m = pattern.match(parts[-1]) if len(parts) == 5 and parts[3] == "videos" else None
        fields = dict(label=label, compression=level, method=method)
        if m is None:
            e = tree.entry(rel, dataset, dataset_part(dataset), **fields)
            if e.status is Status.PENDING:
                e.status, e.path = Status.REJECTED, None
                e.error = (f"{rel}: not a {dataset} {label} video name: expected "
                           f"{parts[0]}/{parts[1]}/{level}/videos/{expected}; never opened")
            return e
        if dataset == "ffpp" and label == "REAL":
            fields.update(identity=tab.identity(m[1]), split=tab.split_of.get(m[1]))
        elif dataset == "ffpp":
            target, source = m[1], m[2]
            split = tab.pair_split(target, source)
            if split is None:
                problems.append(f"{rel}: ({target}, {source}) is not a pair of FF++'s official split "
                                f"({tab.source}); no split")
            fields.update(original=original_path(dataset, level, target), identity=tab.identity(target),
                          source_identity=tab.identity(source), split=split)
        elif label == "REAL":
            fields.update(identity=DFD_PREFIX + m[1])
        else:
            fields.update(original=original_path(dataset, level, f"{m[1]}__{m[3]}"),
                          identity=DFD_PREFIX + m[1], source_identity=DFD_PREFIX + m[2])
        if label == "FAKE" and (mk := mask_path(method, parts[-1])) in masks:
            fields["mask"] = mk
        return tree.entry(rel, dataset, dataset_part(dataset), **fields)


def _folder_problem(problems: list[str], folder: str, why: str) -> None:
    line = f"{folder}: {why}; not read"
    if line not in problems:
        problems.append(line)
    return None


def _missing_originals(found: list[VideoEntry]) -> list[str]:
    """One line per dataset whose fakes name originals absent from ROOT (the fakes stay usable)."""
    have = {e.video for e in found if e.label == "REAL"}
    out = []
    for dataset in sorted({e.dataset for e in found}):
        absent = sorted({e.original for e in found if e.dataset == dataset and e.original
                         and e.original not in have})
        if absent:
            out.append(f"{dataset}: {len(absent)} original video{'s' if len(absent) > 1 else ''} named by fakes "
                       f"{'are' if len(absent) > 1 else 'is'} not under ROOT at their level (first: {absent[0]}); "
                       "those fakes stay usable, their families hold no REAL")
    return out


def _leak_line(tab: FfppTables) -> str:
    """FF++'s identity leak: YouTube sources whose sequences sit in more than one official split."""
    leaks = identity_leaks(tab)
    where = "shipped" if Path(tab.source) == SHIPPED else tab.source
    if not leaks:
        return f"FF++ official split ({where}): no YouTube source spans two splits"
    named = "; ".join(f"{yt}: " + ", ".join(f"{s} {tab.split_of.get(s)}" for s in seqs)
                      for yt, seqs in list(leaks.items())[:3])
    return (f"FF++ official split ({where}) leaks identities: {len(leaks)} YouTube source"
            f"{'s span' if len(leaks) > 1 else ' spans'} two splits ({named}{'; ...' if len(leaks) > 3 else ''}); "
            "`dfprep shards --group identity` keeps each person in one split")
