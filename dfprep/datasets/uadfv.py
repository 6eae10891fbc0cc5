"""UADFV: 49 real videos and a face swap of each.

ROOT/real/NNNN.mp4 (REAL) and ROOT/fake/NNNN_fake.mp4 (FAKE made from real/NNNN.mp4). The dataset names no
method, so its fakes' method is `uadfv`; it has no official split and names no identities (families or face
embeddings group it). Recognised by a `fake/*_fake.mp4` beside `real/` (an image-folder dataset has real/ and
fake/ folders too, but no videos named so).
"""
from __future__ import annotations

import re

from dfprep.dataset import Status, VideoEntry, dataset_part
from dfprep.datasets.base import DiscoverOptions, Found, Layout
from dfprep.datasets.common import list_tree
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries

DATASET = "uadfv"
METHOD = "uadfv"
REAL_RE = re.compile(r"^real/(\d+)\.mp4$")
FAKE_RE = re.compile(r"^fake/(\d+)_fake\.mp4$")
EXPECTED = "real/NNNN.mp4 or fake/NNNN_fake.mp4"


@register
class Uadfv(Layout):
    name = DATASET
    title = "UADFV"
    reads = "real/NNNN.mp4 and fake/NNNN_fake.mp4"
    splits = "none official: family or identity groups"
    identities = "none named; face embeddings (--group identity)"

    def match(self, root) -> str | None:
        root = as_path(root)
        if not ((root / "real").is_dir() and (root / "fake").is_dir()):
            return None
        fakes = [p.name for p, is_dir in entries(root / "fake") if not is_dir and p.name.endswith("_fake.mp4")]
        return f"real/ and fake/ folders, fake/ holding {fakes[0]}, ..." if fakes else None

    def discover(self, root, opts: DiscoverOptions) -> Found:
        part = dataset_part(DATASET)
        tree = list_tree(root, {".mp4"}, opts.follow_symlinks)
        found = Found(self.name, str(root), "", [], list(tree.problems))
        for rel in tree.files:
            if m := REAL_RE.match(rel):
                e = tree.entry(rel, DATASET, part, label="REAL")
            elif m := FAKE_RE.match(rel):
                original = f"real/{m.group(1)}.mp4"
                e = tree.entry(rel, DATASET, part, label="FAKE", original=original, method=METHOD)
                if original not in tree.files:
                    e.warning = f"its original {original} is not in {root}"
            else:
                e = VideoEntry(rel, part, dataset=DATASET, status=Status.REJECTED,
                               error=f"not a UADFV video path (expected {EXPECTED}); never opened")
            found.entries.append(e)
        return found
