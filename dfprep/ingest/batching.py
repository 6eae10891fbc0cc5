"""Which videos go in which batch file of a part, recorded in WORK/_batches/part-P.json so that a part can grow.

The first run over a part sorts its videos by name, cuts them into batches of `batch_videos` and records that
plan before any video is processed. Later runs keep every recorded batch and cut the videos that no batch holds
yet (videos added to the part) into new batches with the next indices, by the same rule: a finished batch file
is never re-cut or rewritten for growth, and a run resumed after an interruption finds the plan it started
from. A WORK written before plans were recorded gets the plan its finished batch files imply.

What each finished batch says of its videos is checked against the part as it is now. A video gone from
metadata.json and the folder, or an ingested (`ok`) video that is no longer a listed file, stops the run with
one line (a WORK does not shrink). A video whose entry changed otherwise (a `missing` file that appeared, an
`unlisted` file now listed, a new label, a file replaced by another: `dfprep.ingest.inputs`) is redone: its batch
is reopened for just it (`reopen_batch`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from dfprep.storage import rmtree
from dfprep.ingest.batches import RETRYABLE_ERRORS, Batch
from dfprep.dataset import Status, VideoEntry, video_name_problem
from dfprep.formats.work.batches import (finished_batches, journal_batches, journal_dir, plan_file, read_plan,
                                         write_plan)
from dfprep.formats.work.videos import HASH
from dfprep.ingest.discover import DISCOVERY_ERRORS, IngestUsageError

STORED = ("video", "status", "error", "label", "original", "split", "bytes", HASH)   # what a row says of its entry
METADATA_SAYS = ("label", "original", "split")      # what metadata.json says of a video; faces rows carry two
_SHRINK = "a WORK does not shrink: restore them, ingest into another --out, or --overwrite to start again"

NoWorkRow = Callable[[VideoEntry], dict]       # an entry that needs no processing -> its videos.parquet row
SameFile = Callable[[dict, VideoEntry], bool]  # (finished row, entry now) -> is the listed file the one processed?


# --- planning (no file access) ------------------------------------------------------------------------------------

def cut(names: list[str], batch_videos: int, start: int = 0) -> dict[int, list[str]]:
    """Sorted names in batches of `batch_videos`, indexed from `start`: the one rule for cutting a part."""
    names = sorted(names)
    return {start + i // batch_videos: names[i:i + batch_videos] for i in range(0, len(names), batch_videos)}


def _fate(row: dict, entry: VideoEntry, no_work_row: NoWorkRow, same_file: SameFile) -> str:
    """same | retry | redo | lost: what a finished row of a video means now that its entry is `entry`."""
    if entry.status is Status.PENDING:           # a listed, regular file: a row from processing it is expected
        error = row["error"] or ""
        processed = row["status"] == Status.OK or (row["status"] == Status.ERROR
                                                   and not error.startswith(DISCOVERY_ERRORS))
        if not processed or any(row[k] != getattr(entry, k) for k in METADATA_SAYS):
            return "redo"
        if row["status"] == Status.ERROR and error.startswith(RETRYABLE_ERRORS):
            return "retry"
        return "same" if same_file(row, entry) else "redo"      # the file replaced since: redone
    if row["status"] == Status.OK:
        return "lost"
    want = no_work_row(entry)
    return "same" if all(want[k] == row[k] for k in STORED) else "redo"


def _videos(items: list) -> str:
    return f"{len(items)} video{'s' if len(items) != 1 else ''}"


def _examples(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@dataclass
class PartPlan:
    """One part's batches for this run, and what its finished batches need."""
    batches: list[Batch]
    plan: dict[int, list[str]]
    changed: bool                                            # the plan differs from the recorded one
    finished: set[int] = field(default_factory=set)
    redo: dict[int, set[str]] = field(default_factory=dict)  # finished batch -> videos whose entry changed
    retry: dict[int, set[str]] = field(default_factory=dict)  # finished batch -> videos with a RETRYABLE error


