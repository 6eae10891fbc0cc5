"""What a training run ends with (`TrainSummary`): what `train()` returns and `dfprep train` prints, and what
RUN/metrics.json holds (`as_json()`, the same keys in the same order as before it was typed)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainSummary:
    """A run's state at its end or after an epoch. `val`/`test`: {"frame"|"video": metrics} of the best epoch
    (None before any validation, or with no test split); `history`: one row of metrics per finished epoch."""
    status: str                 # complete | running (written after an epoch) | stopped (max_steps, interrupted)
    epochs_done: int
    steps: int
    best_epoch: int | None
    val: dict | None
    test: dict | None
    history: list
    model: str
    unit: str
    seconds: float | None       # None while running

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def as_json(self) -> dict:
        """metrics.json's document."""
        return asdict(self)

    @classmethod
    def of_state(cls, st: dict, config: dict, test: dict | None, complete: bool, seconds: float | None,
                 epoch_done: int | None = None) -> "TrainSummary":
        """The summary of the trainer's state `st` (epoch, step, best, history) and the run's config.json."""
        best = st["best"] or {}
        return cls(status="complete" if complete else ("running" if epoch_done else "stopped"),
                   epochs_done=st["epoch"] if epoch_done is None else epoch_done, steps=st["step"],
                   best_epoch=best.get("epoch"), val=best.get("val"), test=test, history=st["history"],
                   model=config["model"], unit=config["unit"],
                   seconds=round(seconds, 3) if seconds is not None else None)
