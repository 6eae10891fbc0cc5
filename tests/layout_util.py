"""Helpers of the dataset layout tests: a tiny synthetic corpus of a layout, and an ingest's rows."""
from __future__ import annotations

import json
from pathlib import Path

FIELDS = ("dataset", "label", "original", "method", "split", "identity", "source_identity")


def synth_layout(out: Path, layout: str, **kw) -> dict:
    """A tiny corpus of `layout` at OUT; its synth.json truth, {rel: truth}."""
    from dfprep.synth import SynthConfig
    from dfprep.synth.layouts import WRITERS, layout_names

    layout_names()
    cfg = SynthConfig(layout=layout, videos=kw.pop("videos", 7), ratio=kw.pop("ratio", "1:2"), duration=1.0,
                      fps=8, size=kw.pop("size", "160x120"), workers=2, **kw)
    WRITERS[layout](out, cfg)
    return json.loads((out / "synth.json").read_text())["videos"]


def by_video(entries) -> dict:
    return {e.video: e for e in entries}


def ingest_rows(root, tmp_path, work: Path | None = None, **kw) -> dict:
    """videos.parquet's rows by video after a face-less ingest of ROOT into `work` (default tmp_path/work)."""
    from dfprep.formats.work.videos import read_videos
    from dfprep.ingest.config import IngestConfig
    from dfprep.ingest.run import ingest

    work = work or tmp_path / "work"
    ingest(root, work, IngestConfig(faces=False, num_cpus=2, progress=False, **kw))
    return {r["video"]: r for r in read_videos(work).to_pylist()}


def check_truth(found: dict, truth: dict, ok) -> None:
    """Every file synth.json lists is found `ok` with every field its truth names (entries or rows)."""
    for rel, t in truth.items():
        e = found[rel]
        get = (lambda k: e[k]) if isinstance(e, dict) else (lambda k: getattr(e, k))
        assert get("status") == ok, (rel, get("status"), get("error"))
        for k, v in t.items():
            assert get(k) == v, (rel, k, get(k), v)
