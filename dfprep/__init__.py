"""dfprep: deepfake-detection video data, prepared.

Stages, each a package with a plain core, a thin Ray wrapper and a Typer command: synth (a synthetic corpus),
ingest (videos -> WORK), analysis (the report), shards (WORK -> SHARDS), train (SHARDS -> RUN), inference
(predict, evaluate, explain with a RUN). What passes between them is typed once: dataset (VideoEntry, Status,
families, clip windows), formats (WORK, SHARDS and RUN on disk), errors (UsageError, DataError, StoreError).
"""
