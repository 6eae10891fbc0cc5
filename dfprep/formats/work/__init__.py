"""WORK, the folder `dfprep ingest` writes, as one format: names (file and folder names, the error its readers
raise), videos (videos.parquet: schema, rows, reader), faces (faces.parquet: schema, rows, readers), batches
(batch files, the journal, `_batches` plans, the `_inputs` cache), runjson (run.json and _state.json). Every
other module reads and writes WORK through these."""
