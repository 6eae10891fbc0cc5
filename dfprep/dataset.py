"""The dataset's concepts, defined once and imported by every stage.

Labels, split names, datasets and the WORK partition (`part`), the DFDC layout (part folders, metadata.json),
the video entry every stage passes around, families (what must never be split), and clip windows (how a track
is cut into model inputs). The layouts of the other datasets are `dfprep.datasets`. Plain Python and numpy:
no stage's internals, no torch.
"""
from __future__ import annotations

import json
import os
import re
import stat
import zlib
from dataclasses import dataclass, fields, replace
from enum import Enum
from pathlib import Path
from typing import Iterable

import numpy as np

from dfprep.errors import DataError

LABELS = ("REAL", "FAKE")                    # cls 0 and 1, in this order everywhere
SPLITS = ("train", "val", "test")
PART_RE = re.compile(r"^dfdc_train_part_(\d+)$")
VIDEO_EXTS = {".mp4"}
METADATA = "metadata.json"
UNITS = ("frame", "clip")                    # a sample: one face crop, or a clip window of one track's crops
DEFAULT_CLIP_LEN = 8                         # crops per clip window
DFDC = "dfdc"                                # DFDC's training parts: the dataset of every row written before others
COMPRESSIONS = ("raw", "c23", "c40")         # FaceForensics++'s levels (raw, H.264 crf 23, crf 40)
AUDIO_LABELS = LABELS                        # FakeAVCeleb labels a video's audio apart from its picture
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}   # an image is a one-frame video
DATASET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# `part` is WORK's partition: DFDC's training parts keep their number N (< DATASET_PART_BASE); every other
# dataset (and a DFDC folder without a part number) is one partition numbered by `dataset_part`.
DATASET_PART_BASE = 1_000_000


class Status(str, Enum):
    """What became of one video: the `status` column of videos.parquet (PENDING only before it is processed).

    A str enum: `Status.OK == "ok"`, and `.value` is what files hold."""

    PENDING = "pending"        # listed, not processed yet (never written)
    OK = "ok"                  # decoded; faces may or may not have been found
    ERROR = "error"            # the file is there but could not be used (the `error` column says why)
    MISSING = "missing"        # listed in metadata.json, no file
    UNLISTED = "unlisted"      # a file no metadata.json lists (no label)
    REJECTED = "rejected"      # a metadata entry that cannot be used (bad key or label); never opened

    def __str__(self) -> str:
        return self.value


WRITTEN_STATUSES = tuple(s.value for s in Status if s is not Status.PENDING)


def dataset_problem(name: object) -> str | None:
    """Why `name` cannot be a dataset name (lowercase letters, digits, `.`, `_`, `-`; 64 at most), or None."""
    if isinstance(name, str) and DATASET_RE.match(name):
        return None
    return f"dataset name {name!r} is not lowercase letters, digits, '.', '_' or '-' (64 at most)"


def dataset_part(dataset: str, group: str = "") -> int:
    """The WORK part of a dataset without DFDC's numbered parts: DATASET_PART_BASE plus a CRC-32 of its name
    (and `group`, a folder that must not share its partition), below 2**31. The same number on every machine
    and in every run, whatever else WORK holds; `dfprep.datasets.check_parts` refuses the (unlikely) clash."""
    key = f"{dataset}/{group}" if group else dataset
    return DATASET_PART_BASE + zlib.crc32(key.encode()) % (2**31 - 1 - DATASET_PART_BASE)


def is_dfdc_part(part: int | None) -> bool:
    """A part numbered by a `dfdc_train_part_N` folder (its videos are plain file names in it)."""
    return part is not None and 0 <= part < DATASET_PART_BASE


def video_name_problem(part: int | None, name: object) -> str | None:
    """Why `name` cannot be a video's name in `part`: in a DFDC part a plain file name (`key_problem`), in any
    other a relative path inside the dataset's root (`dfprep.names.relpath_problem`). None when it can."""
    from dfprep.names import relpath_problem

    if is_dfdc_part(part):
        return key_problem(name)
    why = relpath_problem(name)
    return f"path {why}" if why else None


def label_code(label: str) -> int:
    """REAL -> 0, FAKE -> 1 (ValueError for anything else)."""
    return LABELS.index(label)


def part_folder(part: int) -> str:
    return f"dfdc_train_part_{part}"


def part_folders(listing) -> dict[int, object]:
    """{part number: folder} of the `dfdc_train_part_N` folders in a listing of (path, is a folder), by number."""
    found = {}
    for p, is_dir in listing:
        m = PART_RE.match(p.name)
        if m and is_dir and int(m.group(1)) < DATASET_PART_BASE:
            found[int(m.group(1))] = p
    return dict(sorted(found.items()))


# --- metadata.json --------------------------------------------------------------------------------------------

class MetadataError(DataError):
    """A metadata.json that cannot be read as the DFDC format; the message is the reason."""


