"""Find DFDC parts, read and validate their metadata.json, and list what each video's fate will be.

Pure functions over the file system; no video is opened here. Every metadata key, and every video file
present on disk, becomes exactly one entry (a dict that becomes a row of videos.parquet).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

PART_RE = re.compile(r"^dfdc_train_part_(\d+)$")
VIDEO_EXTS = {".mp4"}
LABELS = {"REAL", "FAKE"}


class IngestUsageError(Exception):
    """A misuse that stops the run before it starts (no ROOT, no parts)."""


def parse_parts(spec: str | None) -> set[int] | None:
    """'0,3-5' -> {0, 3, 4, 5}; None or '' -> None (all parts)."""
    if not spec:
        return None
    out: set[int] = set()
    for tok in spec.split(","):
        tok = tok.strip()
        if not tok:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", tok)
        if not m:
            raise IngestUsageError(f"bad part spec {tok!r} in {spec!r}; expected e.g. 0,3-5")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise IngestUsageError(f"bad part range {tok!r}: {hi} < {lo}")
        out.update(range(lo, hi + 1))
    return out


def find_parts(root: Path, parts: set[int] | None = None) -> dict[int, Path]:
    """Part number -> folder, for every `dfdc_train_part_N` under root (or the selected ones)."""
    root = Path(root)
    if not root.is_dir():
        raise IngestUsageError(f"ROOT {root} does not exist or is not a folder")
    found = {}
    for child in root.iterdir():
        m = PART_RE.match(child.name)
        if m and child.is_dir():
            found[int(m.group(1))] = child
    if parts is not None:
        absent = sorted(parts - found.keys())
        if absent and not (parts & found.keys()):
            raise IngestUsageError(f"none of the selected parts {sorted(parts)} exist under {root}")
        found = {n: p for n, p in found.items() if n in parts}
    if not found:
        raise IngestUsageError(f"no dfdc_train_part_* folders under {root}")
    return dict(sorted(found.items()))


def key_problem(key: object) -> str | None:
    """Why a metadata key cannot name a file inside its part folder, or None if it can."""
    if not isinstance(key, str) or not key:
        return "key is not a non-empty string"
    if "\x00" in key:
        return "key contains a NUL byte"
    if key.startswith("/") or os.path.isabs(key) or re.match(r"^[A-Za-z]:", key):
        return "key is an absolute path"
    if "/" in key or "\\" in key:
        return "key contains a path separator"
    if key in (".", "..") or ".." in key.split("/"):
        return "key is a relative path component"
    return None


def _load_json(path: Path) -> tuple[dict | None, list[str], str | None]:
    """Parse metadata.json keeping duplicate keys visible. Returns (data, duplicate keys, error)."""
    dupes: list[str] = []

    def pairs(items):
        seen: dict = {}
        for k, v in items:
            if k in seen:
                dupes.append(k)
            seen[k] = v
        return seen

    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=pairs)
    except FileNotFoundError:
        return None, [], "metadata.json is missing"
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [], f"metadata.json is not valid JSON ({exc})"
    if not isinstance(data, dict):
        return None, [], "metadata.json is not a JSON object"
    return data, dupes, None


def _entry(video: str, part: int, **kw) -> dict:
    row = dict(video=video, part=part, label=None, original=None, split=None, path=None,
               status="pending", error=None, warning=None)
    row.update(kw)
    return row


def read_part(part: int, folder: Path) -> tuple[list[dict], list[str]]:
    """Entries for one part (sorted by video name) and part-level problems."""
    problems: list[str] = []
    data, dupes, err = _load_json(folder / "metadata.json")
    if err:
        problems.append(f"{folder / 'metadata.json'}: {err}; its videos are reported as unlisted")
        data = {}
    for k in sorted(set(dupes)):
        problems.append(f"{folder / 'metadata.json'}: key {k!r} appears more than once; the last one is used")
    entries: list[dict] = []
    listed: set[str] = set()
    for key, meta in data.items():
        why = key_problem(key)
        if why:
            entries.append(_entry(str(key), part, status="rejected", error=f"{why}; never opened"))
            continue
        listed.add(key)
        if not isinstance(meta, dict):
            entries.append(_entry(key, part, status="rejected", error="metadata value is not an object"))
            continue
        label = meta.get("label")
        original = meta.get("original")
        split = meta.get("split")
        row = _entry(key, part, label=label if label in LABELS else None,
                     original=original if isinstance(original, str) else None,
                     split=split if isinstance(split, str) else None)
        if label not in LABELS:
            row.update(status="rejected", error=f"label {label!r} is not REAL or FAKE")
        elif not (folder / key).is_file():
            row.update(status="missing", error="listed in metadata.json but the file is absent")
        else:
            row["path"] = str(folder / key)
        if label == "REAL" and original is not None:
            row["warning"] = f"REAL entry names an original ({original!r}); ignored"
            row["original"] = None
        entries.append(row)
    for child in sorted(folder.iterdir()):
        if child.suffix.lower() in VIDEO_EXTS and child.is_file() and child.name not in listed:
            entries.append(_entry(child.name, part, status="unlisted", path=str(child),
                                  error="video file present but not listed in metadata.json"))
    entries.sort(key=lambda e: (e["video"], e["status"]))
    return entries, problems


def check_originals(entries: list[dict]) -> list[str]:
    """Flag FAKEs whose original is not a REAL entry of the dataset (they stay usable; it is a warning)."""
    reals = {(e["part"], e["video"]) for e in entries if e["label"] == "REAL" and e["status"] != "rejected"}
    reals_any = {v for _, v in reals}
    problems = []
    for e in entries:
        if e["label"] != "FAKE" or e["status"] == "rejected":
            continue
        orig = e["original"]
        if not orig:
            msg = "FAKE entry has no original"
        elif (e["part"], orig) in reals:
            continue
        elif orig in reals_any:
            msg = f"original {orig!r} is a REAL entry of another part"
        else:
            msg = f"original {orig!r} is not a REAL entry of the dataset"
        e["warning"] = msg if not e["warning"] else f"{e['warning']}; {msg}"
        problems.append(f"part {e['part']} {e['video']}: {msg}")
    return problems


def discover(root: Path, parts: set[int] | None = None) -> tuple[list[dict], list[str]]:
    """All entries of the selected parts, sorted by (part, video), and the problems found."""
    entries: list[dict] = []
    problems: list[str] = []
    for n, folder in find_parts(root, parts).items():
        e, p = read_part(n, folder)
        entries += e
        problems += p
    problems += check_originals(entries)
    return entries, problems
