"""WORK/faces.parquet, the face store: one row per face crop; its schema, rows and readers (docs/formats.md)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dfprep.errors import DataError
from dfprep.formats.work.names import WorkError, faces_dir
from dfprep.storage import as_path, parquet_file, relative

LANDMARKS = pa.list_(pa.list_(pa.float32(), 2), 5)
# dlib's 128-d face descriptor of a track (dfprep.faces.identity); only on the track's representative row.
EMBEDDING = pa.list_(pa.float32(), 128)

FACE_SCHEMA = pa.schema([
    ("dataset", pa.string()),
    ("video", pa.string()),
    ("part", pa.int32()),
    ("label", pa.string()),
    ("original", pa.string()),
    ("method", pa.string()),
    ("frame_idx", pa.int32()),
    ("track_id", pa.int32()),
    ("prob", pa.float32()),
    ("x1", pa.float32()),
    ("y1", pa.float32()),
    ("x2", pa.float32()),
    ("y2", pa.float32()),
    ("landmarks", LANDMARKS),
    ("jpeg", pa.binary()),
    ("phash", pa.uint64()),
    ("frame_phash", pa.uint64()),
    ("embedding", EMBEDDING),
])


class FaceStoreError(DataError, WorkError, ValueError):
    """A face store file that cannot be read; the message names it."""


# Rows per Parquet row group: ~256 crops of ~15-25 KB keeps a group near 5 MB, small enough to stream.
FACE_ROW_GROUP = 256


def empty_faces() -> pa.Table:
    return FACE_SCHEMA.empty_table()


# Columns a caller may leave out of `faces_table`, and what they then hold: no identity embeddings, no method,
# and DFDC (the dataset of every face row written before datasets existed).
_DEFAULTS = {"embedding": None, "method": None, "dataset": "dfdc"}


def faces_table(rows: dict[str, list]) -> pa.Table:
    """Face-store rows from columns; a column of `_DEFAULTS` that is absent holds its default on every row."""
    n = len(rows["video"])
    return pa.table({f.name: pa.array(rows[f.name] if f.name in rows or f.name not in _DEFAULTS
                                      else [_DEFAULTS[f.name]] * n, type=f.type)      # a defaultdict: [] when empty
                     for f in FACE_SCHEMA}, schema=FACE_SCHEMA)


def conform_faces(table: pa.Table) -> pa.Table:
    """Face rows read back from a journal or batch file, as FACE_SCHEMA: a file written before a column existed
    gains it (a null `dataset` reads as DFDC, as in `dfprep.formats.work.videos.with_dataset`)."""
    from dfprep.formats.work.videos import with_dataset

    table = table.replace_schema_metadata(None)
    n = table.num_rows
    cols = {f.name: (table.column(f.name) if f.name in table.schema.names
                     else pa.nulls(n, f.type)) for f in FACE_SCHEMA}
    return with_dataset(pa.table(cols).cast(FACE_SCHEMA))


def face_files(faces: Path) -> list[Path]:
    """The face store's files under `faces` (WORK/faces.parquet, `faces_dir`), sorted; temporaries of a run in
    progress (`.tmp-*`) left out."""
    return sorted(p for p in as_path(faces).rglob("*.parquet") if not p.name.startswith("."))


def read_embeddings(work: Path) -> tuple[list[tuple[int, str]], np.ndarray]:
    """Every track's identity embedding: ((part, video) per track, float32 [n, 128]).

    A projected read of (part, video, embedding), keeping the rows where the embedding is set (one per track,
    its representative face). Files written before embeddings existed, or by an ingest with --no-identity,
    contribute nothing; so does a WORK without a face store.
    """
    keys: list[tuple[int, str]] = []
    vecs: list[np.ndarray] = []
    from dfprep.storage import StorageError, arrow_source

    for p in face_files(faces_dir(work)) if faces_dir(work).exists() else []:
        try:
            fs, name = arrow_source(p)
            if "embedding" not in pq.read_schema(name, filesystem=fs).names:
                continue
            # the filter is applied while reading: only the one representative row per track is materialised
            t = pq.read_table(name, columns=["part", "video", "embedding"], filesystem=fs,
                              filters=pc.is_valid(pc.field("embedding")))
        except StorageError:
            raise
        except (pa.ArrowInvalid, OSError) as exc:
            raise FaceStoreError(f"{p}: cannot read the face store file: {exc}") from None
        if not t.num_rows:
            continue
        emb = t.column("embedding").combine_chunks()
        vecs.append(emb.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(emb), -1))
        keys += list(zip(t.column("part").to_pylist(), t.column("video").to_pylist()))
    return keys, (np.concatenate(vecs) if vecs else np.zeros((0, 128), np.float32))


PLAN_COLUMNS = ["video", "part", "label", "original", "frame_idx", "track_id", "prob", "x1", "y1", "x2", "y2",
                "phash"]
HASH_METHOD = "sha256 over sorted (relative path, size, Parquet footer bytes) of faces.parquet/**/*.parquet"
FOOTER_MAX = 1 << 20     # a footer larger than this is hashed by its first and last MiB



def _footer(path: Path) -> bytes:
    """The Parquet footer (schema, row-group statistics, sizes): changes whenever the file's content does."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        if size < 12:
            raise FaceStoreError(f"{path}: not a Parquet file ({size} bytes)")
        fh.seek(size - 8)
        tail = fh.read(8)
        if tail[4:] != b"PAR1":
            raise FaceStoreError(f"{path}: not a Parquet file (no PAR1 magic at the end)")
        n = int.from_bytes(tail[:4], "little")
        if n + 8 > size:
            raise FaceStoreError(f"{path}: corrupt Parquet footer length {n}")
        if n <= FOOTER_MAX:
            fh.seek(size - 8 - n)
            return fh.read(n + 8)
        fh.seek(size - 8 - n)
        head = fh.read(FOOTER_MAX)
        fh.seek(size - FOOTER_MAX)
        return head + fh.read(FOOTER_MAX)


