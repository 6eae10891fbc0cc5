"""dfprep.shards: balanced, leak-free, augmented WebDataset shards of a face store, an index, and `verify`.

`make_shards(work, out, ShardsConfig(...))` writes them and returns a `summary.ShardsSummary`;
`verify_shards(shards, work)` lists what is wrong. The modules, in the order a run uses them:

- config: the settings; source: WORK's face store read without pixels (`load_crops`), and JPEGs per shard
- families, groups, grouping, balance: leak-free splits of whole families (or identity groups), REAL:FAKE balance
- datasets: several datasets in one cut (`--split official`, `--test-datasets`, named identities)
- samples: what a sample is (units, keys, json) and `ShardSpec`, the plan of one shard
- layout: `make_plan`, the plan of every shard, as a sequence of named steps
- tarstream, writer: the tar format and the plain core that writes one shard (a Ray task in run)
- run: `make_shards`; index: the run's own records (`_state.json`); summary: what a run reports; grow: growth
- verify, verify_work: `dfprep shards verify`; cli: the Typer commands

The SHARDS format (file names, members, index.json, wids, families.parquet) is `dfprep.formats.shards`;
`dfprep.augment` holds the seeded augmentations shared with analyze and the trainer. Imported lazily so that
`import dfprep.augment` does not pull in Ray or webdataset.
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
