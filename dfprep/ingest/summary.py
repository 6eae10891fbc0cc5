"""`IngestSummary`: what `dfprep.ingest.run.ingest` returns and `dfprep ingest` prints; run.json holds the same
values (as `record`, written unchanged) with the run's config, settings and versions beside them."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestError:
    """A video that ended in an error this run."""
    video: str
    error: str | None


@dataclass(frozen=True)
class IngestSummary:
    """One ingest run: the counts of WORK (all its videos) and of this run, with where the outputs are.

    `plan`, `stages`, `detectors` and `videos_per_node` are the last processing run's (a run that processed no
    video keeps those of the run before; `last_processing` then holds that run's counts): free-form records of
    the cluster and of stage costs, kept as run.json has them."""
    root: str
    work: str
    videos: int                         # rows of videos.parquet
    by_status: dict[str, int]           # status value -> rows
    faces: int                          # face crops in faces.parquet
    ok_videos_without_face: int
    processed_this_run: int
    resumed: int                        # videos finished by an earlier run
    retried: int                        # videos redone for a scheduling setting's error (timed out, worker died)
    changed: int                        # videos redone because their entry or file changed
    batches_written: int
    problems: tuple[str, ...]           # discovery's warnings (one line each)
    errors_this_run: tuple[IngestError, ...]
    timings: dict[str, float | None]    # seconds per phase; total_s always
    outputs: dict[str, str | None]      # videos, faces, run, timeline
    worker_restarts: int
    plan: dict
    stages: dict
    detectors: list
    videos_per_node: dict
    last_processing: dict | None
    record: dict                        # run.json, as written
    roots: tuple[dict, ...] = ()        # each ROOT of this run: {root, layout, datasets}
    datasets: dict | None = None        # {dataset: {status: n}} over WORK

    @property
    def total_s(self) -> float:
        return self.timings["total_s"]

    @classmethod
    def of(cls, record: dict) -> "IngestSummary":
        """The summary of a run.json record (as `ingest` writes it)."""
        return cls(
            root=record["root"], work=record["work"], videos=record["videos"], by_status=dict(record["by_status"]),
            faces=record["faces"], ok_videos_without_face=record["ok_videos_without_face"],
            processed_this_run=record["processed_this_run"], resumed=record["resumed"], retried=record["retried"],
            changed=record["changed"], batches_written=record["batches_written"],
            problems=tuple(record["problems"]),
            errors_this_run=tuple(IngestError(e["video"], e["error"]) for e in record["errors_this_run"]),
            timings=dict(record["timings"]), outputs=dict(record["outputs"]),
            worker_restarts=record["worker_restarts"], plan=record["plan"], stages=record["stages"],
            detectors=record["detectors"], videos_per_node=record["videos_per_node"],
            last_processing=record.get("last_processing"), record=record,
            roots=tuple(record.get("roots") or ()), datasets=record.get("datasets"))
