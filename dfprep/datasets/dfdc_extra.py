"""DFDC beyond its training parts: one folder holding a metadata.json (Kaggle's `train_sample_videos/`, or a
single part folder given as ROOT, which keeps its part number N), the public test set (`labels.csv` filename,label with 1 = FAKE) and the
preview release (`dataset.json` keyed by path, `method_A/`, `method_B/`).

Each is one WORK part (`dataset_part`; a `dfdc_train_part_N` folder: N, its videos keyed as the parts layout
keys them). The folder layout reuses `dfprep.ingest.discover.read_part`, so its
files meet exactly the rules of a training part; the other two list their files with `common.list_tree`.
"""
from __future__ import annotations

import os
from pathlib import Path

from dfprep.dataset import DATASET_PART_BASE, DFDC, METADATA, PART_RE, VIDEO_EXTS, Status, VideoEntry, dataset_part, part_folders
from dfprep.datasets.base import DiscoverOptions, Found, Layout
from dfprep.datasets.common import DatasetFileError, list_tree, read_json_file, read_text, csv_cells
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries, is_remote

LABELS_CSV = "labels.csv"
DATASET_JSON = "dataset.json"
PREVIEW_FOLDERS = ("original_videos", "method_A", "method_B")


def _has(root, name: str) -> bool:
    return any(p.name == name and not is_dir for p, is_dir in entries(as_path(root)))


@register
class DfdcFolder(Layout):
    name = "dfdc-folder"
    title = "DFDC (one folder with metadata.json: train_sample_videos, a single part)"
    reads = "a folder's metadata.json and its mp4s (no dfdc_train_part_* folders)"
    splits = ("metadata says `train` throughout: --split official carves val from it by families; its test "
              "is the public test set (dfdc-test) or --test-datasets")
    identities = "none named; face embeddings (--group identity)"

    def match(self, root) -> str | None:
        root = as_path(root)
        if not root.is_dir() or part_folders(entries(root)) or not _has(root, METADATA) or _has(root, LABELS_CSV):
            return None
        return f"{METADATA} in {root.name}/ (no dfdc_train_part_* folders)"

    def discover(self, root, opts: DiscoverOptions) -> Found:
        from dfprep.ingest.discover import check_originals, read_part

        root = as_path(root)
        m = PART_RE.match(root.name)       # a dfdc_train_part_N folder given alone keeps its number N
        part = int(m.group(1)) if m and int(m.group(1)) < DATASET_PART_BASE else dataset_part(DFDC, root.name)
        inside = None if opts.follow_symlinks or is_remote(root) else Path(os.path.realpath(root))
        found, problems = read_part(part, root, inside)
        problems += check_originals(found)
        return Found(self.name, str(root), "", found, problems)


def _labels_folder(root) -> tuple[object, str] | None:
    """(folder holding labels.csv, its path inside ROOT: "" or "test") for the public test set, or None."""
    root = as_path(root)
    if _has(root, LABELS_CSV):
        return root, ""
    sub = root / "test"
    if sub.is_dir() and _has(sub, LABELS_CSV):
        return sub, "test"
    return None


def read_labels_csv(path) -> list[tuple[int, str, str]]:
    """(line, filename, label text) of every row of the public test set's labels.csv; DatasetFileError when the
    file cannot be read or has no filename and label columns."""
    path = as_path(path)
    text = read_text(path, "labels.csv")
    rows = iter(csv_cells(text, path, "labels.csv"))
    header = [h.strip().lower() for h in next(rows, [])]
    if "filename" not in header or "label" not in header:
        raise DatasetFileError(f"{path}: labels.csv has no filename and label columns (header {header})")
    fi, li = header.index("filename"), header.index("label")
    out = []
    for n, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        cell = (lambda i: row[i].strip() if i < len(row) else "")
        out.append((n, cell(fi), cell(li)))
    return out


