"""Celeb-DF (v1 and v2 share one layout): celebrity interviews and their face swaps.

ROOT/Celeb-real/id{A}_{NNNN}.mp4 (REAL, identity `celebdf:id{A}`), ROOT/YouTube-real/NNNNN.mp4 (REAL, no
identity), ROOT/Celeb-synthesis/id{A}_id{B}_{NNNN}.mp4 (FAKE made from Celeb-real/id{A}_{NNNN}.mp4 with
id{B}'s face: identity `celebdf:id{A}`, source_identity `celebdf:id{B}`, method `Celeb-synthesis`, the folder
that holds it, as FF++'s methods are its folders). Labels come from the folders. `List_of_testing_videos.txt`
(lines `<label> <folder>/<file>`, where 1 means REAL and 0 FAKE: much third-party code reads it backwards) is
the official test split, checked against the folders; every other video is `train` (DeepfakeBench also puts
the test videos in train: dfprep does not). Without the list there is no official split (said once).

Layouts: `celebdf` (what `--dataset auto` recognises; the version from the ROOT folder's name, `Celeb-DF-v2`
vs `Celeb-DF`, else v2, said in the evidence), and `celebdf-v1` / `celebdf-v2` to force one. Datasets
`celebdf-v1` / `celebdf-v2`, each one WORK part (`dataset_part`); a video is its path inside ROOT.
"""
from __future__ import annotations

import re

from dfprep.dataset import Status, VideoEntry, dataset_part
from dfprep.datasets.base import DiscoverOptions, Found, Layout
from dfprep.datasets.common import DatasetFileError, list_tree, read_lines
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries

REAL_DIR, YOUTUBE_DIR, FAKE_DIR = "Celeb-real", "YouTube-real", "Celeb-synthesis"
TEST_LIST = "List_of_testing_videos.txt"
METHOD = "Celeb-synthesis"
IDENTITY_PREFIX = "celebdf:"
LIST_LABELS = {"1": "REAL", "0": "FAKE"}        # the list's own convention: 1 means real
PATTERNS = {                                    # folder -> (file name pattern, the pattern for people)
    REAL_DIR: (re.compile(r"^(id\d+)_(\d+)\.mp4$"), "Celeb-real/id{A}_{NNNN}.mp4"),
    YOUTUBE_DIR: (re.compile(r"^(\d+)\.mp4$"), "YouTube-real/NNNNN.mp4"),
    FAKE_DIR: (re.compile(r"^(id\d+)_(id\d+)_(\d+)\.mp4$"), "Celeb-synthesis/id{A}_id{B}_{NNNN}.mp4"),
}
EXPECTED = ", ".join(p for _, p in PATTERNS.values())


def folder_names(root) -> dict[str, str]:
    """{canonical folder: its name in ROOT} for the three video folders present (matched case-insensitively:
    copies spell `Youtube-real` too)."""
    want = {k.lower(): k for k in PATTERNS}
    return {want[p.name.lower()]: p.name for p, is_dir in entries(as_path(root))
            if is_dir and p.name.lower() in want}


def version_of(root) -> tuple[str, str]:
    """(dataset, why) for ROOT by its folder name: `Celeb-DF-v2` -> celebdf-v2, `Celeb-DF` (or a v1 name) ->
    celebdf-v1, anything else v2 with the choice said."""
    name = as_path(root).name
    low = name.lower().replace("_", "-")
    if re.search(r"v2\b", low):
        return "celebdf-v2", f"ROOT named {name}"
    if re.search(r"v1\b", low) or low == "celeb-df":
        return "celebdf-v1", f"ROOT named {name}"
    return "celebdf-v2", f"ROOT name {name!r} gives no version: taken as v2 (--dataset celebdf-v1 for v1)"


def classify(rel: str, folders: dict[str, str]) -> dict | str:
    """The fields a Celeb-DF path gives (label, original, method, identities), or why it is not one. A folder is
    one of ROOT's (`folder_names`), or its canonical name when ROOT lacks it (a listed file of an absent folder
    is then absent, not off the pattern)."""
    head, _, name = rel.partition("/")
    canon = {v: k for k, v in {**{k: k for k in PATTERNS}, **folders}.items()}.get(head)
    if canon is None or "/" in name:
        return f"not a Celeb-DF video path (expected {EXPECTED})"
    pattern, shown = PATTERNS[canon]
    m = pattern.match(name)
    if not m:
        return f"name does not follow Celeb-DF's {shown}"
    if canon == REAL_DIR:
        return {"label": "REAL", "identity": IDENTITY_PREFIX + m.group(1)}
    if canon == YOUTUBE_DIR:
        return {"label": "REAL"}
    a, b, n = m.groups()
    return {"label": "FAKE", "original": f"{folders.get(REAL_DIR, REAL_DIR)}/{a}_{n}.mp4", "method": METHOD,
            "identity": IDENTITY_PREFIX + a, "source_identity": IDENTITY_PREFIX + b}


