"""The settings of `dfprep analyze` (its options are derived from `AnalyzeConfig`) and the summary it prints.

`analyze()` returns the stats.json document itself (every section's numbers, indexed by the tests and the page);
`AnalyzeSummary` is the few facts the command prints from it, read once here rather than by string in the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass

from dfprep.options import opt


@dataclass
class AnalyzeConfig:
    """Every report setting that is not a folder; field names are `analyze()`'s keyword arguments."""
    gallery_size: int = opt(8, "Crops per gallery row (REAL, FAKE, fake/original pairs).", flag="--gallery", min=0)
    seed: int = opt(0, "Seed for choosing gallery crops.")
    augment_preview: bool = opt(True, "Show the shard stage's augmentations on a few crops.")
    progress: bool = opt(True, "Progress bar over the report's steps (stderr).")
    allow_partial: bool = opt(False, "Report on a WORK whose ingest did not finish (stats.json then says partial: "
                                     "true).")


@dataclass(frozen=True)
class AnalyzeSummary:
    """What `dfprep analyze` prints: the totals, why the WORK is partial, alarms, leakage counts, the outputs."""
    videos: int
    real: int
    fake: int
    ok: int | None                  # None for a metadata-only report (nothing decoded)
    faces: int | None
    partial_reason: str | None      # None when WORK's ingest finished
    alarms: tuple[str, ...]
    shared_crop_hashes: int         # crop hashes shared across families (leakage between families)
    leaking_clusters: int           # identity clusters with videos in more than one split of SHARDS
    html: str
    stats: str

    @classmethod
    def of(cls, stats: dict) -> "AnalyzeSummary":
        """The summary of a stats.json document as `analyze()` returns it (with `outputs`)."""
        from dfprep.analysis.run import alarm_lines

        t = stats["totals"]
        dup = stats.get("similarity", {}).get("cross_family_duplicates", {})
        leak = stats.get("identity", {}).get("leakage") or {}
        return cls(videos=t["videos"], real=t["REAL"], fake=t["FAKE"], ok=t.get("ok") if "faces" in t else None,
                   faces=t.get("faces"), partial_reason=stats.get("partial_reason") if stats.get("partial") else None,
                   alarms=tuple(alarm_lines(stats).values()), shared_crop_hashes=dup.get("hashes") or 0,
                   leaking_clusters=leak.get("leaking_clusters") or 0, html=stats["outputs"]["html"],
                   stats=stats["outputs"]["stats"])
