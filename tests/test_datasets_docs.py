"""The README's Datasets table names every registered layout, and docs/formats.md every videos.parquet column."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_datasets_table_lists_every_layout():
    from dfprep.datasets.registry import LAYOUTS, layout_names

    layout_names()
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Datasets"):]
    section = section[:section.index("\n## ", 1) if "\n## " in section[1:] else len(section)]
    rows = [ln for ln in section.splitlines() if ln.startswith("| `")]
    named = {m for ln in rows for m in re.findall(r"`([a-z0-9-]+)`", ln.split("|")[1])}
    assert set(LAYOUTS) <= named, sorted(set(LAYOUTS) - named)


def test_formats_doc_describes_every_manifest_column():
    from dfprep.formats.work.videos import VIDEO_SCHEMA

    doc = (ROOT / "docs" / "formats.md").read_text()
    table = doc[doc.index("### `videos.parquet` columns"):doc.index("#### Decoders")]
    described = set(re.findall(r"^\| `([a-z_0-9]+)`", table, re.M)) | {
        c for ln in table.splitlines() for c in re.findall(r"`([a-z_0-9]+)`", ln.split("|")[1] if "|" in ln else "")}
    assert set(VIDEO_SCHEMA.names) <= described, sorted(set(VIDEO_SCHEMA.names) - described)
