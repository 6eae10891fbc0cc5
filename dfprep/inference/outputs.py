"""Where `dfprep predict` puts its outputs and temporaries, for a local or a remote (dfprep.storage) OUT.

A local OUT gets its journal beside it and its files renamed into place; a remote OUT gets its journal in a local
staging folder, and the submission and its report are uploaded whole once written (dfprep.atomic)."""
from __future__ import annotations

import fnmatch
import glob
import shutil
import tempfile
from pathlib import Path

from dfprep.atomic import TMP_MARK, tmp_name
from dfprep.storage import AnyPath, as_path, entries, is_remote, staging_dir


def report_path(out: AnyPath) -> AnyPath:
    """The sidecar beside the submission: `submission.csv.report.json`."""
    out = as_path(out)
    return out.with_name(out.name + ".report.json")


def remove_stale_tmp_siblings(out: AnyPath) -> None:
    """Delete this output's temporaries left by an interrupted predict (journal folders, half-written files;
    for a remote OUT, the temporary keys of an upload that was cut off)."""
    out = as_path(out)
    pattern = f"{TMP_MARK}*-{glob.escape(out.name)}*"
    if is_remote(out):
        for p, is_dir in entries(out.parent):
            if not is_dir and fnmatch.fnmatchcase(p.name, pattern):
                p.unlink(missing_ok=True)
        return
    for p in out.parent.glob(pattern):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def journal_folder(out: AnyPath) -> Path:
    """Where Ray workers write one journal file per video: beside a local OUT; for a remote OUT a local staging
    folder (DFPREP_STAGING_DIR, else the system temp; on a cluster of several nodes, a folder every node sees)."""
    if not is_remote(out):
        journal = tmp_name(out.with_name(out.name + ".journal"))
        journal.mkdir()
        return journal
    return Path(tempfile.mkdtemp(prefix=f"{TMP_MARK}{out.name}.journal-", dir=staging_dir()))
