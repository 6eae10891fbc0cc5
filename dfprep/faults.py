"""Fault injection for tests and drills: make the real worker process hang or crash on a named video.

`DFPREP_FAULTS="hang:a.mp4,crash:b.mp4"` in the environment of the Ray workers. Off unless set; the
scheduler must then turn the hang into a timeout error and the crash into a worker-died error.

`hold:a.mp4` with `DFPREP_FAULTS_DIR=D` is a handshake for tests that interrupt a run at a known point: the
worker that reaches a.mp4 creates D/a.mp4.held, then waits until D/a.mp4.release exists (the run cannot finish
before the test has acted).
"""
from __future__ import annotations

import os
import signal
import time


def _faults() -> dict[str, str]:
    spec = os.environ.get("DFPREP_FAULTS", "")
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        kind, _, name = item.partition(":")
        out[name] = kind
    return out


HELD, RELEASE = ".held", ".release"


def maybe_inject(video: str) -> None:
    kind = _faults().get(video)
    if kind == "hold":
        folder = os.environ["DFPREP_FAULTS_DIR"]
        open(os.path.join(folder, video + HELD), "w").close()
        while not os.path.exists(os.path.join(folder, video + RELEASE)):
            time.sleep(0.05)
    elif kind == "hang":
        while True:
            time.sleep(3600)
    elif kind == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
