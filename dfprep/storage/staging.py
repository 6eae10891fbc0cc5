"""A local working folder for an output tree that lives in object storage.

Stages whose outputs are many small files rewritten as they go (a training RUN with its TensorBoard log and
checkpoints, a report with its figures) write into a local staging folder exactly as they would locally;
`sync()` uploads each finished file (temporary key, then moved), and the folder is synced once more when the
block ends, successful or not, so a rerun resumes from what was finished. Files whose names carry the
temporary mark are in progress and never uploaded. Names given as `last` are uploaded after every other file, in
the order given: they are the commit markers readers trust (a reader that sees them finds everything they name).
"""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from dfprep.storage import AnyPath, is_remote, staging_dir, store_failures, upload_file
from dfprep.storage.remote import TMP_MARK


class Staged:
    """`local` is where the stage writes; `dest` where the outputs live."""

    def __init__(self, dest: AnyPath, local: Path, last: tuple[str, ...] = ()):
        self.dest, self.local, self.last = dest, local, last
        self._sent: dict[str, tuple[int, int]] = {}

    @property
    def remote(self) -> bool:
        return is_remote(self.dest)

    def pull(self) -> int:
        """Copy the finished files already at `dest` into the staging folder (to resume from them)."""
        if not self.remote or not self.dest.is_dir():
            return 0
        import pyarrow.fs as pafs

        from dfprep.lease import is_lease_name

        n = 0
        for p in self.dest.rglob("*"):
            rel = p.relative_to(self.dest)
            if TMP_MARK in rel or is_lease_name(p.name) or not p.is_file():     # a lease names its holder
                continue
            target = self.local / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with store_failures(p):
                pafs.copy_files(p.fs_path, str(target), source_filesystem=p.fs,
                                destination_filesystem=pafs.LocalFileSystem(), use_threads=False)
            st = target.stat()
            self._sent[rel] = (st.st_size, st.st_mtime_ns)
            n += 1
        return n

    def sync(self) -> int:
        """Upload every finished file that changed since the last sync; the `last` names after the rest."""
        if not self.remote:
            return 0
        todo = []
        for path in sorted(self.local.rglob("*")):
            rel = path.relative_to(self.local).as_posix()
            if not path.is_file() or TMP_MARK in rel:
                continue
            st = path.stat()
            if self._sent.get(rel) != (st.st_size, st.st_mtime_ns):
                rank = self.last.index(path.name) if path.name in self.last else -1
                todo.append((rank, rel, path, (st.st_size, st.st_mtime_ns)))
        for _, rel, path, sig in sorted(todo):
            try:
                upload_file(path, self.dest / rel)
            except FileNotFoundError:
                continue                        # replaced while we looked (a rename onto it follows)
            self._sent[rel] = sig
        return len(todo)


@contextmanager
def staged_output(dest: AnyPath, last: tuple[str, ...] = (), pull: bool = False) -> Iterator[Staged]:
    """A local folder to write `dest`'s files into: `dest` itself when local, else a staging folder synced to it
    (DFPREP_STAGING_DIR, else the system temp), deleted afterwards."""
    if not is_remote(dest):
        Path(dest).mkdir(parents=True, exist_ok=True)
        yield Staged(dest, Path(dest), last)
        return
    local = Path(tempfile.mkdtemp(prefix="dfprep-stage-", dir=staging_dir()))
    staged = Staged(dest, local, last)
    try:
        if pull:
            staged.pull()
        try:
            yield staged
        except BaseException:
            try:                            # keep what was finished, best effort; the block's own error wins
                staged.sync()
            except Exception:  # noqa: BLE001
                pass
            raise
        staged.sync()
    finally:
        shutil.rmtree(local, ignore_errors=True)
