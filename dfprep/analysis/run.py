"""`analyze(work)`: the library function behind `dfprep analyze` — stats.json, figures, index.html.

Order of work: read videos.parquet whole and the face store's small columns, compute every statistic into one
dict (stats.json), draw figures from that dict, fetch the few gallery crops, render the page from the same
dict. Outputs go to WORK/report/ (or --out), each written to a temporary name and renamed; index.html last.
"""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np

from dfprep.analysis import sections
from dfprep.analysis.faces import face_stats, video_labels
from dfprep.analysis.figures import make_figures
from dfprep.analysis.gallery import Gallery, build_gallery
from dfprep.analysis.health import health_stats
from dfprep.analysis.identity import identity_stats
from dfprep.analysis.html import esc, fmt, page
from dfprep.analysis.labels import label_stats, label_status_counts
from dfprep.analysis.lengths import format_stats
from dfprep.formats.work.names import report_dir
from dfprep.analysis.load import (AnalysisError, metadata_videos, read_run_json, read_videos,
                                  scan_faces, unfinished)
from dfprep.dataset import Status, table_family_roots
from dfprep.analysis.similarity import (crop_consecutive, cross_family_duplicates, fake_original_distances,
                                        fake_vs_original, frame_consecutive, original_codes)
from dfprep.analysis.datasets import dataset_stats, has_breakdown, named_identities
from dfprep.atomic import remove_stale_tmp, write_bytes, write_json
from dfprep.storage import as_path
from dfprep.progress import StepBar

SCHEMA = "dfprep.report/1"


def analyze(work: Path | None, out: Path | None = None, metadata_only_root: Path | None = None,
            gallery_size: int = 8, seed: int = 0, augment_preview: bool = True, shards: Path | None = None,
            progress: bool = False, allow_partial: bool = False) -> dict:
    """Build the report; returns the stats dict (as written to stats.json) with `outputs` added.

    metadata_only_root: a ROOT of dfdc_train_part_* folders or one metadata.json; only label and family
    statistics are computed and WORK need not exist (out defaults to WORK/report).
    shards: a SHARDS folder of this WORK; the identity section then reports identity leakage between its splits.
    progress: a bar over the steps (`STEPS`) on stderr.
    allow_partial: report on a WORK whose ingest did not finish (refused otherwise); stats.json says `partial`.
    """
    if work is None and out is None:
        raise AnalysisError("give a WORK folder or --out for the report")
    from dfprep.analysis.config import AnalyzeConfig
    from dfprep.options import check_declared

    check_declared(AnalyzeConfig(gallery_size=gallery_size, seed=seed, augment_preview=augment_preview,
                                 progress=progress, allow_partial=allow_partial), AnalysisError)
    with Steps(progress, META_STEPS if metadata_only_root is not None else STEPS) as steps:
        return _analyze(work, out, metadata_only_root, gallery_size, seed, augment_preview, shards, steps,
                        allow_partial)


def _analyze(work: Path | None, out: Path | None, metadata_only_root: Path | None, gallery_size: int, seed: int,
             augment_preview: bool, shards: Path | None, steps: "Steps", allow_partial: bool = False) -> dict:
    clock = Clock()
    out = as_path(out) if out is not None else report_dir(work)
    images: dict = {}
    if metadata_only_root is not None:
        videos, problems = metadata_videos(as_path(metadata_only_root))
        clock.lap("read")
        steps.next("statistics")
        stats = _base(videos, "metadata-only", {"metadata": str(as_path(metadata_only_root).resolve())}, problems)
        clock.lap("stats")
    else:
        partial = unfinished(as_path(work), allow_partial)
        stats, images = full_stats(as_path(work), gallery_size, seed, augment_preview, clock, shards=shards,
                                   steps=steps)
        stats["partial"] = partial is not None
        if partial:
            stats["partial_reason"] = partial
    steps.next("figures")
    figs = make_figures(stats)
    clock.lap("figures")
    stats["figures"] = {name: f"figures/{name}.png" for name in figs}
    stats["elapsed_s"] = clock.laps
    steps.next("page")
    html = render_page(stats, figs, images)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    (out / "figures").mkdir(exist_ok=True)
    for old in (out / "figures").glob("*.png"):
        if old.stem not in figs:
            old.unlink()
    for name, png in figs.items():
        write_bytes(out / "figures" / f"{name}.png", png)
    write_json(out / "stats.json", stats)
    write_bytes(out / "index.html", html.encode("utf-8"))
    return {**stats, "outputs": {"html": str(out / "index.html"), "stats": str(out / "stats.json"),
                                 "figures": str(out / "figures")}}