def key_problem(key: object) -> str | None:
    """Why a metadata key cannot name a file inside its part folder, or None if it can (`dfprep.names`: the
    rule every reader of a recorded name follows)."""
    from dfprep.names import name_problem

    why = name_problem(key)
    return f"key {why}" if why else None


def read_metadata(path: Path) -> tuple[dict, list[str]]:
    """Parse a metadata.json: (the object, keys that appear more than once). MetadataError says why not."""
    dupes: list[str] = []

    def pairs(items):
        seen: dict = {}
        for k, v in items:
            if k in seen:
                dupes.append(k)
            seen[k] = v
        return seen

    from dfprep.storage import as_path, is_remote

    path = as_path(path)
    if is_remote(path):             # an object store holds only regular objects; a failing store raises StorageError
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            raise MetadataError("metadata.json is missing") from None
    else:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise MetadataError("metadata.json is missing") from None
        except OSError as exc:
            raise MetadataError(f"metadata.json cannot be read ({exc.strerror or exc})") from None
        if not stat.S_ISREG(st.st_mode):
            raise MetadataError("metadata.json is not a regular file")
        text = None
    try:
        data = json.loads(text.decode("utf-8") if text is not None else path.read_text(encoding="utf-8"),
                          object_pairs_hook=pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"metadata.json is not valid JSON ({exc})") from None
    except RecursionError:
        raise MetadataError("metadata.json is nested too deeply to be DFDC metadata") from None
    except OSError as exc:
        raise MetadataError(f"metadata.json cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise MetadataError("metadata.json is not a JSON object")
    return data, dupes


def entry_fields(meta: object) -> tuple[str | None, str | None, str | None, str | None]:
    """(label, original, split, problem) of one metadata value; problem is None when it is usable."""
    if not isinstance(meta, dict):
        return None, None, None, "metadata value is not an object"
    label, original, split = meta.get("label"), meta.get("original"), meta.get("split")
    original = original if isinstance(original, str) and original else None
    split = split if isinstance(split, str) else None
    if not isinstance(label, str) or label not in LABELS:
        return None, original, split, f"label {label!r} is not REAL or FAKE"[:300]
    return label, original, split, None


def metadata_entries(data: dict, part: int) -> list[VideoEntry]:
    """One entry per metadata key, in file order: pending (usable) or rejected with the reason.

    A REAL's `original` is dropped with a warning; nothing on disk is looked at here.
    """
    out = []
    for key, meta in data.items():
        why = key_problem(key)
        if why:
            out.append(VideoEntry(str(key), part, status=Status.REJECTED, error=f"{why}; never opened"))
            continue
        label, original, split, problem = entry_fields(meta)
        entry = VideoEntry(key, part, label=label, original=original, split=split)
        if problem:
            entry.status, entry.error = Status.REJECTED, problem
        if label == "REAL" and original is not None:
            entry.warning, entry.original = f"REAL entry names an original ({original!r}); ignored", None
        out.append(entry)
    return out


# --- the video entry --------------------------------------------------------------------------------------------

@dataclass
class VideoEntry:
    """One video as every stage passes it: what discovery knows before the file is opened (a videos.parquet row
    to be). Mutable while discovery fills it in (status, path, stamps); a worker only reads it.

    A video is identified in WORK by (`part`, `video`): DFDC's part number and file name, or for any other
    dataset its `dataset_part` and its path inside the dataset's root (`manipulated_sequences/Deepfakes/c23/
    videos/000_003.mp4`); `dataset` names it for people. A dataset's layout (`dfprep.datasets`) fills the fields
    it can name. `size` and `mtime_ns` are the file's stamps as listed (`dfprep.ingest.inputs` compares them at
    resume); neither is a column of videos.parquet."""
    video: str                        # name inside the dataset's group (DFDC: the file name in its part folder)
    part: int | None = None           # DFDC part number; None where a dataset has no parts
    label: str | None = None          # LABELS, or None (unlisted, rejected)
    original: str | None = None       # a FAKE's source video, by its `video` name (in any part of WORK)
    split: str | None = None          # the dataset's official split (SPLITS), as its files say; None without one
    path: str | None = None           # where the file is (a local path or a URI); None when never opened
    status: Status = Status.PENDING
    error: str | None = None
    warning: str | None = None
    size: int | None = None           # bytes, as listed (a remote listing, or stat)
    mtime_ns: int | None = None       # modification time, as listed
    dataset: str = DFDC
    method: str | None = None         # how a FAKE was made (FF++'s Deepfakes, ...); None for a REAL or unknown
    compression: str | None = None    # COMPRESSIONS where the dataset has levels (FF++, DFD)
    identity: str | None = None       # the person the video shows (a FAKE: its target), where the dataset names it
    source_identity: str | None = None   # a FAKE's donor face (whose face was put on the target)
    audio_label: str | None = None    # FakeAVCeleb: the audio's own label (AUDIO_LABELS), apart from the picture's
    mask: str | None = None           # the manipulation mask video's path inside the root (FF++), where there is one

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    def row_fields(self) -> dict:
        """The fields a videos.parquet row records of its entry (ROW_FIELDS), status as written."""
        return {k: (self.status.value if k == "status" else getattr(self, k)) for k in ROW_FIELDS}

    def replace(self, **changes) -> "VideoEntry":
        """A copy with `changes` (the entry itself is left as it is)."""
        return replace(self, **changes)


ENTRY_FIELDS = tuple(f.name for f in fields(VideoEntry))
ROW_FIELDS = ("dataset", "video", "part", "label", "original", "split", "method", "compression", "identity",
              "source_identity", "audio_label", "mask", "status", "error", "warning")   # videos.parquet's
# What a layout may say of a video besides its label and original: carried into videos.parquet and face rows.
DESCRIPTION_FIELDS = ("method", "compression", "identity", "source_identity", "audio_label", "mask")


def file_entry(path: Path) -> VideoEntry:
    """A pending entry for one video file outside any metadata (predict, explain); part from its folder name.
    `path` may be a dfprep.storage RemotePath: the entry's path is then its URI (spooled where it is decoded)."""
    path = path if hasattr(path, "parent") else Path(path)
    m = PART_RE.match(path.parent.name)
    return VideoEntry(path.name, int(m.group(1)) if m else 0, path=str(path))


# --- families -----------------------------------------------------------------------------------------------------

def table_family_roots(videos) -> dict[tuple[int, str], tuple[int, str]]:
    """`family_roots` of every row of a videos table (pyarrow: part, video, label, original): what shards splits
    by and what the report counts, computed over the same rows."""
    return family_roots(videos.select(["part", "video", "label", "original"]).to_pylist())


def family_ids(rows: Iterable[dict]) -> dict[tuple[int, str], str]:
    """(part, video) -> family id `p{part}/{root}` for every row (see `family_roots`)."""
    return {k: "p{}/{}".format(*r) for k, r in family_roots(rows).items()}


def original_resolver(keys: Iterable[tuple[int, str]]):
    """(part, original name) -> the (part, video) key it names among `keys`: in the video's own part, else in the
    one part holding that name (DeeperForensics' fakes name FF++'s originals), else (part, name) as given (an
    original absent from the data, or a name several parts hold). The one rule families and the report use."""
    keys = set(keys)
    parts_of: dict[str, set[int]] = {}
    for p, v in keys:
        parts_of.setdefault(v, set()).add(p)

    def resolve(part: int, name: str) -> tuple[int, str]:
        if (part, name) in keys:
            return part, name
        where = parts_of.get(name, ())
        return (next(iter(where)), name) if len(where) == 1 else (part, name)

    return resolve


def family_roots(rows: Iterable[dict]) -> dict[tuple[int, str], tuple[int, str]]:
    """(part, video) -> (part, video) of its family's root, for every row (keys part, video, label, original).

    A family is a root video and every video made from it, directly or through others: a video belongs to the
    family of its root original, found by following `original` until a name that has none (a REAL, or a video
    absent from the data). A REAL follows its `original` too when a layout sets one: FakeAVCeleb's
    RealVideo-FakeAudio shows its RealVideo-RealAudio video's picture (DFDC drops a REAL's `original`). So two FAKEs of one missing original share
    a family, and a FAKE of a FAKE joins its grandparent's. An original is looked up in the FAKE's own part,
    else in the one part that has it; a cycle of FAKEs is one family named after its smallest member.
    """
    rows = list(rows)
    by_key = {(r["part"], r["video"]): r for r in rows}
    resolve = original_resolver(by_key)
    roots: dict[tuple[int, str], tuple[int, str]] = {}

    def root(key: tuple[int, str]) -> tuple[int, str]:
        path: list[tuple[int, str]] = []
        cur = key
        while cur not in roots:
            r = by_key.get(cur)
            if r is None or r.get("label") not in LABELS or not r.get("original"):
                roots[cur] = cur
                break
            if cur in path:                               # a cycle of FAKEs: one family, its smallest member
                cycle = path[path.index(cur):]
                for k in cycle:
                    roots[k] = min(cycle)
                break
            path.append(cur)
            cur = resolve(cur[0], r["original"])
        for k in path:
            roots.setdefault(k, roots[cur])
        return roots[key]

    return {k: root(k) for k in by_key}


# --- clip windows ---------------------------------------------------------------------------------------------------

def clip_windows(groups: np.ndarray, frames: np.ndarray, clip_len: int) -> np.ndarray:
    """Non-overlapping windows of `clip_len` consecutive crops of each group (a face track), in frame order.

    groups: one int per crop naming its track; frames: its frame index. A track's tail shorter than clip_len
    is left out. Returns [n_clips, clip_len] crop indices. The same windows at training and predict time.
    """
    if len(groups) == 0:
        return np.zeros((0, clip_len), np.int64)
    order = np.lexsort((frames, groups))
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ends = np.r_[starts[1:], len(order)]
    clips = [order[s + k * clip_len: s + (k + 1) * clip_len]
             for s, e in zip(starts, ends) for k in range((e - s) // clip_len)]
    return np.array(clips, np.int64).reshape(-1, clip_len)
