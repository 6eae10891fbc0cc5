"""Read what the report needs from WORK, and nothing more.

videos.parquet is small (one row per video) and is read whole. faces.parquet can hold millions of crops:
it is scanned with column projection into a few numpy arrays (no `jpeg`, no landmarks), each row tied to
its video by the row number in the videos table; the crops a gallery shows are fetched later by filter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path  # noqa: F401  (annotations)

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dfprep.dataset import PART_RE, MetadataError, Status, VideoEntry, metadata_entries, read_metadata
from dfprep.formats.work.names import faces_dir, open_parquet, run_json_path, videos_dir
from dfprep.formats.work.videos import HASH, VIDEO_SCHEMA, read_videos as read_manifest
from dfprep.errors import UsageError
from dfprep.ingest.discover import check_originals, discover
from dfprep.storage import arrow_source, as_path

VIDEO_COLUMNS = tuple(c for c in VIDEO_SCHEMA.names if c != HASH)     # every column but the content hash
FACE_COLUMNS = ("video", "part", "frame_idx", "track_id", "prob", "x1", "y1", "x2", "y2", "phash")
META_COLUMNS = ("video", "part", "label", "original", "split", "status", "error", "warning")
# Report-only statuses of a metadata-only report (never in videos.parquet, so not `Status` members): a usable
# entry whose file is there (a ROOT was given), or one of a lone metadata.json (nothing looked up on disk).
PRESENT = "present"
LISTED = "listed"


class AnalysisError(UsageError):
    """Input the report cannot be built from; the message names the file and the reason."""


@dataclass
class FaceColumns:
    """The face store's small columns as numpy arrays; `code` is the row of the video in the videos table."""
    code: np.ndarray        # int32; -1 for a face row whose video is not an ok row of videos.parquet
    frame_idx: np.ndarray   # int32
    track_id: np.ndarray    # int32
    prob: np.ndarray        # float32
    box: np.ndarray         # float32 (n, 4): x1, y1, x2, y2
    phash: np.ndarray       # uint64
    file: np.ndarray        # int32 index into `files`
    files: list[str]
    filesystem: object = None   # pyarrow filesystem of `files` (None: local)

    def __len__(self) -> int:
        return len(self.code)


def read_videos(work: Path) -> pa.Table:
    """WORK/videos.parquet as one table (VIDEO_COLUMNS; older files give null for columns added since), sorted
    by (part, video)."""
    work = as_path(work)
    path = videos_dir(work)
    if not path.exists() and work.is_dir() and any(PART_RE.match(p.name) for p in work.iterdir()):
        raise AnalysisError(f"{path}: not found; {work} looks like a ROOT of DFDC parts: run `dfprep ingest` "
                            "first, or use --metadata-only ROOT for label statistics")
    t = read_manifest(work, VIDEO_COLUMNS)
    if t.num_rows == 0:
        raise AnalysisError(f"{path}: holds no rows")
    return t.sort_by([("part", "ascending"), ("video", "ascending")])


def scan_faces(work: Path, videos: pa.Table) -> FaceColumns | None:
    """Project faces.parquet onto FACE_COLUMNS batch by batch; None when WORK has no face store."""
    path = faces_dir(work)
    if not path.exists():
        return None
    d = open_parquet(path, "the face store", FACE_COLUMNS)
    lookup = _ok_video_lookup(videos)
    files: dict[str, int] = {}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("code", "frame_idx", "track_id", "prob", "box",
                                                           "phash", "file")}
    scanner = d.scanner(columns=list(FACE_COLUMNS), batch_size=1 << 17, use_threads=True)
    try:
        for tagged in scanner.scan_batches():
            b = tagged.record_batch
            if b.num_rows == 0:
                continue
            fid = files.setdefault(tagged.fragment.path, len(files))
            parts["code"].append(_codes(b, lookup))
            for c in ("frame_idx", "track_id"):
                parts[c].append(b.column(c).to_numpy(zero_copy_only=False).astype(np.int32, copy=False))
            parts["prob"].append(b.column("prob").to_numpy(zero_copy_only=False).astype(np.float32, copy=False))
            parts["box"].append(np.stack([b.column(c).to_numpy(zero_copy_only=False) for c in
                                          ("x1", "y1", "x2", "y2")], axis=1).astype(np.float32, copy=False))
            parts["phash"].append(b.column("phash").to_numpy(zero_copy_only=False).astype(np.uint64, copy=False))
            parts["file"].append(np.full(b.num_rows, fid, np.int32))
    except (pa.ArrowInvalid, OSError) as exc:
        raise AnalysisError(f"{path}: unreadable ({exc})") from exc
    empty = {"code": np.int32, "frame_idx": np.int32, "track_id": np.int32, "prob": np.float32,
             "phash": np.uint64, "file": np.int32}
    cols = {k: (np.concatenate(v) if v else np.zeros(0, empty.get(k, np.float32))) for k, v in parts.items()}
    if not parts["box"]:
        cols["box"] = np.zeros((0, 4), np.float32)
    return FaceColumns(files=list(files), filesystem=arrow_source(path)[0], **cols)


