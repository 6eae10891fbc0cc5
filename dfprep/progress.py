"""Progress bars (rich) on stderr: a run-wide one that counts outcomes for the closing summary (`Reporter`), and
one over a known number of steps with live fields such as the loss (`StepBar`).

On a terminal a bar redraws in place; anywhere else (a log file, a pipe, CI) rich draws nothing while it runs and
prints the bar's final state once when it stops, so logs get one line per bar, not a stream of redraws.
"""
from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console)


class Reporter:
    def __init__(self, enabled: bool, total: int, title: str):
        self.counts: Counter = Counter()
        self.errors: list[dict] = []
        self.console = Console(stderr=True)
        self.progress = None
        self.enabled = enabled
        if enabled and total:
            self.progress = _progress(self.console)
            self.task = self.progress.add_task(title, total=total, info="")
            self.progress.start()

    def say(self, line: str) -> None:
        """A line above the bar (shown only when progress is on)."""
        if self.enabled:
            self.console.print(line)

    def advance(self, status: str, name: str, error: str | None = None) -> None:
        self.counts[status] += 1
        if status == "error":
            self.errors.append({"video": name, "error": error})
        if self.progress:
            info = " ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
            self.progress.update(self.task, advance=1, info=info)

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None


class StepBar:
    """A bar over `total` steps whose info text (a loss, the step under way) changes as it goes.

    A no-op when disabled, so callers need no `if`. `console` defaults to stderr (tests pass their own).
    """

    def __init__(self, enabled: bool, total: int, title: str, completed: int = 0, info: str = "",
                 console: Console | None = None):
        self.progress = None
        if enabled and total > 0:
            self.progress = _progress(console or Console(stderr=True))
            self.task = self.progress.add_task(title, total=total, completed=completed, info=info)
            self.progress.start()

    def advance(self, n: int = 1, info: str | None = None) -> None:
        if self.progress:
            self.progress.update(self.task, advance=n, **({} if info is None else {"info": info}))

    def info(self, text: str) -> None:
        if self.progress:
            self.progress.update(self.task, info=text)

    def close(self, failed: bool = False) -> None:
        """Stop the bar; `failed`: without its final line, so the error that stopped the work is the line shown."""
        if self.progress:
            if failed:
                self.progress.live.transient = True
            self.progress.stop()
            self.progress = None

    def __enter__(self) -> "StepBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