def store_hash(faces: Path) -> str:
    """Content hash of the face store, cheap at any scale: name, size and footer of every file.

    The footer holds per-row-group byte sizes and min/max statistics, so rewriting a file with other crops
    changes it; hashing 80 GB of JPEG would take longer than writing the shards.
    """
    h = hashlib.sha256()
    for p in face_files(faces):
        rel = relative(p, faces)
        h.update(f"{rel}\0{p.stat().st_size}\0".encode())
        h.update(hashlib.sha256(_footer(p)).digest())
    return h.hexdigest()


def read_crop_index(faces: Path) -> tuple[pa.Table, list[str]]:
    """Every crop's planning columns (PLAN_COLUMNS, no jpeg: sharding plans without pixels), with `file` (index into the returned list of relative paths),
    `row_group` (its Parquet row group) and `jpeg_bytes` (estimated from the row group's column-chunk size).
    """
    files = face_files(faces)
    tables = []
    for i, p in enumerate(files):
        try:
            pf = parquet_file(p)
            t = pf.read(columns=PLAN_COLUMNS)
            md = pf.metadata
        except (pa.ArrowInvalid, OSError) as exc:
            raise FaceStoreError(f"{p}: cannot read the face store file: {exc}") from None
        jcol = md.schema.names.index("jpeg") if "jpeg" in md.schema.names else None
        est, groups = [], []
        for r in range(md.num_row_groups):
            rg = md.row_group(r)
            per = rg.column(jcol).total_uncompressed_size / max(rg.num_rows, 1) if jcol is not None else 0
            est += [int(per)] * rg.num_rows
            groups += [r] * rg.num_rows
        t = t.append_column("file", pa.array([i] * t.num_rows, pa.int32()))
        t = t.append_column("row_group", pa.array(groups, pa.int32()))
        t = t.append_column("jpeg_bytes", pa.array(est, pa.int64()))
        tables.append(t)
    rel = [relative(p, faces) for p in files]
    if not tables:
        return pa.table({c: [] for c in PLAN_COLUMNS + ["file", "row_group", "jpeg_bytes"]}), rel
    return pa.concat_tables(tables), rel


def fetch_jpegs(faces: Path, reads: dict[str, list[int]], wanted: set[tuple]) -> dict[tuple, memoryview]:
    """(part, video, frame_idx, track_id) -> JPEG bytes of the wanted crops, reading only the listed row groups.

    Values are memoryviews into one Arrow buffer per file holding only the wanted crops (no copy per crop).
    """
    out: dict[tuple, memoryview] = {}
    for rel, groups in sorted(reads.items()):
        path = as_path(faces) / rel
        try:
            t = parquet_file(path).read_row_groups(sorted(groups), columns=["part", "video", "frame_idx",
                                                                             "track_id", "jpeg"])
        except (pa.ArrowInvalid, OSError) as exc:
            raise OSError(f"{path}: cannot read row groups {sorted(groups)}: {exc}") from None
        cols = t.select(["part", "video", "frame_idx", "track_id"]).to_pydict()
        keys = list(zip(cols["part"], cols["video"], cols["frame_idx"], cols["track_id"]))
        rows = [i for i, k in enumerate(keys) if k in wanted]
        jpeg = t.column("jpeg").take(pa.array(rows, pa.int64())).combine_chunks()
        if jpeg.null_count:
            raise OSError(f"{path}: {jpeg.null_count} wanted crops have no jpeg")
        width = np.int64 if pa.types.is_large_binary(jpeg.type) else np.int32
        offsets = np.frombuffer(jpeg.buffers()[1], width)[jpeg.offset:jpeg.offset + len(jpeg) + 1].tolist()
        data = memoryview(jpeg.buffers()[2]) if jpeg.buffers()[2] is not None else memoryview(b"")
        for j, i in enumerate(rows):
            out[keys[i]] = data[offsets[j]:offsets[j + 1]]
    return out
