"""dfprep.formats.work: WORK's typed readers on a WORK made before the change (tests/golden/v1/work, read only),
their one-line refusals, and writer/reader round trips that give the same bytes as the golden files."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from dfprep.dataset import Status
from dfprep.errors import exit_code
from dfprep.formats.work import batches, faces, inputs, names, runjson, videos
from dfprep.formats.work.names import BatchId, WorkError

GOLDEN = Path(__file__).parent / "golden" / "v1"
WORK = GOLDEN / "work"
HASHES = json.loads((GOLDEN / "hashes.json").read_text())
# The same outputs in the format of issue 24 (dataset and description columns added; tests/golden/make_golden.py
# --hashes-only wrote them from the v1 corpus): what a rewrite of a v1 file gives now.
HASHES_V2 = json.loads((GOLDEN.parent / "v2" / "hashes.json").read_text())
ADDED_V2 = {"videos": ("dataset", "method", "compression", "identity", "source_identity", "audio_label", "mask"),
            "faces": ("dataset", "method")}


@pytest.fixture
def work(tmp_path) -> Path:
    """A copy of the golden WORK that a test may change."""
    shutil.copytree(WORK, tmp_path / "work")
    return tmp_path / "work"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(exc: pytest.ExceptionInfo, path: Path, key: str) -> None:
    text = str(exc.value)
    assert "\n" not in text and str(path) in text and key in text
    assert exit_code(exc.value) == 2


# --- typed readers on the golden WORK ------------------------------------------------------------------------------

def test_videos_reader_gives_every_row_with_the_schema():
    t = videos.read_videos(WORK)
    raw = ds.dataset(WORK / names.VIDEOS, format="parquet").to_table()
    assert t.schema == videos.VIDEO_SCHEMA and t.num_rows == raw.num_rows > 0
    assert sorted(t.column("video").to_pylist()) == sorted(raw.column("video").to_pylist())
    assert {s for s in t.column("status").to_pylist()} <= {s.value for s in Status}
    some = videos.read_videos(WORK, ["part", "video", videos.HASH])
    assert some.column_names == ["part", "video", videos.HASH]
    ok = [r for r in t.to_pylist() if r["status"] == Status.OK]
    assert ok and all(r[videos.HASH] and r["bytes"] > 0 for r in ok)


def test_run_json_and_state_readers():
    run = runjson.read_run_json(WORK)
    summary = json.loads((WORK / names.RUN_JSON).read_text())
    state = json.loads((WORK / names.STATE).read_text())
    assert run.path == WORK / names.RUN_JSON and run.root == summary["root"] == state["root"]
    assert run.fingerprint == summary["fingerprint"] == state["fingerprint"]
    assert run.settings.as_dict() == {k: summary["settings"][k] for k in run.settings.as_dict()}
    assert run.problems == tuple(summary["problems"])
    assert runjson.read_ingest_state(WORK) == run.recorded() == runjson.recorded_ingest(WORK)
    assert runjson.read_state(WORK) == state


def test_batch_plans_match_the_batch_files():
    parts = batches.recorded_parts(WORK)
    assert parts == sorted(int(p.stem.split("-")[1]) for p in (WORK / names.BATCHES).glob("part-*.json"))
    all_videos = set(videos.read_videos(WORK, ["video"]).column("video").to_pylist())
    planned = set()
    for part in parts:
        plan = batches.read_plan(WORK, part)
        done = batches.finished_batches(WORK, part, ("video", "status"))
        assert set(plan) == set(done) and all(batches.batch_done(WORK, BatchId(part, i)) for i in plan)
        for i, rows in done.items():
            assert sorted(plan[i]) == sorted(r["video"] for r in rows)
        planned |= {v for vs in plan.values() for v in vs}
    assert planned == all_videos
    assert batches.journal_batches(WORK, parts[0]) == set() and not (WORK / names.JOURNAL).exists()
    from dfprep.ingest.completion import unfinished_ingest

    assert unfinished_ingest(WORK) is None


def test_face_readers():
    files = faces.face_files(names.faces_dir(WORK))
    assert files == sorted((WORK / names.FACES).glob("part-*/batch-*.parquet")) and files
    table = ds.dataset(WORK / names.FACES, format="parquet").to_table()
    # the golden WORK predates datasets: its files are FACE_SCHEMA without the columns issue 24 added
    added = ("dataset", "method")
    assert table.schema.remove_metadata() == pa.schema([f for f in faces.FACE_SCHEMA if f.name not in added])
    assert faces.conform_faces(table).schema == faces.FACE_SCHEMA
    assert set(faces.conform_faces(table).column("dataset").to_pylist()) == {"dfdc"}
    keys, vectors = faces.read_embeddings(WORK)
    with_embedding = table.filter(table.column("embedding").is_valid())
    assert len(keys) == with_embedding.num_rows == vectors.shape[0] and vectors.shape[1] == 128
    assert set(keys) == set(zip(with_embedding.column("part").to_pylist(), with_embedding.column("video").to_pylist()))
    assert faces.read_embeddings(WORK / "nowhere")[1].shape == (0, 128)


def test_inputs_cache_reader():
    for part in batches.recorded_parts(WORK):
        data = json.loads(inputs.stamps_file(WORK, part).read_text())
        assert inputs.read_stamps(WORK, part) == {k: tuple(v) for k, v in data["files"].items()}
    assert inputs.read_stamps(WORK, 99) == {}


# --- refusals: one line naming the file and the key ---------------------------------------------------------------

@pytest.mark.parametrize("edit, key", [
    (lambda s: s.pop("root"), "key 'root' is missing"),
    (lambda s: s.update(fingerprint=7), "key 'fingerprint' must be a string"),
    (lambda s: s["settings"].update(margin="wide"), "key 'settings.margin'"),
    (lambda s: s.update(problems=["fine", 3]), "key 'problems[1]' must be a string"),
])
def test_a_bad_run_json_is_one_line_naming_the_key(work, edit, key):
    path = work / names.RUN_JSON
    summary = json.loads(path.read_text())
    edit(summary)
    path.write_text(json.dumps(summary))
    with pytest.raises(WorkError, match="run.json: ") as err:
        runjson.read_run_json(work)
    _one_line(err, path, key)


def test_an_older_run_json_gives_the_settings_of_its_config(work):
    path = work / names.RUN_JSON
    summary = json.loads(path.read_text())
    want = runjson.read_run_json(work).settings
    summary.pop("settings")
    path.write_text(json.dumps(summary))
    assert runjson.read_run_json(work).settings == want


def test_missing_or_broken_files_are_one_line(work, tmp_path):
    with pytest.raises(WorkError) as err:
        runjson.read_run_json(tmp_path / "nowhere")
    _one_line(err, tmp_path / "nowhere" / names.RUN_JSON, "not found")
    (work / names.STATE).write_text("[1, 2]")
    with pytest.raises(WorkError) as err:
        runjson.read_ingest_state(work)
    _one_line(err, work / names.STATE, "not a JSON object")
    state = {"settings": json.loads((work / names.RUN_JSON).read_text())["settings"], "fingerprint": None}
    (work / names.STATE).write_text(json.dumps(state))
    with pytest.raises(WorkError) as err:
        runjson.read_ingest_state(work)
    _one_line(err, work / names.STATE, "key 'fingerprint' is null")
    plan = batches.plan_file(work, 0)
    plan.write_text(plan.read_text().replace('"part": 0', '"part": 5'))
    with pytest.raises(WorkError) as err:
        batches.read_plan(work, 0)
    _one_line(err, plan, "not a batch plan of part 0")


def test_a_foreign_or_corrupt_manifest_is_one_line(work, tmp_path):
    victim = sorted((work / names.VIDEOS).rglob("*.parquet"))[0]
    victim.write_bytes(b"not parquet")
    with pytest.raises(WorkError) as err:
        videos.read_videos(work)
    assert "\n" not in str(err.value) and victim.name in str(err.value)
    other = tmp_path / "other"
    (other / names.VIDEOS).mkdir(parents=True)
    pq.write_table(pq.read_table(sorted((WORK / names.VIDEOS).rglob("*.parquet"))[0]).drop(["label"]),
                   other / names.VIDEOS / "x.parquet")
    with pytest.raises(WorkError) as err:
        videos.read_videos(other)
    _one_line(err, other / names.VIDEOS, "missing column(s) ['label']")
    with pytest.raises(WorkError) as err:
        videos.read_videos(tmp_path / "empty")
    _one_line(err, tmp_path / "empty" / names.VIDEOS, "not found")


def test_an_older_manifest_reads_new_columns_as_null(work):
    for f in (work / names.VIDEOS).rglob("*.parquet"):
        pq.write_table(pq.read_table(f).drop(["bytes", videos.HASH]), f)
    t = videos.read_videos(work)
    assert t.schema == videos.VIDEO_SCHEMA and t.column("bytes").null_count == t.num_rows > 0


# --- writers: round trips, the same bytes -----------------------------------------------------------------------------

def test_batch_files_written_from_what_was_read_are_byte_identical(tmp_path):
    """A v1 batch read and written again: the bytes a fresh ingest writes now (v2), and, without the columns
    issue 24 added, the very table of the v1 file (the added ones say DFDC, or null)."""
    for part in batches.recorded_parts(WORK):
        for index in batches.read_plan(WORK, part):
            b = BatchId(part, index)
            rows, face_rows = batches.read_batch_files(WORK, b)
            assert batches.write_batch_files(tmp_path, b, rows, face_rows) == (len(rows), face_rows.num_rows)
            for kind, made, ref in (("videos", batches.videos_file(tmp_path, b), batches.videos_file(WORK, b)),
                                    ("faces", batches.faces_file(tmp_path, b), batches.faces_file(WORK, b))):
                assert _sha(ref) == HASHES[f"work/{ref.relative_to(WORK)}"]
                assert _sha(made) == HASHES_V2[f"work/{ref.relative_to(WORK)}"]
                new, old = pq.read_table(made), pq.read_table(ref)
                assert new.drop(list(ADDED_V2[kind])).equals(old.replace_schema_metadata(None)
                                                             .cast(new.drop(list(ADDED_V2[kind])).schema))
                assert set(new.column("dataset").to_pylist()) == {"dfdc"}
                assert all(new.column(c).null_count == new.num_rows for c in ADDED_V2[kind] if c != "dataset")


def test_journal_round_trip(tmp_path):
    b = BatchId(0, 0)
    rows, face_rows = batches.read_batch_files(WORK, b)
    row = next(r for r in rows if r["n_faces"])
    mine = face_rows.filter(pc.equal(face_rows.column("video"), row["video"]))
    path = batches.journal_file(tmp_path, b, row["video"])
    assert path.parent == tmp_path / names.JOURNAL / "part-0" / "batch-00000" and path.suffix == ".arrow"
    batches.write_journal(path, row, mine)
    back_row, back_faces = batches.read_journal(path)
    assert back_row == row and back_faces.equals(mine) and back_faces.num_rows == row["n_faces"]
    assert batches.journal_batches(tmp_path, 0) == {0}
    found = batches.read_batch_video(WORK, b, row["video"], ["frame_idx", "track_id"])
    assert found[0] == row and found[1].num_rows == row["n_faces"]
    assert batches.read_batch_video(WORK, b, "no-such.mp4", ["frame_idx"]) is None


def test_plan_stamps_run_json_and_state_round_trip(tmp_path):
    plan = {0: ["a.mp4", "b.mp4"], 3: ["c.mp4"]}
    batches.write_plan(tmp_path, 2, plan, 2)
    assert batches.read_plan(tmp_path, 2) == plan and batches.recorded_parts(tmp_path) == [2]
    assert batches.read_plan(tmp_path, 1) is None
    for part in batches.recorded_parts(WORK):
        batches.write_plan(tmp_path, part, batches.read_plan(WORK, part),
                           json.loads(batches.plan_file(WORK, part).read_text())["batch_videos"])
        assert _sha(batches.plan_file(tmp_path, part)) == HASHES[f"work/{names.BATCHES}/part-{part}.json"]
    stamps = {"a.mp4": (10, 123, "ab" * 32)}
    inputs.write_stamps(tmp_path, 2, stamps)
    assert inputs.read_stamps(tmp_path, 2) == stamps
    summary = json.loads((WORK / names.RUN_JSON).read_text())
    runjson.write_run_json(tmp_path, summary)
    assert runjson.read_last_run(tmp_path) == summary
    assert runjson.read_run_json(tmp_path).settings == runjson.read_run_json(WORK).settings
    state = json.loads((WORK / names.STATE).read_text())
    runjson.write_state(tmp_path, state)
    assert runjson.read_state(tmp_path) == state and runjson.read_ingest_state(tmp_path) == runjson.read_ingest_state(WORK)
    assert runjson.read_state(tmp_path / "none") is None and runjson.read_last_run(tmp_path / "none") is None


def test_video_rows_and_tables():
    from dfprep.dataset import VideoEntry

    row = videos.video_row(VideoEntry("b.mp4", 1, label="FAKE", path="/x/b.mp4"), status="ok", n_faces=3)
    assert list(row) == videos.VIDEO_SCHEMA.names and row["n_faces"] == 3 and "path" not in row
    t = videos.videos_table([row, videos.video_row(VideoEntry("a.mp4", 1), status="missing")])
    assert t.column("video").to_pylist() == ["a.mp4", "b.mp4"] and t.schema == videos.VIDEO_SCHEMA
    f = faces.faces_table({c: [] for c in faces.FACE_SCHEMA.names if c != "embedding"})
    assert f.schema == faces.FACE_SCHEMA and f.num_rows == 0 and faces.empty_faces().equals(f)


def test_names():
    assert BatchId(3, 7).name == "batch-00007.parquet" and BatchId(3, 7).journal_name == "batch-00007"
    assert BatchId.index_of("batch-00012.parquet") == 12 == BatchId.index_of("batch-00012")
    assert BatchId.index_of(".tmp-1234abcd-batch-00012.parquet") is None
    assert names.part_of_json("part-4.json") == 4 and names.part_of_json("part-4.json.bak") is None
    assert set(names.INGEST_OUTPUTS) >= {names.VIDEOS, names.FACES, names.RUN_JSON, names.STATE, names.JOURNAL}
