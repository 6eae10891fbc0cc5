"""One writer per output folder (WORK, SHARDS, RUN): a lease taken before the first write, held with a heartbeat.

Two runs writing one folder corrupt it (the second deletes the first's temporaries and shards), so each stage
that writes a folder holds its lease: `with lease(folder, "dfprep shards"): ...`. A second writer gets
`LeaseHeld`, one line naming the holder (host, pid, since when, command), which the CLIs turn into exit 2.

Format. Each candidate writes its own entry `FOLDER/_lease-<token>.json` (token: random hex) holding host, pid,
the process's start tick, the UTC start time, the command and `state` ("candidate", then "held"). The holder
rewrites its entry every `heartbeat_s` (a background thread), so its modification time, set by the store's
clock, is its heartbeat. Releasing deletes the entry (also on an exception or Ctrl-C).

Protocol (the same on a local folder and on object storage, which has no atomic create-if-absent):
  1. write my entry (a whole object: one PUT, or a local write-then-rename);
  2. list the folder's entries; every other entry that is stale (its heartbeat older than `ttl_s`, measured
     against my own entry's time so both times come from the store's clock; or, on this host, its process is
     gone) is deleted with a line saying it is taken over, and the folder listed again;
  3. no other entry left: I hold the lease (my entry is rewritten as "held"). Otherwise I delete my entry;
     against a "held" entry I am refused at once; against another candidate I retry after a random wait, a
     few times, then am refused.

Safety (at most one holder), on a store with read-after-write and list-after-write consistency (S3, GCS, a local
disk): suppose A and B both hold. Each wrote its entry before listing; say A's write came first. Then B's
listing came after A's write, so it saw A's entry, unless A's entry had been deleted before it. Only A deletes its
own entry while live (on backing off, and then A does not hold), and another deletes it only when stale: a
heartbeat older than the TTL, or a dead process, neither true of a live holder. So B saw a live entry of A and
did not hold: contradiction. Two candidates that see each other both back off (no one holds), and the random
waits let one through on a later try. A holder whose heartbeat stops for longer than the TTL (a frozen machine)
is presumed gone and may be taken over; should it wake, its heartbeat finds its entry deleted and stops its
run (KeyboardInterrupt in the main thread) instead of writing on. A shared filesystem that caches directory
listings (NFS with attribute caching) does not give list-after-write consistency across hosts: the lease then
guards runs on one host only.
"""
from __future__ import annotations

import json
import os
import random
import secrets
import socket
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from dfprep.atomic import missing_folders, remove_if_empty
from dfprep.errors import UsageError
from dfprep.storage import as_path, is_remote

PREFIX = "_lease-"
SUFFIX = ".json"
TTL_S = 120.0                       # a holder silent this long is presumed gone (another host cannot see its pid)
ATTEMPTS = 6                        # tries against other candidates (never against a holder) before refusing
_WRITING = ".lease-"                # a local entry being written; not an entry, not a temporary of the stage


class LeaseHeld(UsageError):
    """Another live run holds the folder's lease: one line naming it; the CLIs exit 2."""


def lease_ttl() -> float:
    return float(os.environ.get("DFPREP_LEASE_TTL_S") or TTL_S)


def is_lease_name(name: str) -> bool:
    return name.startswith(PREFIX) and name.endswith(SUFFIX)


def _start_tick(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, tick: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                        # another user's live process
    now = _start_tick(pid)
    return tick is None or now is None or now == tick


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe(rec: dict) -> str:
    """'host H, pid P, since T, command C' of an entry (fields it lacks are '?')."""
    return (f"host {rec.get('host', '?')}, pid {rec.get('pid', '?')}, since {rec.get('since', '?')}, "
            f"command `{rec.get('command', '?')}`")


# --- the folder's entries, on a local disk or in object storage -----------------------------------------------

class _Entries:
    """List, write, delete entries; `mtime` from the store itself (a local disk's or the object store's clock)."""

    def __init__(self, folder):
        self.folder = folder

    def write(self, token: str, rec: dict) -> None:
        data = json.dumps(rec, sort_keys=True).encode()
        if is_remote(self.folder):
            from dfprep.storage import store_failures

            p = self.folder / f"{PREFIX}{token}{SUFFIX}"
            with store_failures(p, "write to"), p.fs.open_output_stream(p.fs_path) as f:
                f.write(data)       # one whole object: a reader sees all of it or none
            return
        for _ in range(3):          # the folder may be removed by a releasing holder between mkdir and write
            Path(self.folder).mkdir(parents=True, exist_ok=True)
            tmp = Path(self.folder) / f"{_WRITING}{token}"
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, Path(self.folder) / f"{PREFIX}{token}{SUFFIX}")
                return
            except FileNotFoundError:
                continue
            except BaseException:       # a full disk: no half-written entry stays behind
                tmp.unlink(missing_ok=True)
                raise
        raise FileNotFoundError(f"{self.folder}: removed while its lease was being written")

    def exists(self, token: str) -> bool:
        return (as_path(self.folder) / f"{PREFIX}{token}{SUFFIX}").exists()

    def delete(self, token: str) -> None:
        (as_path(self.folder) / f"{PREFIX}{token}{SUFFIX}").unlink(missing_ok=True)

    def list(self) -> dict[str, tuple[float, dict | None]]:
        """token -> (modification time, record or None when unreadable) of every entry."""
        out: dict[str, tuple[float, dict | None]] = {}
        if is_remote(self.folder):
            import pyarrow.fs as pafs
            from dfprep.storage import store_failures

            with store_failures(self.folder, "list"):
                infos = self.folder.fs.get_file_info(pafs.FileSelector(self.folder.fs_path, allow_not_found=True))
            found = [(i.base_name, i.mtime.timestamp() if i.mtime else 0.0) for i in infos
                     if i.type == pafs.FileType.File and is_lease_name(i.base_name)]
        else:
            try:
                names = [n for n in os.listdir(self.folder) if is_lease_name(n)]
            except FileNotFoundError:
                names = []
            found = []
            for n in names:
                try:
                    found.append((n, os.stat(Path(self.folder) / n).st_mtime))
                except FileNotFoundError:
                    pass
        for name, mtime in found:
            try:
                rec = json.loads((as_path(self.folder) / name).read_bytes())
                rec = rec if isinstance(rec, dict) else None
            except FileNotFoundError:
                continue            # released while we looked
            except (OSError, ValueError):
                rec = None
            out[name[len(PREFIX):-len(SUFFIX)]] = (mtime, rec)
        return out


