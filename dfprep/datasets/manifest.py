"""A manifest for any dataset no layout knows: a CSV (header row) or JSONL (one object a line) with `path` and
`label`, and optionally `original`, `split`, `method`, `identity`, `dataset`.

ROOT is the manifest file, or a folder holding exactly one `manifest.csv` / `manifest.jsonl`. A `path` is
relative to the manifest's folder and becomes the video's name; an absolute path, a URI or one leaving the
folder is that row's `rejected` entry. `label`: REAL/FAKE in any case, or 0/1 with 1 = FAKE (the DFDC
convention; Celeb-DF's list, which is the other way round, has its own layout). `split`: train, val (also
valid, validation) or test. `original` names another row's path. `dataset` (default: the manifest folder's
name) must be a dataset name; each dataset is its own WORK part. A bad row is that row's `rejected` entry;
only a manifest that cannot be read at all (missing, not UTF-8, no path/label columns) stops the run. Files the
manifest does not list are not looked for.
"""
from __future__ import annotations

import json
import posixpath
import re

from dfprep.dataset import SPLITS, Status, VideoEntry, dataset_part, dataset_problem
from dfprep.datasets.base import DiscoverOptions, Found, Layout, LayoutError
from dfprep.datasets.common import DatasetFileError, make_entry, read_text, csv_cells
from dfprep.datasets.images import dataset_name
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries, is_remote

NAMES = ("manifest.csv", "manifest.jsonl")
SUFFIXES = (".csv", ".jsonl")
COLUMNS = ("path", "label", "original", "split", "method", "identity", "dataset")
LABEL_OF = {"real": "REAL", "fake": "FAKE", "0": "REAL", "1": "FAKE"}
SPLIT_OF = {**{s: s for s in SPLITS}, "valid": "val", "validation": "val"}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def manifest_file(root):
    """The manifest ROOT names: ROOT itself (a .csv/.jsonl file) or its one manifest.csv/.jsonl; else None."""
    root = as_path(root)
    if root.name.lower().endswith(SUFFIXES) and not root.is_dir():
        return root if root.exists() else None
    if not root.is_dir():
        return None
    hits = [p for p, d in entries(root) if not d and p.name.lower() in NAMES]
    return hits[0] if len(hits) == 1 else None


def read_manifest(path) -> list[tuple[int, dict | str]]:
    """(line, {column: text}) per row, or (line, why) for a JSONL line that is no object. DatasetFileError when
    the manifest cannot be read, or a CSV has no path and label columns."""
    path = as_path(path)
    text = read_text(path, "the manifest")
    if path.name.lower().endswith(".jsonl"):
        out: list = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((n, f"is not valid JSON ({exc.msg})"))
                continue
            out.append((n, {str(k).strip().lower(): _text(v) for k, v in obj.items()} if isinstance(obj, dict)
                        else "is not a JSON object"))       # keys by name in any case, as CSV headers
        return out
    rows = iter(csv_cells(text, path, "the manifest"))
    header = [h.strip().lower() for h in next(rows, [])]
    if "path" not in header or "label" not in header:
        raise DatasetFileError(f"{path}: the manifest's header has no path and label columns (got {header})")
    return [(n, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h})
            for n, row in enumerate(rows, start=2) if any(c.strip() for c in row)]


def _text(v) -> str:
    return "" if v is None else str(v).strip() if not isinstance(v, bool) else str(int(v))


def path_problem(path: str) -> str | None:
    """Why a manifest path cannot name a file inside the manifest's folder, or None."""
    if not path:
        return "has no path"
    if _URI.match(path):
        return f"path {path!r} is a URI or names a drive; paths are relative to the manifest's folder"
    if path.startswith("/") or path.startswith("\\"):
        return f"path {path!r} is absolute; paths are relative to the manifest's folder"
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        return f"path {path!r} leaves the manifest's folder"
    return None


