"""Batch planning without Ray (`dfprep.ingest.batching`): which videos go in which batch file, how a part grows,
which finished batches are reopened for which videos, and what is refused."""
from __future__ import annotations

import pytest

from dfprep.dataset import Status, VideoEntry
from dfprep.ingest.batches import Batch
from dfprep.formats.work.batches import read_plan
from dfprep.ingest.batching import cut, plan_batches, plan_part, record_plans
from dfprep.ingest.discover import IngestUsageError
from dfprep.formats.work.videos import video_row


def _entries(*names: str, part: int = 0, **values) -> list[VideoEntry]:
    return [VideoEntry(n, part, label="REAL", split="train", path=f"/root/{n}", **values) for n in names]


def _done(e: VideoEntry, **values) -> dict:
    """The finished row a processed entry left (what `finished_batches` reads)."""
    return video_row(e, **{"status": Status.OK, **values})


def _plan(entries, recorded=None, finished=None, batch_videos=2, same_file=lambda row, entry: True):
    return plan_part("WORK", 0, entries, batch_videos, recorded, finished or {}, video_row, same_file)


def test_cut_sorts_names_into_batches_from_an_index():
    assert cut(["c", "a", "e", "b", "d"], 2) == {0: ["a", "b"], 1: ["c", "d"], 2: ["e"]}
    assert cut(["z", "y"], 3, start=7) == {7: ["y", "z"]}


def test_first_plan_cuts_the_part_by_name():
    es = _entries("d.mp4", "a.mp4", "c.mp4", "b.mp4", "e.mp4")
    pp = _plan(es)
    assert pp.plan == {0: ["a.mp4", "b.mp4"], 1: ["c.mp4", "d.mp4"], 2: ["e.mp4"]} and pp.changed
    assert [b.index for b in pp.batches] == [0, 1, 2]
    assert [e.video for e in pp.batches[1].entries] == ["c.mp4", "d.mp4"]
    assert all(isinstance(e, VideoEntry) for b in pp.batches for e in b.entries)
    assert pp.batches[0].key == "part-0/batch-00000"


def test_a_grown_part_keeps_its_batches_and_cuts_new_ones_after_them():
    old = _entries("a.mp4", "b.mp4", "c.mp4")
    recorded = {0: ["a.mp4", "b.mp4"], 1: ["c.mp4"]}
    finished = {0: [_done(old[0]), _done(old[1])]}
    now = old + _entries("f.mp4", "d.mp4", "e.mp4")
    pp = _plan(now, recorded, finished)
    # batch 1 is not finished but recorded: it keeps its one video; new names go to batches 2 and 3
    assert pp.plan == {0: ["a.mp4", "b.mp4"], 1: ["c.mp4"], 2: ["d.mp4", "e.mp4"], 3: ["f.mp4"]} and pp.changed
    assert pp.finished == {0} and pp.redo == {} and pp.retry == {}
    assert not _plan(old, recorded, finished).changed         # nothing new: the record stands


def test_a_finished_batch_is_reopened_for_a_retryable_error_and_a_changed_entry_only():
    es = _entries("a.mp4", "b.mp4", "c.mp4", "d.mp4")
    finished = {0: [_done(es[0], label="FAKE"),                 # metadata.json now says REAL: redo
                    _done(es[1], status=Status.ERROR, error="timed out after 300 s (decoder hung?)")],
                1: [_done(es[2]), _done(es[3])]}
    pp = _plan(es, {0: ["a.mp4", "b.mp4"], 1: ["c.mp4", "d.mp4"]}, finished)
    assert pp.redo == {0: {"a.mp4"}} and pp.retry == {0: {"b.mp4"}} and not pp.changed
    replaced = _plan(es, {0: ["a.mp4", "b.mp4"], 1: ["c.mp4", "d.mp4"]}, {1: finished[1]},
                     same_file=lambda row, entry: entry.video != "d.mp4")     # d.mp4 replaced by another file
    assert replaced.redo == {1: {"d.mp4"}}


def test_a_video_that_needed_no_work_is_redone_when_its_entry_changes():
    missing = VideoEntry("m.mp4", 0, label="REAL", status=Status.MISSING, error="absent")
    row = video_row(missing)
    assert _plan([missing], {0: ["m.mp4"]}, {0: [row]}).redo == {}
    appeared = _entries("m.mp4")                                # the file is there now
    assert _plan(appeared, {0: ["m.mp4"]}, {0: [row]}).redo == {0: {"m.mp4"}}


def test_a_part_that_shrank_is_refused():
    es = _entries("a.mp4", "b.mp4")
    finished = {0: [_done(es[0]), _done(es[1])]}
    with pytest.raises(IngestUsageError, match=r"part 0 changed .*1 video removed .*\(b\.mp4\)"):
        _plan(es[:1], {0: ["a.mp4", "b.mp4"]}, finished)
    gone = [es[0], es[1].replace(status=Status.MISSING, path=None)]
    with pytest.raises(IngestUsageError, match="ingested but no longer a listed file .b.mp4 now missing"):
        _plan(gone, {0: ["a.mp4", "b.mp4"]}, finished)


def test_an_unfinished_batch_drops_a_video_gone_before_it_ran():
    pp = _plan(_entries("a.mp4"), {0: ["a.mp4", "b.mp4"]}, {})
    assert pp.plan == {0: ["a.mp4"]}


def test_a_record_contradicting_a_finished_file_is_refused():
    es = _entries("a.mp4", "b.mp4")
    with pytest.raises(IngestUsageError, match="batch 0 does not list the videos of its finished file"):
        _plan(es, {0: ["a.mp4"], 1: ["b.mp4"]}, {0: [_done(es[0]), _done(es[1])]})


def test_a_work_from_before_plans_gets_the_plan_its_files_imply():
    es = _entries("a.mp4", "b.mp4", "c.mp4")
    agree = _plan(es, None, {0: [_done(es[0]), _done(es[1])]})
    assert agree.plan == {0: ["a.mp4", "b.mp4"], 1: ["c.mp4"]}
    odd = _plan(es, None, {0: [_done(es[0]), _done(es[2])]})   # cut by another rule: its files stand
    assert odd.plan == {0: ["a.mp4", "c.mp4"], 1: ["b.mp4"]}


def test_plans_are_recorded_per_part_and_read_back(tmp_path):
    es = _entries("a.mp4", "b.mp4", "c.mp4") + _entries("x.mp4", part=3)
    planned = plan_batches(tmp_path, es, 2, video_row)
    assert [(b.part, b.index) for b in planned.batches] == [(0, 0), (0, 1), (3, 0)]
    assert not any(tmp_path.iterdir())                      # planning writes nothing
    record_plans(tmp_path, planned, 2)
    assert read_plan(tmp_path, 0) == {0: ["a.mp4", "b.mp4"], 1: ["c.mp4"]} and read_plan(tmp_path, 3) == {0: ["x.mp4"]}
    grown = plan_batches(tmp_path, es + _entries("d.mp4"), 2, video_row)
    # a recorded batch is never re-cut, even an unfinished one: the new video gets a batch of its own
    assert grown.parts[0].plan == {0: ["a.mp4", "b.mp4"], 1: ["c.mp4"], 2: ["d.mp4"]} and grown.parts[0].changed
    assert not grown.finished(Batch(0, 0))
