"""A run-wide progress bar (rich) that also counts outcomes for the closing summary."""
from __future__ import annotations

import sys
from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn


class Reporter:
    def __init__(self, enabled: bool, total: int, title: str):
        self.counts: Counter = Counter()
        self.errors: list[dict] = []
        self.console = Console(stderr=True)
        self.progress = None
        self.enabled = enabled
        if enabled and total:
            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                     TimeRemainingColumn(), console=self.console,
                                     disable=not sys.stderr.isatty() and False)
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