def _base(videos, mode: str, source: dict, problems: list[str], roots: dict | None = None) -> dict:
    labels = label_stats(videos, roots=roots)
    return {
        "schema": SCHEMA, "mode": mode,
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": {**source, "video_rows": videos.num_rows},
        "totals": {"videos": videos.num_rows, "REAL": labels["overall"]["REAL"], "FAKE": labels["overall"]["FAKE"],
                   "fake_share": labels["overall"]["fake_share"]},
        "videos_by_label_status": label_status_counts(videos),
        "labels": labels,
        "health": health_stats(videos, problems=problems),
    }


STEPS = ("read", "statistics", "faces", "identities", "gallery", "figures", "page")
META_STEPS = ("read", "statistics", "figures", "page")


class Steps:
    """The analyze bar: `next(name)` ends the step under way (and any skipped before `name`); the bar's text
    names the step now running."""

    def __init__(self, enabled: bool, names: tuple[str, ...]):
        self.names, self.i = names, 0
        self.bar = StepBar(enabled, len(names), "analyze", info=names[0])

    def next(self, name: str) -> None:
        j = self.names.index(name, self.i + 1)
        self.bar.advance(j - self.i, info=name)
        self.i = j

    def __enter__(self) -> "Steps":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.bar.advance(len(self.names) - self.i, info="done")
        self.bar.close(failed=exc_type is not None)


class Clock:
    """Seconds per phase (read, stats, gallery, figures) and the total so far, for stats.json and the bench."""

    def __init__(self) -> None:
        self.t0 = self.t = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self.t, 3)
        self.laps["total"] = round(now - self.t0, 3)
        self.t = now


def full_stats(work: Path, gallery_size: int = 8, seed: int = 0, augment_preview: bool = True,
               clock: Clock | None = None, shards: Path | None = None,
               steps: Steps | None = None) -> tuple[dict, dict]:
    """Every section from WORK; returns (stats, gallery images)."""
    clock = clock or Clock()
    steps = steps or Steps(False, STEPS)
    videos = read_videos(work)
    run = read_run_json(work)
    faces = scan_faces(work, videos)
    clock.lap("read")
    steps.next("statistics")
    roots = table_family_roots(videos)      # families once, over every row, as `dfprep shards` computes them
    stats = _base(videos, "full", {"work": str(work.resolve()), "face_rows": len(faces) if faces else 0},
                  list(run.problems) if run else [], roots)
    labels = video_labels(videos)
    stats["totals"].update(ok=int((np.array(videos.column("status").to_pylist(), dtype=object) == Status.OK.value).sum()),
                           faces=len(faces) if faces else 0)
    stats["lengths"] = format_stats(videos)
    orig = original_codes(videos)
    frames_sim, _ = frame_consecutive(videos, labels)
    distances = fake_original_distances(videos, faces, orig)
    stats["similarity"] = {"frames_consecutive": frames_sim,
                           "fake_vs_original": fake_vs_original(videos, faces, orig, distances=distances)}
    if has_breakdown(videos):
        stats.update(dataset_stats(videos, orig, distances[0], distances[2],
                                   faces is not None and faces_detected(videos)))
    images: dict = {}
    if faces is not None and faces_detected(videos):
        steps.next("faces")
        stats["faces"] = face_stats(videos, faces)
        stats["totals"]["videos_without_face"] = stats["faces"]["videos_without_face"]["count"]
        stats["similarity"]["crops_consecutive"], _ = crop_consecutive(faces, labels)
        stats["similarity"]["cross_family_duplicates"] = cross_family_duplicates(videos, faces, roots)
        steps.next("identities")
        stats["identity"] = identity_stats(work, videos, shards, roots=roots)
        clock.lap("stats")
        steps.next("gallery")
        g = build_gallery(videos, faces, orig, size=gallery_size, seed=seed, augment=augment_preview)
        clock.lap("gallery")
    else:
        stats["similarity"]["crops_consecutive"] = {"videos": 0, "by_label": {}, "histogram": {"edges": [],
                                                                                               "counts": {}}}
        stats["similarity"]["cross_family_duplicates"] = {"hashes": 0, "crops": 0, "families": 0, "groups": []}
        g = Gallery(meta={"samples": {}, "pairs": [], "augment": {"available": False,
                                                                  "reason": "no face store in WORK"}})
        clock.lap("stats")
    named = named_identities(videos)
    if named:
        stats.setdefault("identity", {"available": False, "note": "no identity embeddings: WORK has no face "
                                                                   "store, or was ingested with --no-faces"})
        stats["identity"]["named"] = named
    stats["gallery"] = g.meta
    images = g.images
    return stats, images


