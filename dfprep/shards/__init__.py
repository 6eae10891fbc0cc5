"""dfprep.shards: balanced, leak-free, augmented WebDataset shards of a face store, an index, and `verify`.

`make_shards(work, out, ShardsConfig(...))` writes them; `verify_shards(shards, work)` lists what is wrong;
`dfprep.augment` holds the seeded augmentations shared with analyze and the trainer.
Imported lazily so that `import dfprep.augment` does not pull in Ray or webdataset.
"""
from __future__ import annotations

__all__ = ["ShardsConfig", "ShardsUsageError", "make_shards", "verify_shards"]


def __getattr__(name: str):
    if name in ("ShardsConfig", "ShardsUsageError"):
        from dfprep.shards import config
        return getattr(config, name)
    if name == "make_shards":
        from dfprep.shards.run import make_shards
        return make_shards
    if name == "verify_shards":
        from dfprep.shards.verify import verify_shards
        return verify_shards
    raise AttributeError(f"module 'dfprep.shards' has no attribute {name!r}")