@register
class DfdcTest(Layout):
    name = "dfdc-test"
    title = "DFDC public test set"
    reads = "labels.csv (filename,label; 1 = FAKE) in ROOT or ROOT/test, and the mp4s below it"
    splits = "all test"
    identities = "none named"

    def match(self, root) -> str | None:
        root = as_path(root)
        if not root.is_dir() or part_folders(entries(root)):
            return None
        where = _labels_folder(root)
        if where is None:
            return None
        try:                        # the header names the layout; a bad row later is discover's one-line error
            head = read_text(where[0] / LABELS_CSV, LABELS_CSV).split("\n", 1)[0]
        except DatasetFileError:
            return None
        if not {"filename", "label"} <= {h.strip().lower() for h in head.split(",")}:
            return None
        return f"{where[1] + '/' if where[1] else ''}{LABELS_CSV} with filename,label"

    def discover(self, root, opts: DiscoverOptions) -> Found:
        from dfprep.datasets.base import LayoutError

        root = as_path(root)
        where = _labels_folder(root)
        if where is None:
            raise LayoutError(f"ROOT {root} holds no {LABELS_CSV} (nor test/{LABELS_CSV}): not the DFDC test set")
        folder, prefix = where
        tree = list_tree(root, VIDEO_EXTS, opts.follow_symlinks, under=prefix)
        part, dataset = dataset_part("dfdc-test"), "dfdc-test"
        videos_dir = f"{prefix}/videos" if prefix else "videos"
        by_name: dict[str, list[str]] = {}
        for rel in tree.files:
            by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
        out: list[VideoEntry] = []
        problems = list(tree.problems)
        seen: set[str] = set()
        for line, fname, text in read_labels_csv(folder / LABELS_CSV):
            where_ = f"{folder / LABELS_CSV} line {line}"
            label = {"1": "FAKE", "0": "REAL"}.get(text)
            rels = by_name.get(fname, [])
            rel = rels[0] if rels else f"{videos_dir}/{fname}" if fname else f"{LABELS_CSV}-line{line}"
            if rel in seen:
                problems.append(f"{where_}: {fname!r} is listed again; the first row is used")
                continue
            seen.add(rel)
            if "/" in fname or not fname:
                out.append(VideoEntry(rel, part, dataset=dataset, split="test", status=Status.REJECTED,
                                      error=f"{where_}: filename {fname!r} is not a plain file name; never opened"))
                continue
            if len(rels) > 1:
                problems.append(f"{where_}: {fname!r} is found {len(rels)} times ({', '.join(rels)}); "
                                f"{rel} is used")
            if label is None:
                out.append(VideoEntry(rel, part, dataset=dataset, split="test", status=Status.REJECTED,
                                      error=f"label {text!r} is not 0 (REAL) or 1 (FAKE) ({where_})"))
                continue
            out.append(tree.entry(rel, dataset, part, label=label, split="test"))
        for rel in tree.files:
            if rel not in seen:
                out.append(VideoEntry(rel, part, dataset=dataset, status=Status.UNLISTED,
                                      path=str(root / rel), error=f"video file present but not listed in {LABELS_CSV}"))
        out.sort(key=lambda e: e.video)
        return Found(self.name, str(root), "", out, problems)


@register
class DfdcPreview(Layout):
    name = "dfdc-preview"
    title = "DFDC preview"
    reads = "dataset.json over original_videos/, method_A/, method_B/ (names no fake's original: none set)"
    splits = "dataset.json `set`: train, test"
    identities = "target_id (the person shown), swapped_id (a fake's donor face)"

    def match(self, root) -> str | None:
        root = as_path(root)
        if not root.is_dir() or not _has(root, DATASET_JSON):
            return None
        folders = [n for n in PREVIEW_FOLDERS if (root / n).is_dir()]
        if not folders:
            return None
        return f"{DATASET_JSON} with {', '.join(f + '/' for f in folders)}"

    def discover(self, root, opts: DiscoverOptions) -> Found:
        root = as_path(root)
        data = read_json_file(root / DATASET_JSON, "the DFDC preview's dataset.json")
        if not isinstance(data, dict):
            raise DatasetFileError(f"{root / DATASET_JSON}: not a JSON object keyed by video path")
        tree = list_tree(root, VIDEO_EXTS, opts.follow_symlinks)
        part, dataset = dataset_part(self.name), self.name
        out: list[VideoEntry] = []
        for key, meta in data.items():
            out.append(self._entry(tree, str(key), meta, part, dataset))
        listed = set(data)
        for rel in tree.files:
            if rel not in listed:
                out.append(VideoEntry(rel, part, dataset=dataset, status=Status.UNLISTED, path=str(root / rel),
                                      error=f"video file present but not listed in {DATASET_JSON}"))
        out.sort(key=lambda e: e.video)
        return Found(self.name, str(root), "", out, list(tree.problems))

    @staticmethod
    def _entry(tree, key: str, meta, part: int, dataset: str) -> VideoEntry:
        def rejected(why: str) -> VideoEntry:
            return VideoEntry(key, part, dataset=dataset, status=Status.REJECTED,
                              error=f"{DATASET_JSON} entry {why}; never opened"[:400])

        if not isinstance(meta, dict):
            return rejected("is not an object")
        label = {"real": "REAL", "fake": "FAKE"}.get(str(meta.get("label", "")).lower())
        if label is None:
            return rejected(f"label {meta.get('label')!r} is not real or fake")
        split = {"train": "train", "test": "test", "val": "val"}.get(str(meta.get("set", "")).lower())
        method = key.split("/", 1)[0] if label == "FAKE" and key.startswith("method_") else None

        def ident(v) -> str | None:
            return f"{dataset}:{v}" if isinstance(v, (str, int)) and str(v) not in ("", "-") else None

        e = tree.entry(key, dataset, part, label=label, split=split, method=method,
                       identity=ident(meta.get("target_id")),
                       source_identity=ident(meta.get("swapped_id")) if label == "FAKE" else None)
        if split is None and meta.get("set") is not None:
            e.warning = f"set {meta.get('set')!r} is not train or test; no split"
        return e
