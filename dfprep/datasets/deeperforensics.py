"""DeeperForensics-1.0: face swaps (DF-VAE) of actors onto FaceForensics++'s YouTube target videos.

ROOT/manipulated_videos/<variant>/<target>_<actor>.mp4 (the 11 variants: end_to_end, end_to_end_level_1..5,
reenact_postprocess...; any folder there is a variant, the `method`): FAKE, identity the FF++ target's
(`ffpp:<YouTube id>`, `ffpp_data`), source_identity `deeperforensics:<actor>` (M004, W101...), original the FF++
c23 video `original_sequences/youtube/c23/videos/<target>.mp4`. The dataset holds no reals: its reals are the
FF++ c23 targets, so `link` pairs the fakes with an FF++ ROOT of the same run (or with WORK's FF++ videos) and
says when there is none. `source_videos/` (the actors' recordings, not detection data) is never read.

Official split: `lists/splits/{train,val,test}.txt`, one manipulated video's file name a line (`000_M101.mp4`,
per the dataset's README: it applies to that name in every variant); dfprep also accepts `<variant>/<name>`
(that variant only), an optional `manipulated_videos/` prefix, and a name without `.mp4`.
"""
from __future__ import annotations

import re

from dfprep.dataset import SPLITS, Status, VideoEntry, dataset_part
from dfprep.datasets.base import DiscoverOptions, Found, Layout
from dfprep.datasets.common import DatasetFileError, list_tree, read_lines
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries

DATASET = "deeperforensics"
FAKES = "manipulated_videos"
SPLIT_DIR = "lists/splits"
NAME_RE = re.compile(r"^(\d{3})_([A-Za-z]\d{3})\.mp4$")
EXPECTED = "manipulated_videos/<variant>/<target>_<actor>.mp4 (e.g. end_to_end/000_M101.mp4)"
ACTOR_PREFIX = "deeperforensics:"


def ffpp_original(target: str) -> str:
    """The FF++ video a DeeperForensics fake of `target` was made from (its `video` name in an FF++ ROOT)."""
    return f"original_sequences/youtube/c23/videos/{target}.mp4"


def read_splits(root) -> tuple[dict[str, str], list[str]]:
    """({key: split}, problems) of lists/splits/*.txt; a key is a file name (`000_M101.mp4`, every variant) or
    `variant/name`. Absent lists: no official split (said once)."""
    folder = as_path(root) / SPLIT_DIR
    split_of: dict[str, str] = {}
    problems: list[str] = []
    if not folder.is_dir():
        return {}, [f"{folder}: absent, so DeeperForensics' official split is unknown (split left empty)"]
    for split in SPLITS:
        path = folder / f"{split}.txt"
        try:
            lines = read_lines(path, f"DeeperForensics' {split} list")
        except DatasetFileError as exc:
            problems.append(str(exc))
            continue
        for i, line in enumerate(lines, 1):
            key = line.split()[0] if line.split() else line
            key = key[len(FAKES) + 1:] if key.startswith(FAKES + "/") else key
            key = key if key.endswith(".mp4") else key + ".mp4"
            head, _, name = key.rpartition("/")
            if not NAME_RE.match(name) or "/" in head:
                problems.append(f"{path} line {i}: {line[:80]!r} is not a manipulated video's name "
                                "(<target>_<actor>.mp4, or <variant>/<target>_<actor>.mp4); skipped")
                continue
            was = split_of.setdefault(key, split)
            if was != split:
                problems.append(f"{path} line {i}: {key} is already in {was}.txt; kept in {was}")
    return split_of, problems


def variants(root) -> list[str]:
    folder = as_path(root) / FAKES
    return [p.name for p, is_dir in entries(folder) if is_dir and not p.name.startswith(".")] \
        if folder.is_dir() else []


@register
class DeeperForensics(Layout):
    name = DATASET
    title = "DeeperForensics-1.0"
    reads = "manipulated_videos/<variant>/*.mp4 and lists/splits/*.txt (not source_videos/); reals from FF++ c23"
    splits = "lists/splits/{train,val,test}.txt (a fake's file name, every variant)"
    identities = "the FF++ target's (ffpp:<YouTube id>) and the actor's (deeperforensics:M004)"

    def match(self, root) -> str | None:
        found = variants(root)
        if not found:
            return None
        return f"{FAKES}/ with {len(found)} variant folder{'s' if len(found) > 1 else ''} ({found[0]}, ...)"

    def discover(self, root, opts: DiscoverOptions) -> Found:
        from dfprep.datasets.ffpp import tables as ffpp_tables

        tables = ffpp_tables(opts.ffpp_splits)          # the FF++ tables ingest was given (--ffpp-splits)
        part = dataset_part(DATASET)
        tree = list_tree(root, {".mp4"}, opts.follow_symlinks, under=FAKES)
        split_of, problems = read_splits(root)
        found = Found(self.name, str(root), "", [], tree.problems + problems)
        used: set[str] = set()
        unlisted = 0
        for rel in tree.files:
            parts = rel.split("/")
            m = NAME_RE.match(parts[-1]) if len(parts) == 3 else None
            if m is None:
                found.entries.append(VideoEntry(rel, part, dataset=DATASET, status=Status.REJECTED,
                                                error=f"not a DeeperForensics fake's path (expected {EXPECTED}); "
                                                      "never opened"))
                continue
            target, actor = m.groups()
            key = next((k for k in (f"{parts[1]}/{parts[2]}", parts[2]) if k in split_of), None)
            if key:
                used.add(key)
            elif split_of:
                unlisted += 1
            found.entries.append(tree.entry(
                rel, DATASET, part, label="FAKE", original=ffpp_original(target), method=parts[1],
                split=split_of.get(key) if key else None, identity=tables.identity(target),
                source_identity=ACTOR_PREFIX + actor))
        if unlisted:
            found.problems.append(f"{as_path(root) / SPLIT_DIR}: {unlisted} videos are in no split list "
                                  "(split left empty)")
        if stale := len(set(split_of) - used):
            found.problems.append(f"{as_path(root) / SPLIT_DIR}: {stale} listed names match no video under "
                                  f"{FAKES}/ (a partial copy?)")
        return found

    def link(self, found: Found, others: list[Found], known: set[str]) -> list[str]:
        """Pair the fakes with FF++'s c23 reals: those of an FF++ ROOT of this run, or WORK's. Otherwise each
        unpaired fake gets a warning and the run one problem line saying how to pair them."""
        have = set(known) | {e.video for o in others for e in o.entries
                             if e.dataset == "ffpp" and e.status is not Status.REJECTED}
        lost = [e for e in found.entries if e.label == "FAKE" and e.original and e.original not in have]
        for e in lost:
            e.warning = (f"its FF++ original {e.original} is in no ROOT of this run nor in WORK; "
                         "give the FF++ ROOT to pair it")
        if not lost:
            return []
        return [f"{found.root}: {len(lost)} DeeperForensics fakes name FF++ originals that no ROOT holds; give the "
                f"FF++ ROOT (dfprep ingest FFPP DEEPERFORENSICS --out WORK) to pair them"]
