"""Where a run writes RUN: the folder itself, or for a remote RUN (s3://, gs://, hdfs://) a local staging folder
uploaded as training goes (`dfprep.storage.staging`).

A remote RUN is consistent at every moment a reader or a resumed run can see it:

- every object is uploaded whole (a temporary key, then moved onto its name);
- at each checkpoint the files the checkpoint refers to are uploaded first (steps.csv up to its step, history,
  TensorBoard events, predictions, model.pt; metrics.json, which readers trust, after them), and
  `checkpoints/last.pt` after those (staging's `last` names, in order): a single file, the commit marker
  `--resume` trusts. A run cut off before last.pt is uploaded leaves the previous last.pt, from which the resumed run replays the epoch and rewrites the
  same model.pt; never a last.pt newer than the model it names best;
- checkpoints/epoch-NNN.pt that the local folder no longer keeps are deleted from the store after the upload;
- at the end (or when the run fails) every finished file is uploaded, in the same order.

`--resume` pulls the RUN into the staging folder first (only when it holds a last.pt); without `--resume` a
RUN that holds one is refused, as a local RUN is.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from dfprep.atomic import missing_folders, remove_if_empty
from dfprep.storage import AnyPath, as_path, is_remote
from dfprep.formats.run import CHECKPOINTS, LAST, METRICS, MODEL, epoch_checkpoint_name, last_checkpoint
from dfprep.train.errors import TrainUsageError

# Uploaded after every other file of a sync, in this order: the model, the metrics readers trust, then the
# checkpoint a resumed run trusts (never a last.pt newer than the model and metrics it names).
COMMITTED_LAST = (MODEL, METRICS, LAST)


@dataclass
class RunStore:
    """`local`: where the run writes; `dest`: the RUN as the user named it (messages name it)."""
    dest: AnyPath
    local: Path
    staged: object | None = None        # a dfprep.storage.staging.Staged for a remote RUN

    @property
    def remote(self) -> bool:
        return self.staged is not None

    def sync(self) -> None:
        """Upload what changed since the last sync (metrics.json after the rest), then drop the epoch
        checkpoints the local folder no longer keeps. A no-op for a local RUN."""
        if not self.remote:
            return
        self.staged.sync()
        folder = self.dest / CHECKPOINTS
        for p in list(folder.iterdir()):
            if epoch_checkpoint_name(p.name) and not (self.local / CHECKPOINTS / p.name).is_file():
                p.unlink(missing_ok=True)


@contextmanager
def run_lease(out: AnyPath, d) -> Iterator[None]:
    """RUN's lease (`dfprep.lease`) for the block, held by rank 0 alone; under DDP every rank learns rank 0's
    outcome, so a refused run stops on all ranks with the same one line (TrainUsageError on the others)."""
    from dfprep.lease import Lease, LeaseHeld
    from dfprep.train.ddp import broadcast_object

    out = as_path(out)
    if is_remote(out) and out.scheme in ("http", "https"):
        yield                       # read-only: run_folder refuses it with its own line
        return
    held, refusal = None, None
    if d.is_main:
        try:
            held = Lease(out, "dfprep train").acquire()
        except LeaseHeld as exc:
            refusal = exc
    refused = broadcast_object(d, str(refusal) if refusal is not None else None)
    if refusal is not None:
        raise refusal
    if refused is not None:
        raise TrainUsageError(refused)
    try:
        yield
    finally:
        if held is not None:
            held.release()


@contextmanager
def run_folder(out: AnyPath, resume: bool, main: bool = True) -> Iterator[RunStore]:
    """The RunStore of RUN=out for one rank; the remote staging folder is synced once more and deleted when the
    block ends, successfully or not (so a rerun with --resume continues from what was finished). `--resume` without
    a checkpoint to resume is refused; a local RUN this call made is removed again when the run fails before writing
    anything into it."""
    out = as_path(out)
    if not is_remote(out):
        out = Path(out).resolve()
        if resume and not last_checkpoint(out).is_file():
            raise TrainUsageError(nothing_to_resume(out))
        made = missing_folders(out)
        out.mkdir(parents=True, exist_ok=True)
        try:
            yield RunStore(out, out)
        except BaseException:
            if main:
                remove_if_empty(made)      # a run refused before it wrote anything leaves no RUN behind
            raise
        return
    if out.scheme in ("http", "https"):
        raise TrainUsageError(f"{out}: http(s) locations are read-only; write RUN to s3://, gs://, hdfs:// or a "
                              "local folder")
    from dfprep.atomic import remove_stale_tmp
    from dfprep.storage.staging import staged_output

    out.mkdir(parents=True, exist_ok=True)      # a missing bucket: MissingBucket, before anything is written
    held = last_checkpoint(out).is_file()
    if resume and not held:
        raise TrainUsageError(nothing_to_resume(out))
    if held and not resume:
        raise TrainUsageError(f"{out} already holds a run; use --resume to continue it, or another --out")
    if main:
        remove_stale_tmp(out)                   # uploads cut off by an earlier failure; nothing trusts them
    with staged_output(out, last=COMMITTED_LAST, pull=held) as staged:    # a failure's own error wins
        yield RunStore(out, staged.local, staged)


def nothing_to_resume(out: AnyPath) -> str:
    return (f"nothing to resume in RUN: {out} holds no {CHECKPOINTS}/{LAST} (no run, or one stopped before its "
            "first checkpoint); run without --resume to start one")
