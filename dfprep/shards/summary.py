"""What a `dfprep shards` run reports: `make_shards` returns a `ShardsSummary`, which the CLI prints.

index.json is what the run wrote (`index`, as the file holds it); the rest is this run's own account: what it
wrote, reused and kept, what a growth added, a re-split, timings. None of it is written to a file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dfprep.dataset import SPLITS


@dataclass(frozen=True)
class GrowthSummary:
    """What a run added to SHARDS (`grow.growth_summary`): generation 0 is a first cut, None nothing new."""
    generation: int | None
    kept: int                                   # shards of earlier generations kept as they are
    new_families: dict[str, int] = field(default_factory=dict)      # split -> families split by the rule
    joined_families: dict[str, int] = field(default_factory=dict)   # split -> families an earlier generation fixed
    new_shards: dict[str, int] = field(default_factory=dict)        # split -> shards this run planned


@dataclass(frozen=True)
class SplitSummary:
    """One split of the folder after the run, over every generation (from index.json)."""
    name: str
    samples: int
    real: int
    fake: int
    families: int
    shards: int
    bytes: int


@dataclass(frozen=True)
class ShardsSummary:
    """What `make_shards` did: the index it wrote (or found, when nothing was new) and this run's account."""
    out: str                                    # SHARDS, resolved
    index: dict                                 # index.json's content
    written: int                                # shards written by this run
    reused: int                                 # shards of this generation a resumed run kept (sha256 matched)
    growth: GrowthSummary
    nothing_new: str | None = None              # why nothing was written, when nothing was
    resplit: dict | None = None                 # index.json's `resplit`, when this run re-split a changed WORK
    timings: dict = field(default_factory=dict)  # plan_s, write_s, total_s, write_mb_per_s (seconds, MB/s)

    @property
    def splits(self) -> list[SplitSummary]:
        """Every split index.json lists, in SPLITS order."""
        out = []
        for name in SPLITS:
            s = self.index["splits"].get(name)
            if s is not None:
                out.append(SplitSummary(name, s["samples"], s["real"], s["fake"], s["families"], len(s["shards"]),
                                        s["bytes"]))
        return out

    @property
    def warnings(self) -> list[str]:
        return list(self.index.get("warnings", []))

    @property
    def class_weights(self) -> dict | None:
        return self.index.get("class_weights")
