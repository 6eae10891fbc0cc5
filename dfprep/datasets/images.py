"""Image folders as seed-style image datasets come: class folders `real`/`fake` (any case), directly in ROOT or
under split folders `train`, `valid`/`validation`/`val` (-> val) and `test` (any case). Each image
(`dfprep.dataset.IMAGE_EXTS`, any depth below its class folder) is one "video" of one frame; ingest decodes it.

The dataset is named after ROOT's folder (lower case, other characters as `-`; `images` when nothing is left).
An image outside any class folder is `unlisted` (no label). No originals, methods or identities.
"""
from __future__ import annotations

import re

from dfprep.dataset import DATASET_RE, IMAGE_EXTS, Status, VideoEntry, dataset_part
from dfprep.datasets.base import DiscoverOptions, Found, Layout
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries

CLASSES = {"real": "REAL", "fake": "FAKE"}
SPLIT_FOLDERS = {"train": "train", "valid": "val", "validation": "val", "val": "val", "test": "test"}


def dataset_name(folder_name: str, default: str = "images") -> str:
    """A folder's name as a dataset name (`dfprep.dataset.DATASET_RE`), or `default` when nothing usable is left."""
    name = re.sub(r"[^a-z0-9._-]+", "-", folder_name.lower()).lstrip("._-")[:64].rstrip("-")
    return name if DATASET_RE.match(name) else default


def _class_folders(root) -> list[tuple[str, str | None, str]]:
    """(rel folder, split or None, label) of every class folder, in ROOT or one split folder down."""
    found = []
    for p, is_dir in entries(root):
        if not is_dir:
            continue
        low = p.name.lower()
        if low in CLASSES:
            found.append((p.name, None, CLASSES[low]))
        elif low in SPLIT_FOLDERS:
            found += [(f"{p.name}/{c.name}", SPLIT_FOLDERS[low], CLASSES[c.name.lower()])
                      for c, d in entries(p) if d and c.name.lower() in CLASSES]
    return found


@register
class ImageFolders(Layout):
    name = "images"
    title = "Image folders (real/fake class folders)"
    reads = "images in real/ and fake/ class folders (any case), optionally under train/, valid(ation)/, val/, test/"
    splits = "the split folders (valid, validation -> val); none without them"
    identities = "none named; face embeddings (--group identity)"

    def match(self, root) -> str | None:
        root = as_path(root)
        if not root.is_dir():
            return None
        folders = _class_folders(root)
        if not folders:
            return None
        from dfprep.datasets.common import list_tree

        for rel, _, _ in folders:
            if list_tree(root, IMAGE_EXTS, under=rel).files:
                return f"image class folders {', '.join(r + '/' for r, _, _ in folders[:4])}"
        return None

    def discover(self, root, opts: DiscoverOptions) -> Found:
        from dfprep.datasets.common import list_tree

        root = as_path(root)
        dataset = dataset_name(root.name)
        part = dataset_part(dataset)
        tree = list_tree(root, IMAGE_EXTS, opts.follow_symlinks)
        folders = _class_folders(root)
        out: list[VideoEntry] = []
        for rel in tree.files:
            hit = next(((s, lab) for f, s, lab in folders if rel.startswith(f + "/")), None)
            if hit is None:
                out.append(VideoEntry(rel, part, dataset=dataset, status=Status.UNLISTED, path=str(root / rel),
                                      error="image outside any real/fake class folder: no label"))
                continue
            out.append(tree.entry(rel, dataset, part, label=hit[1], split=hit[0]))
        return Found(self.name, str(root), "", out, list(tree.problems))
