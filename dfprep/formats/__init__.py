"""On-disk formats: one module per format (work, shards, run) owning its names, schema, writer and typed reader."""