def faces_detected(videos) -> bool:
    """False for an ingest run with --no-faces (face columns all null)."""
    return videos.column("n_faces").null_count < videos.num_rows


def alarm_lines(stats: dict) -> dict[str, str]:
    """{card name: line} for totals that mean the WORK is unusable, shown as alarms above every section."""
    t = stats["totals"]
    if t.get("ok") == 0 and t["videos"]:
        return {"decoded ok": f"No video decoded: 0 of {t['videos']:,} videos are ok, so there is nothing to shard "
                              "or train on. The reasons are under Ingest health."}
    return {}


def render_page(stats: dict, figs: dict, images: dict) -> str:
    t = stats["totals"]
    cards = [("videos", t["videos"]), ("REAL", t["REAL"]), ("FAKE", t["FAKE"])]
    cards.append(("FAKE share", fmt(t["fake_share"], pct=True)))
    for k, name in (("ok", "decoded ok"), ("faces", "face crops"), ("videos_without_face", "ok videos, no face")):
        if k in t:
            cards.append((name, t[k]))
    alarms = alarm_lines(stats)
    card_html = '<div class="cards">' + "".join(
        f'<div class="card{" alarm" if k in alarms else ""}"><div class="v">{v if isinstance(v, str) else fmt(v)}'
        f'</div><div class="k">{esc(k)}</div></div>' for k, v in cards) + "</div>"
    card_html += "".join(f'<div class="alarm" role="alert"><b>{esc(line)}</b></div>' for line in alarms.values())
    parts = [("datasets", "Datasets", sections.datasets_section(stats, figs))] if "by_dataset" in stats else []
    parts += [("labels", "Labels", sections.labels_section(stats, figs)),
             ("health", "Ingest health", sections.health_section(stats, figs))]
    if "lengths" in stats:
        parts.append(("lengths", "Lengths and formats", sections.lengths_section(stats, figs)))
    if "faces" in stats:
        parts.append(("faces", "Faces", sections.faces_section(stats, figs)))
    if "similarity" in stats:
        parts.append(("similarity", "Frame similarity", sections.similarity_section(stats, figs)))
    if "identity" in stats:
        parts.append(("identity", "Identities", sections.identity_section(stats, figs)))
    if "gallery" in stats and stats["gallery"].get("samples") is not None:
        parts.append(("gallery", "Galleries", sections.gallery_section(stats, images)))
    body = card_html
    if stats.get("partial"):
        body += (f'<div class="warn" role="alert"><b>Partial WORK:</b> its ingest did not finish '
                 f'({esc(stats.get("partial_reason", ""))}); this report covers only what was written so far '
                 "(--allow-partial).</div>")
    if stats["mode"] == "metadata-only":
        body += ('<div class="warn">Metadata-only report: built from metadata.json before any video was decoded; '
                 "only label, family and listing statistics are shown.</div>")
    body += "".join(f'<section id="{a}"><h2>{esc(title)}</h2>{html}</section>' for a, title, html in parts)
    src = stats["source"]
    sub = esc(src.get("work") or src.get("metadata")) + f" · {esc(stats['mode'])} · {esc(stats['generated_at'])}"
    foot = (f"dfprep analyze · {esc(stats['schema'])} · every number on this page is in stats.json · built in "
            f"{fmt(stats['elapsed_s']['total'])} s (before writing)")
    return page("dfprep EDA report", sub, [(a, t) for a, t, _ in parts], body, foot)