@register
class Manifest(Layout):
    name = "manifest"
    title = "Manifest (CSV or JSONL)"
    reads = "a manifest.csv/.jsonl: path, label, and optionally original, split, method, identity, dataset"
    splits = "the `split` column where given"
    identities = "the `identity` column where given"

    def match(self, root) -> str | None:
        found = manifest_file(root)
        return f"manifest file {found.name}" if found is not None else None

    def discover(self, root, opts: DiscoverOptions) -> Found:
        import os
        from pathlib import Path

        src = manifest_file(root)
        if src is None:
            raise LayoutError(f"ROOT {root} is neither a .csv/.jsonl manifest nor a folder holding exactly one of "
                              f"{', '.join(NAMES)}")
        base = src.parent
        default = dataset_name(base.name, "manifest")
        inside = None if opts.follow_symlinks or is_remote(base) else Path(os.path.realpath(base))
        out: list[VideoEntry] = []
        problems: list[str] = []
        seen: set[tuple[int, str]] = set()
        rows = read_manifest(src)
        listed = self._remote_listing(base, rows) if is_remote(base) else None
        for line, row in rows:
            where = f"{src} line {line}"
            e = self._entry(base, inside, row, where, default, listed)
            if (e.part, e.video) in seen:
                problems.append(f"{where}: {e.video} ({e.dataset}) is listed again; the first row is used")
                continue
            seen.add((e.part, e.video))
            out.append(e)
        problems += self._check_originals(out)
        out.sort(key=lambda e: (e.part, e.video))
        return Found(self.name, str(root), "", out, problems)

    @staticmethod
    def _remote_listing(base, rows) -> dict:
        """A remote manifest folder's files (one listing, not a request per row), by their rel path."""
        from dfprep.datasets.common import list_tree

        exts = {posixpath.splitext(r.get("path", ""))[1].lower() for _, r in rows if isinstance(r, dict)}
        return list_tree(base, exts - {""}).files

    @staticmethod
    def _entry(base, inside, row, where: str, default: str, listed: dict | None = None) -> VideoEntry:
        def rejected(video: str, dataset: str, why: str) -> VideoEntry:
            return VideoEntry(video, dataset_part(dataset), dataset=dataset, status=Status.REJECTED,
                              error=f"{where}: {why}; never opened"[:500])

        if isinstance(row, str):
            return rejected(f"line-{where.rsplit(' ', 1)[-1]}", default, f"the line {row}")
        dataset = row.get("dataset") or default
        if why := dataset_problem(dataset):
            dataset, bad = default, why
        else:
            bad = None
        raw = row.get("path", "")
        video = posixpath.normpath(raw) if raw and not path_problem(raw) else ""
        name = video or f"line-{where.rsplit(' ', 1)[-1]}"
        if bad or (why := path_problem(raw)):
            return rejected(name, dataset, bad or why)
        label = LABEL_OF.get(row.get("label", "").lower())
        if label is None:
            return rejected(name, dataset, f"label {row.get('label', '')!r} is not REAL, FAKE, 0 or 1 (1 = FAKE)")
        split = SPLIT_OF.get(row.get("split", "").lower()) if row.get("split") else None
        if row.get("split") and split is None:
            return rejected(name, dataset, f"split {row['split']!r} is not train, val (valid) or test")
        original = posixpath.normpath(row["original"]) if row.get("original") else None
        if original and path_problem(row["original"]):
            return rejected(name, dataset, f"original {path_problem(row['original'])}")
        e = make_entry(base, video, dataset, dataset_part(dataset), inside, (listed or {}).get(video),
                       label=label, split=split, method=row.get("method") or None,
                       original=original if label == "FAKE" else None, identity=row.get("identity") or None)
        if e.status is Status.MISSING:
            e.error = f"{where}: listed in the manifest but the file is absent"
        if label == "REAL" and original:
            e.warning = f"REAL row names an original ({original!r}); ignored"
        return e

    @staticmethod
    def _check_originals(out: list[VideoEntry]) -> list[str]:
        """A FAKE whose original is no row of the manifest keeps it (another ROOT may hold it): a warning."""
        videos = {e.video for e in out if e.status is not Status.REJECTED}
        problems = []
        for e in out:
            if e.label == "FAKE" and e.original and e.original not in videos and e.status is not Status.REJECTED:
                msg = f"original {e.original!r} is no row of the manifest"
                e.warning = f"{e.warning}; {msg}" if e.warning else msg
                problems.append(f"{e.dataset} {e.video}: {msg}")
        return problems