def plan_part(work: Path, part: int, entries: list[VideoEntry], batch_videos: int, recorded: dict[int, list[str]] | None,
              finished: dict[int, list[dict]], no_work_row: NoWorkRow,
              same_file: SameFile = lambda row, entry: True) -> PartPlan:
    """The part's batches: the recorded ones (or, without a record, those its finished files imply), then new
    batches for the videos none holds. IngestUsageError when the part shrank or the record contradicts a file."""
    by_name: dict[str, list[VideoEntry]] = {}
    for e in sorted(entries, key=lambda e: (e.video, e.status.value)):
        by_name.setdefault(e.video, []).append(e)
    out = PartPlan([], {}, False, set(finished))
    gone, lost = [], []
    for i, rows in sorted(finished.items()):
        for r in rows:
            es = by_name.get(r["video"])
            fate = "gone" if not es else _fate(r, es[0], no_work_row, same_file)
            if fate == "gone":
                gone.append(r["video"])
            elif fate == "lost":
                lost.append(f"{r['video']} now {es[0].status.value}")
            elif fate in ("redo", "retry"):
                getattr(out, fate).setdefault(i, set()).add(r["video"])
    if gone or lost:
        what = ([f"{_videos(gone)} removed from metadata.json and the folder ({_examples(sorted(gone))})"]
                if gone else []) + ([f"{_videos(lost)} ingested but no longer a listed file ({_examples(lost)})"]
                                    if lost else [])
        raise IngestUsageError(f"part {part} changed since {work} ingested it: {'; '.join(what)}; {_SHRINK}")

    stored = {i: sorted(r["video"] for r in rows) for i, rows in finished.items()}
    if recorded is None:                         # a WORK from before plans: the old rule, if its files agree
        rule = cut(list(by_name), batch_videos)
        plan = rule if all(rule.get(i) == vs for i, vs in stored.items()) else dict(stored)
    else:
        plan = {i: list(vs) for i, vs in recorded.items()}
        _check_names(work, part, plan, by_name)
        for i, vs in stored.items():
            if sorted(plan.get(i, [])) != vs:
                raise IngestUsageError(f"{plan_file(work, part)}: batch {i} does not list the videos of its "
                                       f"finished file (WORK changed by hand?); --overwrite to start again")
    for i in [i for i in plan if i not in finished]:
        plan[i] = [v for v in plan[i] if v in by_name]   # gone before its batch finished: it leaves the batch
        if not plan[i]:
            del plan[i]
    placed = {v for vs in plan.values() for v in vs}
    plan.update(cut([v for v in by_name if v not in placed], batch_videos, max([*plan, *finished], default=-1) + 1))
    out.plan, out.changed = plan, plan != recorded
    out.batches = [Batch(part, i, [e for v in plan[i] for e in by_name[v]]) for i in sorted(plan)]
    return out


def _check_names(work: Path, part: int, plan: dict[int, list[str]], by_name: dict[str, list[VideoEntry]]) -> None:
    """A recorded name that is a path (absolute, `..`, a separator, a scheme) is refused unless it is a metadata
    key of the part that was rejected as such (a `rejected` row records the key as given, and is never opened)."""
    for i, vs in sorted(plan.items()):
        for v in vs:
            why = video_name_problem(part, v)
            if why and not any(e.status is Status.REJECTED for e in by_name.get(v, ())):
                raise IngestUsageError(f"{plan_file(work, part)}: batch {i} names {v!r}: {why}, and part {part} has "
                                       "no such rejected key (WORK changed by hand?); --overwrite to start again")


# --- the run's view -----------------------------------------------------------------------------------------------

@dataclass
class Planned:
    """Every selected part's plan, keyed by (part, batch index) where a run needs it."""
    parts: dict[int, PartPlan]

    @property
    def batches(self) -> list[Batch]:
        return [b for p in sorted(self.parts) for b in self.parts[p].batches]

    def finished(self, b: Batch) -> bool:
        return b.index in self.parts[b.part].finished

    def redo(self, b: Batch) -> set[str]:
        return self.parts[b.part].redo.get(b.index, set())

    def retry(self, b: Batch) -> set[str]:
        return self.parts[b.part].retry.get(b.index, set())


def plan_batches(work: Path, entries: list[VideoEntry], batch_videos: int, no_work_row: NoWorkRow,
                 same_file: SameFile = lambda row, entry: True) -> Planned:
    """Plan every part that has entries, reading WORK but writing nothing (a refused run leaves WORK as it was).
    `same_file` tells whether a listed file is still the one a finished row was made from (`dfprep.ingest.inputs`)."""
    by_part: dict[int, list[VideoEntry]] = {}
    for e in entries:
        by_part.setdefault(e.part, []).append(e)
    return Planned({p: plan_part(work, p, es, batch_videos, read_plan(work, p), finished_batches(work, p, STORED),
                                 no_work_row, same_file) for p, es in sorted(by_part.items())})


def record_plans(work: Path, planned: Planned, batch_videos: int) -> None:
    """Write each changed plan (atomically) before any video is processed; drop journals of unplanned batches
    (left by a WORK from before plans whose part grew)."""
    for part, pp in planned.parts.items():
        if pp.changed:
            write_plan(work, part, pp.plan, batch_videos)
        for i in journal_batches(work, part) - set(pp.plan):
            rmtree(journal_dir(work, Batch(part, i)))
