"""DFDC's training set: ROOT/dfdc_train_part_N/{metadata.json, *.mp4} (`dfprep.ingest.discover` reads it)."""
from __future__ import annotations

from dfprep.dataset import part_folders
from dfprep.datasets.base import DiscoverOptions, Found, Layout
from dfprep.datasets.registry import register
from dfprep.storage import as_path, entries


@register
class DfdcParts(Layout):
    name = "dfdc"
    title = "DFDC (training parts)"
    reads = "dfdc_train_part_N/metadata.json and its mp4s"
    splits = ("metadata says `train` throughout: --split official carves val from it by families; its test "
              "is the public test set (dfdc-test) or --test-datasets")
    identities = "none named; face embeddings (--group identity)"

    def match(self, root) -> str | None:
        found = part_folders(entries(as_path(root)))
        if not found:
            return None
        first = next(iter(found.values()))
        return f"{len(found)} dfdc_train_part_* folder{'s' if len(found) > 1 else ''} ({first.name}, ...)"

    def discover(self, root, opts: DiscoverOptions) -> Found:
        from dfprep.ingest.discover import discover

        entries_, problems = discover(root, set(opts.parts) if opts.parts is not None else None,
                                      follow_symlinks=opts.follow_symlinks)
        return Found(self.name, str(root), "", entries_, problems)