def _ok_video_lookup(videos: pa.Table) -> dict[int, tuple[pa.Array, np.ndarray]]:
    """part -> (names of its ok videos, their row numbers in `videos`), for vectorized index_in."""
    parts = videos.column("part").to_numpy(zero_copy_only=False)
    ok = pc.equal(videos.column("status"), Status.OK.value).to_numpy(zero_copy_only=False)
    names = videos.column("video")
    out = {}
    for p in np.unique(parts[ok]):
        rows = np.flatnonzero(ok & (parts == p)).astype(np.int32)
        out[int(p)] = (pc.take(names, pa.array(rows)).combine_chunks(), rows)
    return out


def _codes(b: pa.RecordBatch, lookup: dict) -> np.ndarray:
    parts = b.column("part").to_numpy(zero_copy_only=False)
    code = np.full(b.num_rows, -1, np.int32)
    for p in np.unique(parts):
        if int(p) not in lookup:
            continue
        names, rows = lookup[int(p)]
        sel = parts == p
        vids = b.column("video") if sel.all() else b.column("video").filter(pa.array(sel))
        local = pc.fill_null(pc.index_in(vids, value_set=names), -1).to_numpy(zero_copy_only=False)
        code[sel] = np.where(local >= 0, rows[np.maximum(local, 0)], -1)
    return code


def fetch_crops(faces: FaceColumns, videos: pa.Table, rows: np.ndarray) -> dict[int, bytes]:
    """JPEG bytes of the given face rows, read by filter from their own files (row groups pruned by video)."""
    names = videos.column("video").to_pylist() if len(rows) else []
    want: dict[int, list[int]] = {}
    for r in map(int, rows):
        want.setdefault(int(faces.file[r]), []).append(r)
    out: dict[int, bytes] = {}
    for fid, rs in want.items():
        path = faces.files[fid]
        vids = sorted({names[faces.code[r]] for r in rs})
        try:
            t = pq.read_table(path, columns=["video", "frame_idx", "track_id", "jpeg"],
                              filters=[("video", "in", vids)], filesystem=faces.filesystem)
        except (pa.ArrowInvalid, OSError) as exc:
            raise AnalysisError(f"{path}: cannot read crops ({exc})") from exc
        index = {(v, f, k): j for j, (v, f, k) in enumerate(zip(t.column("video").to_pylist(),
                                                               t.column("frame_idx").to_pylist(),
                                                               t.column("track_id").to_pylist()))}
        jpeg = t.column("jpeg")
        for r in rs:
            j = index.get((names[faces.code[r]], int(faces.frame_idx[r]), int(faces.track_id[r])))
            if j is not None:
                out[r] = jpeg[j].as_py()
    return out


def metadata_videos(source: Path) -> tuple[pa.Table, list[str]]:
    """A videos-like table (META_COLUMNS) from metadata.json alone: a ROOT of parts, or one metadata.json.

    With a ROOT, discovery says whether each file is present (status `present`) or `missing`; with a single
    metadata.json nothing is looked up on disk (status `listed`).
    """
    source = as_path(source)
    if source.is_dir():
        entries, problems = discover(source)
        pending = PRESENT
    elif source.is_file():
        entries, problems = _single_metadata(source)
        pending = LISTED
    else:
        raise AnalysisError(f"{source}: not found (expected a ROOT folder of dfdc_train_part_* or a metadata.json)")
    if not entries:
        raise AnalysisError(f"{source}: no metadata entries found")
    rows = [_meta_row(e, pending) for e in entries]
    schema = pa.schema([(c, pa.int32() if c == "part" else pa.string()) for c in META_COLUMNS])
    t = pa.Table.from_pylist(rows, schema=schema)
    return t.sort_by([("part", "ascending"), ("video", "ascending")]), problems


def part_of(path: Path) -> int:
    """DFDC part number from `dfdc_train_part_N/metadata.json` or `dfdc_train_part_N_metadata.json`; else 0."""
    m = PART_RE.match(path.parent.name) or re.match(r"^dfdc_train_part_(\d+)", path.name)
    return int(m.group(1)) if m else 0


def _meta_row(e: VideoEntry, pending: str) -> dict:
    """A META_COLUMNS row of an entry; a pending one (a usable entry, never processed) gets the report-only
    status `pending`."""
    row = e.row_fields()
    if e.status is Status.PENDING:
        row["status"] = pending
    return {k: row[k] for k in META_COLUMNS}


def _single_metadata(path: Path) -> tuple[list[VideoEntry], list[str]]:
    try:
        data, dupes = read_metadata(path)
    except MetadataError as exc:
        raise AnalysisError(f"{path}: {str(exc).replace('metadata.json ', '')}") from None
    problems = [f"{path}: key {k!r} appears more than once; the last one is used" for k in sorted(set(dupes))]
    entries = metadata_entries(data, part_of(path))
    problems += check_originals(entries)
    return entries, problems


def read_run_json(work: Path):
    """WORK/run.json if present (the ingest's own summary, `dfprep.formats.work.runjson.IngestRun`), for the
    report header; None otherwise. A run.json that cannot be read is a WorkError naming the file and the key."""
    from dfprep.formats.work.runjson import read_run_json as read_ingest_run

    if not run_json_path(work).is_file():
        return None
    return read_ingest_run(work)


def unfinished(work: Path, allow_partial: bool) -> str | None:
    """Why WORK's ingest is unfinished (None when finished); an AnalysisError naming WORK unless `allow_partial`."""
    from dfprep.ingest.completion import partial_message, unfinished_ingest

    reason = unfinished_ingest(work)
    if reason and not allow_partial:
        raise AnalysisError(partial_message(work, reason))
    return reason