# --- the lease ------------------------------------------------------------------------------------------------

class Lease:
    """The lease on one folder; `acquire()` then `release()`, or use `lease(...)`."""

    def __init__(self, folder, command: str, ttl_s: float | None = None, heartbeat_s: float | None = None,
                 say: Callable[[str], None] | None = None):
        self.folder = as_path(folder)
        self.ttl_s = ttl_s if ttl_s is not None else lease_ttl()
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else max(0.05, self.ttl_s / 8)
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        self.token = secrets.token_hex(8)
        self.pid = os.getpid()
        self.record = {"host": socket.gethostname(), "pid": self.pid, "start_tick": _start_tick(self.pid),
                       "since": _utc(time.time()), "command": command, "token": self.token, "state": "candidate"}
        self._entries = _Entries(self.folder)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False
        self.held = False
        self._made: list = []

    # acquiring
    def acquire(self) -> "Lease":
        if is_remote(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)   # a missing bucket: MissingBucket (usage), not a store failure
        self._made = [] if is_remote(self.folder) else missing_folders(Path(self.folder))
        try:
            for attempt in range(ATTEMPTS):
                self._entries.write(self.token, self.record)
                live = self._others_alive()
                if not live:
                    self.record["state"] = "held"
                    self._entries.write(self.token, self.record)
                    self.held = True
                    self._thread = threading.Thread(target=self._beat, name=f"lease {self.folder}", daemon=True)
                    self._thread.start()
                    return self
                self._entries.delete(self.token)
                holder = next((r for r in live if r.get("state") == "held"), live[0])
                if holder.get("state") == "held" or attempt == ATTEMPTS - 1:
                    raise LeaseHeld(f"{self.folder} is being written by another run ({describe(holder)}); wait "
                                    "for it to end or stop it (a lease whose holder is gone is taken over)")
                time.sleep(random.uniform(0.05, 0.5) * (attempt + 1))
        except BaseException:
            self._entries_delete_quietly()
            self._remove_folder_if_ours()
            raise
        raise AssertionError("unreachable")

    def _others_alive(self) -> list[dict]:
        """The records of the other live entries, after deleting (and announcing) the stale ones."""
        for _ in range(5):
            entries = self._entries.list()
            mine = entries.pop(self.token, None)
            if mine is None:            # never held without an entry of its own that others can see
                self._entries.write(self.token, self.record)
                continue
            now = mine[0]
            stale = [(t, rec, why) for t, (mtime, rec) in entries.items()
                     if (why := self._stale(now - mtime, rec))]
            for token, rec, why in stale:
                self._entries.delete(token)
                self.say(f"taking over the lease on {self.folder} from {describe(rec or {})}: {why}")
            if not stale:
                return [rec or {"token": t} for t, (_, rec) in entries.items()]
        return [rec or {"token": t} for t, (_, rec) in self._entries.list().items() if t != self.token]

    def _stale(self, age: float, rec: dict | None) -> str | None:
        if age > self.ttl_s:
            return f"its heartbeat is {age:.0f} s old (limit {self.ttl_s:.0f} s)"
        if rec and rec.get("host") == self.record["host"] and isinstance(rec.get("pid"), int) \
                and not _alive(rec["pid"], rec.get("start_tick")):
            return "its process is gone"
        return None

    # holding
    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self._beat_once():
                self.lost = True
                self.say(f"error: the lease on {self.folder} was taken over by another run; stopping this one")
                import _thread

                _thread.interrupt_main()
                return

    def _beat_once(self) -> bool:
        """Refresh the entry; False when it is gone (taken over: this holder was presumed dead)."""
        try:
            if not self._entries.exists(self.token):
                return False
            self._entries.write(self.token, self.record)
        except Exception:  # noqa: BLE001 - the store may be down for a moment: the next beat tries again
            pass
        return True

    # releasing
    def release(self) -> None:
        if os.getpid() != self.pid or not self.held:
            return                  # a forked child (a loader worker) never releases its parent's lease
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.held = False
        if not self.lost:
            self._entries_delete_quietly()
        self._remove_folder_if_ours()

    def _entries_delete_quietly(self) -> None:
        try:
            self._entries.delete(self.token)
        except Exception:  # noqa: BLE001 - the store is down: the entry goes stale and is taken over
            pass

    def _remove_folder_if_ours(self) -> None:
        """Folders this lease created and nothing else wrote to go again (a refused run leaves no folder)."""
        remove_if_empty(self._made)


def holders(folder) -> list[dict]:
    """The records of the entries in `folder` (live or not): for a reader that wants to say who is writing."""
    return [rec or {} for _, rec in _Entries(as_path(folder)).list().values()]


@contextmanager
def lease(folder, command: str, **kwargs) -> Iterator[Lease]:
    """Hold `folder`'s lease for the block; LeaseHeld (one line) when another live run holds it."""
    held = Lease(folder, command, **kwargs).acquire()
    try:
        yield held
    finally:
        held.release()
