"""On-disk formats: one module per format (work, shards, run) owning its names, schema, writer and typed reader.

work/ is WORK (`dfprep ingest`'s output), shards is SHARDS (`dfprep shards`), run is RUN (`dfprep train`).
Every other module reads and writes these folders through them; docs/formats.md describes the files.
"""