def read_test_list(root, folders: dict[str, str]) -> tuple[dict[str, tuple[int, str]] | None, list[str]]:
    """({video: (line number, the list's label)}, problems) of List_of_testing_videos.txt; None when absent.
    A line is `<1|0> <folder>/<file>`; a folder is matched as `folder_names` matches it."""
    path = as_path(root) / TEST_LIST
    if not path.exists():
        return None, [f"{path}: absent, so Celeb-DF's official split is unknown (split left empty)"]
    try:
        lines = read_lines(path, "Celeb-DF's list of testing videos")
    except DatasetFileError as exc:
        return None, [str(exc)]
    lower = {k.lower(): v for k, v in folders.items()}
    listed: dict[str, tuple[int, str]] = {}
    problems: list[str] = []
    for i, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) != 2 or parts[0] not in LIST_LABELS or parts[1].count("/") != 1:
            problems.append(f"{path} line {i}: {line[:80]!r} is not '<1|0> <folder>/<file>' (1 = real); skipped")
            continue
        head, name = parts[1].split("/")
        rel = f"{lower.get(head.lower(), head)}/{name}"
        if rel in listed:
            problems.append(f"{path} line {i}: {rel} listed again (first on line {listed[rel][0]})")
            continue
        listed[rel] = (i, LIST_LABELS[parts[0]])
    return listed, problems


class _CelebDf(Layout):
    title = "Celeb-DF v1 / v2"
    reads = "Celeb-real/, YouTube-real/, Celeb-synthesis/ and List_of_testing_videos.txt"
    splits = "List_of_testing_videos.txt (1 = real, checked against the folders) = test, the rest train"
    identities = "celebdf:id{A} (Celeb-real, a fake's target) and its donor id{B}; none for YouTube-real"
    version: str | None = None          # the dataset a forced layout reads; None: from the ROOT's name

    def match(self, root) -> str | None:
        folders = folder_names(root)
        if REAL_DIR not in folders or FAKE_DIR not in folders:
            return None
        dataset, why = version_of(root)
        return f"{folders[REAL_DIR]}/ and {folders[FAKE_DIR]}/ folders; {dataset} ({why})"

    def discover(self, root, opts: DiscoverOptions) -> Found:
        dataset, why = (self.version, "given") if self.version else version_of(root)
        part = dataset_part(dataset)
        folders = folder_names(root)
        tree = list_tree(root, {".mp4"}, opts.follow_symlinks)
        listed, problems = read_test_list(root, folders)
        found = Found(self.name, str(root), "", [], tree.problems + problems)
        for rel in sorted(set(tree.files) | set(listed or ())):
            what = classify(rel, folders)
            if isinstance(what, str):
                e = VideoEntry(rel, part, dataset=dataset, status=Status.REJECTED, error=f"{what}; never opened")
                if listed and rel in listed:
                    found.problems.append(f"{as_path(root) / TEST_LIST} line {listed[rel][0]}: {rel}: {what}")
                found.entries.append(e)
                continue
            e = tree.entry(rel, dataset, part, **what)
            if listed is not None:
                e.split = "test" if rel in listed else "train"
            if listed and rel in listed:
                line, said = listed[rel]
                if rel not in tree.files:
                    found.problems.append(f"{as_path(root) / TEST_LIST} line {line}: {rel} is listed but absent")
                if said != e.label:
                    msg = (f"{TEST_LIST} line {line} says {'1' if said == 'REAL' else '0'} ({said}) for {rel}, "
                           f"a {e.label} by its folder (the list's 1 means real): folder label kept")
                    found.problems.append(f"{as_path(root) / TEST_LIST}: {msg}")
                    e.warning = msg
            found.entries.append(e)
        names = {e.video for e in found.entries if e.status is not Status.REJECTED}
        for e in found.entries:
            if e.label == "FAKE" and e.original not in names and not e.warning:
                e.warning = f"its original {e.original} is not in {root}"
        return found


@register
class CelebDf(_CelebDf):
    name = "celebdf"


@register
class CelebDfV1(_CelebDf):
    name = "celebdf-v1"
    title = "Celeb-DF v1 (forced)"
    version = "celebdf-v1"
    auto = False


@register
class CelebDfV2(_CelebDf):
    name = "celebdf-v2"
    title = "Celeb-DF v2 (forced)"
    version = "celebdf-v2"
    auto = False
