"""Has WORK's ingest finished? Read from what is on disk, so that no later stage trusts a half-written WORK.

An ingest records each part's batch plan before it processes any video, journals each finished video, merges a
complete batch into its files (then drops its journal) and writes run.json last. So WORK is finished when
run.json exists, every planned batch has its videos file and no journal entry is left. Anything else is an
ingest that was stopped (or is still running): a first run killed (no run.json), a WORK grown by a run that was
killed (the old run.json, new batches without files), a batch reopened to redo a changed video (its journal).
"""
from __future__ import annotations

from pathlib import Path

from dfprep.storage import as_path

ALLOW_PARTIAL = "--allow-partial"


def unfinished_ingest(work: Path) -> str | None:
    """Why WORK's ingest is unfinished, in a few words ("12 of 36 planned videos not finished"); None when it
    finished, or when `dfprep ingest` did not write WORK (no _state.json, no run.json)."""
    from dfprep.formats.work.batches import journal_batches, read_plan, recorded_parts, videos_part_dir
    from dfprep.formats.work.names import RUN_JSON, BatchId, journal_root, run_json_path, state_path

    work = as_path(work)
    if not state_path(work).is_file() and not run_json_path(work).is_file():
        return None
    total = left = 0
    for part in recorded_parts(work):
        folder = videos_part_dir(work, part)
        done = {BatchId.index_of(f.name) for f in folder.iterdir()} if folder.is_dir() else set()
        open_ = journal_batches(work, part)
        for i, videos in read_plan(work, part).items():
            total += len(videos)
            if i not in done or i in open_:
                left += len(videos)
    if left:
        return f"{left} of {total} planned videos not finished"
    journal = journal_root(work)
    if journal.is_dir() and any(f.is_file() for f in journal.rglob("*")):
        return f"{journal} still holds videos of an unmerged batch"
    if not run_json_path(work).is_file():
        return f"no {RUN_JSON}: the last ingest stopped before recording its end"
    return None


def partial_message(work: Path, reason: str) -> str:
    """The one line a stage refusing an unfinished WORK prints."""
    return (f"{work}: the ingest is unfinished ({reason}); rerun `dfprep ingest` to finish it, or give "
            f"{ALLOW_PARTIAL} to use what is there (the outputs then record partial)")
